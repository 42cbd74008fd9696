"""grader.trainer.fused: the fx graph the grader writes from a training program computes what the program computes
(bit for bit, run eagerly), with the masks of its dropout sites passed in; compiled, it trains as the program does."""

import importlib.util

import pytest
import torch
from torch import nn

from grader import program
from grader.interpret import tensors_from_file
from grader.trainer import fused, speed
from grader.trainer.program_module import ProgramModule
from grader.worker.export import export_program
from tests.conftest import ROOT

CPU = torch.device("cpu")


def _module(lesson: str, tmp_path, **options) -> ProgramModule:
    spec = importlib.util.spec_from_file_location("fused_case", ROOT / "solutions" / lesson / "model.py")
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    torch.manual_seed(0)
    tmp_path.mkdir(parents=True, exist_ok=True)
    export_program(source.Net(), torch.zeros(8, 1, 28, 28), tmp_path)
    graph = program.read_graph(tmp_path / "graph.json")
    return ProgramModule(graph, tensors_from_file(tmp_path / "constants.bin", "cpu"),
                         tensors_from_file(tmp_path / "initial.bin", "cpu"), **options).train()


def _call(module: ProgramModule, gm, x, masks=()):
    inputs = module.inputs_for_step()
    return gm(*[inputs[s.name] if s.kind != "input" else x for s in module.graph.inputs], *masks)


def test_with_dropout_in_the_graph_it_computes_what_the_program_computes(tmp_path):
    module = _module("lesson6", tmp_path)
    gm, sites = fused.build(module.graph, CPU, masks_outside=False)
    assert sites == []
    x = torch.randn(16, 1, 28, 28)
    torch.manual_seed(3)
    out, *stats = _call(module, gm, x)
    torch.manual_seed(3)
    expected, env = module.program.run_with_env(module.inputs_for_step(), x)
    assert torch.equal(out, expected)
    assert len(stats) == len(module.graph.mutations) > 0
    for m, new in zip(module.graph.mutations, stats):
        assert torch.equal(new, env[m.value["node"]])


def test_masks_drawn_outside_are_the_ones_the_program_applies(tmp_path):
    module = _module("lesson6", tmp_path, fast_dropout=True)
    gm, sites = fused.build(module.graph, CPU, masks_outside=True)
    dropouts = [n for n in module.graph.nodes if n.target == program.DROPOUT_OP]
    assert [s.node for s in sites] == [n.name for n in dropouts]  # every dropout of the solution: constant p
    assert {s.p for s in sites} == {0.05, 0.07}
    x = torch.randn(16, 1, 28, 28)
    forward = fused.FusedForward(module, None, CPU)
    torch.manual_seed(5)
    masks = [speed.keep_mask(shape, s.p, x.dtype, x.device)
             for s, shape in zip(sites, forward._mask_shapes(module.inputs_for_step(), x))]
    out, *_ = _call(module, gm, x, masks)
    torch.manual_seed(5)  # the program's own draw (the trainer's fast dropout) takes the same masks in the same order
    assert torch.equal(out, module(x))


def test_a_dropout_keep_mask_cannot_draw_stays_in_the_graph():
    def node(p, train=True):
        return program.GraphNode("d", program.DROPOUT_OP, [{"node": "x"}, p, train], {}, "", "")

    assert fused._drawn_outside(node(0.1)) == 0.1
    assert fused._drawn_outside(node({"float": "0.25"})) == 0.25
    assert fused._drawn_outside(node(0.0)) is None  # no random mask at all
    assert fused._drawn_outside(node(1.0)) is None
    assert fused._drawn_outside(node(0.1, train=False)) is None
    assert fused._drawn_outside(node({"node": "p"})) is None  # a computed p


@pytest.mark.slow
def test_compiled_it_trains_as_the_program_does(tmp_path):
    eager = _module("lesson6", tmp_path / "a", fast_dropout=True)
    compiled = _module("lesson6", tmp_path / "b", fast_dropout=True)
    forward = fused.FusedForward(compiled, None, CPU)
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    for seed in (7, 8, 9):
        for module in (eager, compiled):
            module.zero_grad()
        for fn in (eager, forward):
            torch.manual_seed(seed)
            nn.functional.cross_entropy(fn(x), y).backward()
        ours = compiled.named_by_target()
        for name, p in eager.named_by_target().items():
            # Measured against the largest gradient of the tensor: on most masks the two agree to ~5e-5, but on some
            # (seed 7 here) the layers before the max-pool differ by up to ~1e-2 while every layer after it agrees to
            # 1e-7: compiled against eager kernels on the same graph and masks (the graph run eagerly matches the
            # interpreter, above). Cause not pinned down; likely a BatchNorm channel with little variance in a batch
            # of 32 amplifying inductor's reassociated sums. A wrong mask, op or order of masks moves the gradients
            # by their own size.
            scale = float(p.grad.abs().max())
            assert float((ours[name].grad - p.grad).abs().max()) <= 2e-2 * scale, (seed, name)
    for m in eager.graph.mutations:  # BatchNorm's running statistics moved the same way
        torch.testing.assert_close(getattr(compiled, m.buffer), getattr(eager, m.buffer))


@pytest.mark.slow
def test_only_the_first_batch_shape_is_compiled_and_a_smaller_last_batch_runs_eagerly(tmp_path):
    module = _module("lesson1", tmp_path, fast_dropout=True)
    forward = fused.FusedForward(module, None, CPU)
    compiled = forward.fn
    seen = []
    forward.fn = lambda *args: seen.append(len(args)) or compiled(*args)
    x = torch.randn(16, 1, 28, 28)
    forward(x)
    forward(x[:5])  # an epoch's last, smaller batch
    forward(x)
    assert forward.compiled_shape == (16, 1, 28, 28) and len(seen) == 2  # the small batch never reached the compiler
    torch.manual_seed(3)
    small = forward(x[:5])
    torch.manual_seed(3)
    assert torch.equal(small, module(x[:5]))  # it ran the program's own forward, with the same draws
