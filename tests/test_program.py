"""grader.program and the evaluator's interpreter: the exported program is counted by hand-worked rules, carries
no code, runs only ATen's core operations, and measures an honest model as the model measures itself."""

import json
import struct

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader import program
from grader.evaluator.main import evaluate
from grader.interpret import Program, resolve_op, tensors_from_file
from grader.mnist import normalize
from grader.program import ProgramError
from grader.trainer.recipe import Recipe
from grader.trainer.train import fit
from grader.worker.export import export_program, write_state

TOLERANCE = 0.05  # percentage points: 5 images in 10,000; kernels may differ by a rounding, never by more


class _Small(nn.Module):
    """conv 1->4 (3x3, 36 + 4), BatchNorm(4) (8 parameters + statistics), head Linear 4->10 (40 + 10)."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.head = nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 10)

    def forward(self, x):
        return self.head(F.relu(self.bn(self.conv(x))).mean((2, 3)))


def _export(model, tmp_path, batch=8):
    return export_program(model, torch.zeros(batch, 1, 28, 28), tmp_path)


def test_parameters_are_counted_by_hand_worked_rules(tmp_path):
    count = program.count_parameters(_export(_Small(), tmp_path).graph)
    assert count.parameters == 36 + 4 + 4 + 4 + 40 + 10
    assert count.norm_statistics == 4 + 4 + 1  # running mean, var and the step counter: free for a used BatchNorm
    assert count.buffers == count.constants == 0 and count.total == 98


class _Holds(_Small):
    """Plus a learning buffer (10) and a tensor kept in a list (10): both count."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.zeros(10))
        self.kept = [torch.zeros(10)]

    def forward(self, x):
        return super().forward(x) + self.shift + self.kept[0]


def test_buffers_are_parameters_and_held_tensors_embedded_numbers(tmp_path):
    count = program.count_parameters(_export(_Holds(), tmp_path).graph)
    # embedded: the list's 10 numbers, and BatchNorm's momentum, eps and its training step's `+ 1`
    assert (count.buffers, count.constants, count.embedded, count.total) == (10, 10, 10 + 3, 98 + 10)
    constants, _ = program.read_tensors(tmp_path / "constants.bin")
    assert program.count_parameters(_export(_Holds(), tmp_path).graph, constants).embedded == 1 + 3  # a fill: one


class _UnusedNorm(_Small):
    def __init__(self):
        super().__init__()
        self.spare = nn.BatchNorm2d(6)  # never called: its statistics are not the program's


def test_statistics_of_a_norm_the_program_does_not_use_count(tmp_path):
    count = program.count_parameters(_export(_UnusedNorm(), tmp_path).graph)
    assert count.total == 98 + 6 + 6 + 6 + 6 + 1  # its weight and bias, and its buffers, all counted


def test_a_graph_file_is_validated_before_anything_reads_it(tmp_path):
    exported = _export(_Small(), tmp_path)
    raw = json.loads((tmp_path / "graph.json").read_text())
    raw["nodes"][0]["args"][0] = {"node": "not_yet_computed"}
    with pytest.raises(ProgramError, match="not computed before it"):
        program.graph_from_dict(raw)
    with pytest.raises(ProgramError, match="not a course-graph/2 graph"):
        program.graph_from_dict({"format": "pickle"})
    assert program.read_graph(tmp_path / "graph.json").ops == exported.graph.ops


def test_tensor_files_are_checked_against_their_declared_sizes(tmp_path):
    path = tmp_path / "t.bin"
    program.write_tensors(path, [("w", "float32", (2, 2), bytes(16))])
    entries, _ = program.read_tensors(path)
    assert entries["w"][0].shape == (2, 2)
    header = json.dumps({"tensors": [{"name": "w", "dtype": "float32", "shape": [1000, 1000], "offset": 0,
                                      "nbytes": 4_000_000}]}).encode()
    path.write_bytes(program.TENSOR_MAGIC + struct.pack("<Q", len(header)) + header + bytes(16))
    with pytest.raises(ProgramError, match="does not match its declared size"):
        program.read_tensors(path)


def test_only_core_aten_operations_run():
    assert resolve_op("aten.convolution.default") is torch.ops.aten.convolution.default
    for name in ("aten.from_file.default", "aten.add_.Tensor", "os.system", "builtins.eval", "aten.nope.default"):
        with pytest.raises(ProgramError):
            resolve_op(name)


def test_a_state_of_another_shape_is_refused(tmp_path):
    model = _Small()
    exported = _export(model, tmp_path)
    prog = Program(exported.graph, tensors_from_file(tmp_path / "constants.bin", "cpu"), torch.device("cpu"))
    model.head = nn.Linear(4, 10)  # same shape: fine
    write_state(model, exported.graph, tmp_path / "state.bin", 1)
    tensors_from_file(tmp_path / "state.bin", "cpu")
    model.head = nn.Linear(4, 12)
    with pytest.raises(Exception, match="changed shape"):
        write_state(model, exported.graph, tmp_path / "state.bin", 1)
    del prog


def test_the_evaluator_measures_an_honest_model_as_the_model_measures_itself(tmp_path, train_split, test_split):
    """The proof that moving evaluation out of the worker changes no figure: same seed, CPU, within 0.05 %."""
    from grader.worker.submission import build, load
    from tests.conftest import SUBMISSIONS

    torch.manual_seed(0)
    model = build(load(SUBMISSIONS / "tiny.py"))  # 3,818 parameters with BatchNorm: a real small model
    example = normalize(train_split.images[:1000])
    exported = export_program(model, example, tmp_path)
    fit(model, Recipe(epochs=1, batch_size=128, optimizer={"name": "SGD", "lr": 0.05, "momentum": 0.9}),
        train_split.subset(6000), torch.device("cpu"), 0)
    write_state(model, exported.graph, tmp_path / "state-001.bin", 1)
    split = test_split.subset(3000)
    images = normalize(split.images)
    model.eval()
    with torch.no_grad():
        own = 100.0 * (model(images).argmax(1) == split.labels).float().mean().item()
    prog = Program(program.derive_eval(program.read_graph(tmp_path / "graph.json")),
                   tensors_from_file(tmp_path / "constants.bin", "cpu"), torch.device("cpu"))
    measured = evaluate(prog, tensors_from_file(tmp_path / "state-001.bin", "cpu"), images, split.labels).acc
    assert 80 < own < 100 and abs(measured - own) <= TOLERANCE, (own, measured)


# ------------------------------------------------------------------------------------------ embedded numbers


def _node(target, *args, **kwargs):
    return program.GraphNode(f"n{id(args)}", target, list(args), kwargs)


def _graph_of(nodes, inputs=()):
    image = program.GraphInput("x", "input", None, (8, 1, 28, 28), "float32")
    return program.Graph([*inputs, image], nodes, {"node": "x"}, 8)


def test_every_value_scalar_is_an_embedded_number_and_structure_is_not():
    x = {"node": "x"}
    nodes = [
        _node("aten.full.default", {"list": [8, 10]}, 7, dtype={"dtype": "float32"}),  # the fill: 1, the shape: 0
        _node("aten.mul.Scalar", x, 0.5),  # 1
        _node("aten.add.Tensor", x, 3, alpha=2),  # the other operand and alpha: 2
        _node("aten.scalar_tensor.default", 12345),  # 1
        _node("aten.sum.dim_IntList", x, {"list": [1]}, True),  # dims and a flag: 0
        _node("aten.slice.Tensor", x, 1, 0, 5),  # the dim: 0; the bounds: 2
        _node("aten.upsample_nearest2d.vec", x, None, {"list": [2.0, 2.0]}),  # 2
        _node("aten.clamp.default", x, {"float": "-inf"}, 1.0),  # 2
        _node("getitem", x, 0),  # picks an output: 0
    ]
    embedded = program.embedded_numbers(_graph_of(nodes))
    assert embedded.total == 1 + 1 + 2 + 1 + 2 + 2 + 2
    assert embedded.by_op["aten.add.Tensor"] == 2 and "aten.sum.dim_IntList" not in embedded.by_op


def test_embedded_numbers_beyond_the_allowance_count_and_a_table_is_refused():
    fills = [_node("aten.full.default", {"list": [1]}, i) for i in range(program.FREE_EMBEDDED + 40)]
    count = program.count_parameters(_graph_of(fills))
    assert (count.embedded, count.embedded_counted, count.total) == (program.FREE_EMBEDDED + 40, 40, 40)
    table = [_node("aten.full.default", {"list": [1]}, i) for i in range(program.MAX_EMBEDDED + 1)]
    with pytest.raises(ProgramError, match=r"carries 1,025 numbers .*limit 1,024; most in aten.full.default 1,025.*"
                                           r"nn.Parameter"):
        program.count_parameters(_graph_of(table))


def test_the_structural_argument_table_matches_torch_s_core_schemas():
    """Every int argument named as structure in ATen's core schemas is in the table, and nothing else is."""
    from grader.worker.export import op_name

    found = {}
    for name in dir(torch.ops.aten):
        packet = getattr(torch.ops.aten, name, None)
        if not isinstance(packet, torch._ops.OpOverloadPacket):
            continue
        for overload in packet.overloads():
            op = getattr(packet, overload)
            if torch.Tag.core not in op.tags or op._schema.is_mutable:
                continue
            positions = tuple(i for i, a in enumerate(op._schema.arguments) if not a.kwarg_only
                              and str(a.type) in ("int", "Optional[int]") and a.name in program.STRUCTURAL_INT_NAMES)
            if positions:
                found[op_name(op)] = positions
    assert found == program.STRUCTURAL_INT_ARGS


@pytest.mark.slow  # the slow tier: every lesson's solution exported twice
@pytest.mark.parametrize("lesson", [3, 6, 7])
def test_honest_programs_carry_few_embedded_numbers_in_either_mode(lesson, tmp_path):
    """The figures docs/security.md quotes: eval mode 10-20, training mode 15-30 (lessons 3, 6, 7 here)."""
    from grader.worker.submission import build, load
    from tests.conftest import ROOT

    model = build(load(ROOT / "solutions" / f"lesson{lesson}" / "model.py"))
    evaluated = program.count_parameters(program.derive_eval(_export(model, tmp_path).graph))
    trained = program.count_parameters(_training_graph(model))
    assert evaluated.embedded <= 20 and trained.embedded <= 30 and trained.embedded_counted == 0
    assert evaluated.total == trained.total == evaluated.parameters
    assert trained.norm_statistics == evaluated.norm_statistics > 0


def _training_graph(model) -> program.Graph:
    """The model's training-mode program in grader.program's terms (its user output only)."""
    from grader.worker import export

    ep = torch.export.export(model.train(), (torch.zeros(8, 1, 28, 28),), strict=False).run_decompositions()
    kinds = {s.arg.name: (export._KINDS[s.kind.name], s.target) for s in ep.graph_signature.input_specs}
    inputs = [program.GraphInput(n.name, *kinds[n.name], tuple(n.meta["val"].shape), "float32")
              for n in ep.graph.nodes if n.op == "placeholder"]
    nodes = [program.GraphNode(n.name, export.op_name(n.target), [export._encode(a) for a in n.args],
                               {k: export._encode(v) for k, v in n.kwargs.items()})
             for n in ep.graph.nodes if n.op == "call_function"]
    output = next(n for n in ep.graph.nodes if n.op == "output").args[0][-1]
    return program.Graph(inputs, nodes, {"node": output.name}, 8)


# ------------------------------------------------------------------------------------------ BatchNorm's exemption


def _bn(stats, name="bn", op=program.NORM_OPS[0]):
    """A BatchNorm node reading running statistics `stats` (two input names)."""
    return program.GraphNode(name, op, [{"node": "x"}, None, None, {"node": stats[0]}, {"node": stats[1]}, 0.1,
                                        1e-5], {})


def _buffer(name, width):
    return program.GraphInput(name, "buffer", name.replace("_", ".", 1), (width,), "float32")


def _param(name, shape):
    return program.GraphInput(name, "parameter", name, shape, "float32")


def test_a_parameter_without_elements_does_not_widen_the_statistics_cap():
    inputs = [_param("wide", (250_000, 0)), _param("w", (10, 4)), _buffer("bn_running_mean", 250_000),
              _buffer("bn_running_var", 250_000)]
    count = program.count_parameters(_graph_of([_bn(("bn_running_mean", "bn_running_var"))], inputs))
    assert count.norm_statistics == 0 and count.total == 40 + 500_000


def test_statistics_beyond_the_parameters_own_count_are_counted():
    inputs = [_param("w", (1024, 1))]
    nodes = []
    for k in range(5):  # five banks of 1,024 statistics pairs beside 1,024 weights
        inputs += [_buffer(f"bn{k}_running_mean", 1024), _buffer(f"bn{k}_running_var", 1024)]
        nodes.append(_bn((f"bn{k}_running_mean", f"bn{k}_running_var"), f"bn{k}"))
    count = program.count_parameters(_graph_of(nodes, inputs))
    assert (count.norm_statistics, count.norm_statistics_counted) == (1024, 10 * 1024 - 1024)
    assert count.total == 1024 + 9 * 1024 and "beyond the parameters' own count" in count.counted_buffers[-1]


def test_statistics_are_exempt_only_as_a_batch_norm_s_running_statistics():
    inputs = [_param("w", (64, 64)), _buffer("bn_running_mean", 64), _buffer("bn_running_var", 64),
              program.GraphInput("bn_nbt", "buffer", "bn.num_batches_tracked", (), "int64")]
    trained = _bn(("bn_running_mean", "bn_running_var"), op=program.NORM_OPS[1])
    step = program.GraphNode("step", "aten.add.Tensor", [{"node": "bn_nbt"}, 1], {})
    count = program.count_parameters(_graph_of([trained, step], inputs))
    assert count.norm_statistics == 129 and count.total == 64 * 64  # training mode: exempt, its counter too
    misuse = program.GraphNode("m", "aten.add.Tensor", [{"node": "x"}, {"node": "bn_running_mean"}], {})
    count = program.count_parameters(_graph_of([trained, step, misuse], inputs))
    assert count.norm_statistics == 64 + 1 and count.buffers == 64  # read as data: counted


# ------------------------------------------------------------------------------------------ the evaluator's bounds


def test_the_interpreter_frees_each_intermediate_after_its_last_use(tmp_path):
    prog = Program(program.derive_eval(_export(_Small(), tmp_path).graph), {}, torch.device("cpu"))
    freed = [name for names in prog.frees for name in names]
    assert len(freed) == len(set(freed)) and prog.graph.output["node"] not in freed
    assert {n.name for n in prog.graph.nodes} - {prog.graph.output["node"]} <= set(freed)
    assert 0 < prog.footprint.peak_bytes < 8 * 4 * 4 * 26 * 26 * 6  # never all of the batch's results at once


class _Blown(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)) + F.interpolate(x, scale_factor=40).mean((1, 2, 3))[:, None]


def test_a_program_too_big_for_its_batch_is_refused_before_it_runs(tmp_path):
    exported = _export(_Blown(), tmp_path, batch=2)
    with pytest.raises(ProgramError, match=r"would hold .* GiB at once for a batch of 2 images \(at upsample"):
        Program(exported.graph, {}, torch.device("cpu"))


def test_non_finite_rows_are_wrong_answers_and_the_loss_is_nan(tmp_path, test_split):
    model = _Small()
    exported = _export(model, tmp_path)
    write_state(model, exported.graph, tmp_path / "state.bin", 0)
    prog = Program(program.derive_eval(exported.graph), {}, torch.device("cpu"))  # BatchNorm on its statistics
    state = tensors_from_file(tmp_path / "state.bin", "cpu")
    images, labels = normalize(test_split.images[:40]), test_split.labels[:40]
    rest = evaluate(prog, state, images[5:], labels[5:])
    images[:5] = float("nan")
    poisoned = evaluate(prog, state, images, labels)
    assert rest.nonfinite == 0 and poisoned.nonfinite == 5 and poisoned.loss != poisoned.loss  # NaN
    assert round(poisoned.acc * 40) == round(rest.acc * 35)  # the five never count, whatever argmax picks


def test_the_secret_order_is_a_permutation_drawn_from_the_seed(test_split):
    from grader.evaluator.main import secret_order

    images, labels = normalize(test_split.images[:500]), test_split.labels[:500]
    a_images, a_labels = secret_order(images, labels, 7)
    b_images, b_labels = secret_order(images, labels, 7)
    c_images, _ = secret_order(images, labels, 8)
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    assert not torch.equal(a_images, images) and not torch.equal(a_images, c_images)
    assert sorted(a_labels.tolist()) == sorted(labels.tolist())


def test_evaluating_in_cpu_sized_batches_predicts_what_one_large_batch_does():
    from grader.evaluator.main import eval_batch_size

    assert eval_batch_size(torch.device("cpu")) < eval_batch_size(torch.device("cuda")) <= 1000
    torch.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 26 * 26, 10))
    model(torch.randn(64, 1, 28, 28))  # move BatchNorm's running statistics off their initial values
    model.eval()
    x = torch.randn(1000, 1, 28, 28)
    with torch.no_grad():
        whole = model(x)
        batch = eval_batch_size(torch.device("cpu"))
        chunks = torch.cat([model(x[i : i + batch]) for i in range(0, 1000, batch)])
    assert torch.allclose(whole, chunks, atol=1e-5) and torch.equal(whole.argmax(1), chunks.argmax(1))
