"""The grader draws the initial state (grader.trainer.init): a model on torch's defaults starts bit-identical to
`torch.manual_seed(seed); Net()`, and nothing else the submission computed reaches the trainer."""

import functools
import importlib.util
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader import program
from grader.errors import SubmissionError
from grader.trainer import init
from grader.worker import export

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted(ROOT.glob("solutions/lesson*/model.py")) + sorted((ROOT / "tests" / "models").glob("*.py"))
MNIST = (2, 1, 28, 28)


def train_graph(model: nn.Module, shape=MNIST) -> program.Graph:
    """The training-mode program, converted as grader.worker.export's `_graph` does (buffer mutations allowed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(model.train(), (torch.randn(shape),), strict=False).run_decompositions()
    kinds = {s.arg.name: (export._KINDS[s.kind.name], s.target) for s in ep.graph_signature.input_specs}
    inputs, nodes, output = [], [], None
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            kind, target = kinds[node.name]
            val = node.meta["val"]
            inputs.append(program.GraphInput(node.name, kind, target, tuple(val.shape), export._dtype(val.dtype)))
        elif node.op == "call_function":
            nodes.append(program.GraphNode(node.name, export.op_name(node.target),
                                           [export._encode(a) for a in node.args],
                                           {k: export._encode(v) for k, v in node.kwargs.items()}))
        elif node.op == "output":
            output = export._encode(node.args[0][-1])  # the user output follows the buffer mutations
    return program.Graph(inputs, nodes, output, shape[0])


def submitted(graph: program.Graph, model: nn.Module) -> dict[str, torch.Tensor]:
    """The values the submission built, by graph input name."""
    values = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers(remove_duplicate=False))
    return {i.name: values[i.target].detach().clone() for i in graph.inputs if i.kind in ("parameter", "buffer")}


def by_target(graph: program.Graph, state: dict) -> dict[str, torch.Tensor]:
    return {i.target: state[i.name] for i in graph.inputs if i.name in state}


def load(path: Path):
    name = f"init_model_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@functools.cache
def model_graph(path: Path):
    module = load(path)
    return module, train_graph(module.Net())


def built(cls, seed: int, *args) -> nn.Module:
    torch.manual_seed(seed)
    return cls(*args)


# ------------------------------------------------------------------------------------ bit-identity


@pytest.mark.parametrize("path", MODELS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_torch_defaults_start_bit_identical_to_net(path):
    """Every parameter and buffer torch's defaults gave Net() is drawn again, to the bit, for two seeds."""
    module, graph = model_graph(path)
    for seed in (0, 3):
        model = built(module.Net, seed)
        sub = submitted(graph, model)
        drawn = init.draw(graph, sub, seed, init.parse_scheme(getattr(module, "INIT", None)))
        assert set(drawn.state) == set(sub)
        replaced = [i.target for i in graph.inputs
                    if i.name in sub and not torch.equal(sub[i.name], drawn.state[i.name])]
        if path.stem in ("idioms_private_helpers", "idioms_type_compare"):  # their init loops: see the test below
            continue
        assert replaced == [] and drawn.notes == [] and drawn.carried == {}, (seed, replaced)


@pytest.mark.parametrize("stem, scheme", [
    ("idioms_private_helpers", {"conv": {"name": "kaiming_normal", "nonlinearity": "relu"}}),
    ("idioms_type_compare", {"conv": "xavier_uniform", "linear": {"name": "normal", "std": 0.01}}),
])
def test_declared_init_replays_the_students_init_loop(stem, scheme):
    """nn.init calls in __init__: the defaults replace them (and say so); INIT naming them gives their bits back."""
    module, graph = model_graph(ROOT / "tests" / "models" / f"{stem}.py")
    model = built(module.Net, 5)
    sub = submitted(graph, model)
    plain = init.draw(graph, sub, 5)
    assert any("your initial values" in note and "INIT" in note for note in plain.notes)
    declared = init.draw(graph, sub, 5, init.parse_scheme(scheme))
    assert all(torch.equal(sub[name], value) for name, value in declared.state.items())
    assert declared.notes == []


# ------------------------------------------------------------------------------------ knowledge brought in


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def teacher(shape, scale=0.5, seed=1234) -> torch.Tensor:
    """Values from elsewhere: spread like a trained conv's, not like torch's default."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale


class CopiesTeacher(Plain):
    def __init__(self):
        super().__init__()
        with torch.no_grad():
            self.conv1.weight.copy_(teacher(self.conv1.weight.shape))
            self.conv2.weight.copy_(teacher(self.conv2.weight.shape, 0.2))
            self.head.bias.copy_(torch.arange(10.0) / 10)


def test_weights_copied_in_are_redrawn_and_noted():
    graph = train_graph(CopiesTeacher())
    for seed in (0, 1):
        drawn = init.draw(graph, submitted(graph, built(CopiesTeacher, seed)), seed)
        clean = by_target(graph, submitted(graph, built(Plain, seed)))
        assert all(torch.equal(clean[t], v) for t, v in by_target(graph, drawn.state).items())
        noted = " ".join(drawn.notes)
        assert "conv1.weight" in noted and "conv2.weight" in noted and "head.bias" in noted
        assert "conv1.bias" not in noted and drawn.rules["conv1.weight"] == "torch default"


class TwoParameterTeacher(nn.Module):
    """A teacher T in the difference of two random parameters P and P + T, behind a gate that starts at zero."""

    def __init__(self, t: torch.Tensor):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(64, 10)
        self.p = nn.Parameter(torch.randn(10, 64))
        self.q = nn.Parameter(self.p.detach() + t)
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        f = F.adaptive_avg_pool2d(F.relu(self.conv(x)), 4).flatten(1)
        return self.head(f) + self.gate * (f @ (self.q - self.p).t())


def test_a_teacher_in_the_difference_of_two_parameters_is_not_carried():
    t1, t2 = teacher((10, 64), 0.3, 1), teacher((10, 64), 0.3, 2)
    graph = train_graph(TwoParameterTeacher(t1))
    names = {i.target: i.name for i in graph.inputs}
    p, q, gate = names["p"], names["q"], names["gate"]
    first = init.draw(graph, submitted(graph, built(TwoParameterTeacher, 0, t1)), 0)
    second = init.draw(graph, submitted(graph, built(TwoParameterTeacher, 0, t2)), 0)
    assert first.roles[p].kind == first.roles[q].kind == init.OTHER
    assert first.rules["p"].startswith("normal(") and first.rules["q"].startswith("normal(")
    for drawn, t in ((first, t1), (second, t2)):
        difference = (drawn.state[q] - drawn.state[p]).flatten()
        assert abs(float(torch.corrcoef(torch.stack([difference, t.flatten()]))[0, 1])) < 0.2
    # the teachers differ; what the grader drew differs only by q's two numbers (its mean and spread)
    assert torch.equal(first.state[p], second.state[p])
    assert torch.equal(first.state[gate], torch.zeros(())) and first.rules["gate"] == "kept fill 0"
    assert first.carried == {"p": 2, "q": 2, "gate": 1}


class Memory(nn.Module):
    def __init__(self, fill: bool):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.register_buffer("memory", torch.zeros(10, 4) if fill else torch.randn(10, 4))
        self.register_buffer("scale", torch.full((1,), 0.13071234))

    def forward(self, x):
        f = F.adaptive_avg_pool2d(F.relu(self.conv(x * self.scale)), 1).flatten(1)
        return f @ self.memory.t()


def test_a_buffer_starts_only_as_a_constant_fill():
    graph = train_graph(Memory(fill=True))
    with pytest.raises(SubmissionError, match="buffer memory starts with computed values"):
        init.draw(graph, submitted(graph, Memory(fill=False)), 0)
    drawn = by_target(graph, init.draw(graph, submitted(graph, Memory(fill=True)), 0).state)
    assert torch.equal(drawn["memory"], torch.zeros(10, 4))
    assert drawn["scale"].item() == pytest.approx(0.1307)  # a kept number keeps four significant digits


class Normed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 10, bias=False)
        with torch.no_grad():  # statistics and a scale computed elsewhere: storage the grader does not keep
            self.bn.running_mean.copy_(teacher((8,)))
            self.bn.running_var.copy_(teacher((8,)).abs() + 0.5)
            self.bn.num_batches_tracked.fill_(7)
            self.bn.weight.copy_(teacher((8,), seed=9))
            self.bn.bias.fill_(0.1)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(F.relu(self.bn(self.conv(x))), 1).flatten(1))


def test_batch_norm_statistics_reset_and_norm_layers_start_at_ones_and_zeros():
    graph = train_graph(Normed())
    drawn = init.draw(graph, submitted(graph, built(Normed, 0)), 0)
    state = by_target(graph, drawn.state)
    assert torch.equal(state["bn.running_mean"], torch.zeros(8)) and torch.equal(state["bn.running_var"], torch.ones(8))
    assert state["bn.num_batches_tracked"].item() == 0 and state["bn.num_batches_tracked"].dtype == torch.int64
    assert torch.equal(state["bn.weight"], torch.ones(8))
    assert torch.allclose(state["bn.bias"], torch.full((8,), 0.1)) and drawn.carried == {"bn.bias": 1}
    stats = {graph_input.target: kind for name, kind in init.norm_statistics(graph).items()
             for graph_input in graph.inputs if graph_input.name == name}
    assert stats == {"bn.running_mean": "running_mean", "bn.running_var": "running_var",
                     "bn.num_batches_tracked": "num_batches_tracked"}
    for target in ("bn.running_mean", "bn.running_var", "bn.num_batches_tracked", "bn.weight"):
        assert any(note.startswith(target + ":") for note in drawn.notes), target
    assert drawn.rules["head.weight"] == "torch default"


# ------------------------------------------------------------------------------------ declared schemes


class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 32, 3)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.conv(x), 1).flatten(1))


def test_declared_kaiming_normal_draws_its_law_deterministically_per_seed():
    graph = train_graph(Wide(), (2, 16, 8, 8))
    sub = submitted(graph, Wide())
    scheme = init.parse_scheme({"conv": "kaiming_normal", "bias": "zeros"})
    conv, fc_bias = (next(i.name for i in graph.inputs if i.target == t) for t in ("conv.weight", "fc.bias"))
    first, again, other = (init.draw(graph, sub, seed, scheme) for seed in (0, 0, 1))
    weights = first.state[conv]
    expected = math.sqrt(2 / (16 * 9))  # gain sqrt(2) (leaky_relu, a=0) over sqrt(fan_in)
    assert abs(float(weights.std()) / expected - 1) < 0.05 and abs(float(weights.mean())) < 0.1 * expected
    assert torch.equal(weights, again.state[conv]) and not torch.equal(weights, other.state[conv])
    assert torch.equal(first.state[fc_bias], torch.zeros(10))
    assert first.rules["conv.weight"] == "INIT conv: kaiming_normal" and first.rules["fc.weight"] == "torch default"


def test_parse_scheme_reads_names_and_checked_arguments():
    scheme = init.parse_scheme({"conv": {"name": "kaiming_normal", "mode": "fan_out", "nonlinearity": "relu"},
                                "other": {"name": "normal", "std": 0.02}})
    assert scheme.conv == init.Init("kaiming_normal", (("mode", "fan_out"), ("nonlinearity", "relu")))
    assert scheme.linear == init.Init() and init.parse_scheme(None) == init.InitScheme()
    assert scheme.to_dict()["conv"] == "kaiming_normal(mode='fan_out', nonlinearity='relu')"


@pytest.mark.parametrize("raw, words", [
    ({"conv": "he_normal"}, "allowed: default, kaiming_uniform"),
    ({"conv": "dirac"}, "is not a scheme the grader draws"),
    ({"bias": "xavier_uniform"}, "allowed: default, trunc_normal"),
    ({"colour": "zeros"}, "its keys are conv, linear, bias, other"),
    ({"conv": {"name": "kaiming_normal", "mode": "fan_sideways"}}, "cannot draw"),
    ({"conv": {"name": "normal", "gain": 2}}, "takes no argument 'gain'"),
    ({"conv": {"name": "normal", "std": [0.1]}}, "plain number or string"),
    ({"conv": {"name": "normal", "std": True}}, "plain number or string"),
    ({"conv": {"name": "default", "a": 1}}, "takes no arguments"),
    ({"conv": 3}, "a scheme's name"),
    ("kaiming_normal", "must be a dict"),
])
def test_a_bad_init_is_refused_with_what_is_allowed(raw, words):
    with pytest.raises(SubmissionError, match=words):
        init.parse_scheme(raw)


# ------------------------------------------------------------------------------------ hand-built programs


def graph_of(params: dict[str, tuple], nodes: list[tuple], output: str) -> program.Graph:
    """A program by hand: parameters by target, then (name, op, args) nodes; cheaper than an export."""
    inputs = [program.GraphInput(f"p_{t}", "parameter", t, shape, "float32") for t, shape in params.items()]
    inputs.append(program.GraphInput("x", "input", None, (2, 4), "float32"))
    return program.Graph(inputs, [program.GraphNode(n, op, args, {}) for n, op, args in nodes], {"node": output}, 2)


def ref(name: str) -> dict:
    return {"node": name}


def test_a_linear_layer_written_as_mm_and_add_is_found_through_views():
    graph = graph_of({"w": (3, 4), "b": (3,)}, [
        ("t", "aten.t.default", [ref("p_w")]),
        ("mm", "aten.mm.default", [ref("x"), ref("t")]),
        ("v", "aten.view.default", [ref("mm"), {"list": [2, 3]}]),
        ("add", "aten.add.Tensor", [ref("v"), ref("p_b")]),
    ], "add")
    roles = init.classify(graph)
    assert roles["p_w"] == init.Role(init.LINEAR_WEIGHT) and roles["p_b"] == init.Role(init.LINEAR_BIAS, "p_w")


def test_identities_are_kept_and_a_weight_used_untransposed_is_no_linear_layer():
    graph = graph_of({"eye": (4, 4), "dirac": (6, 2, 3, 3)}, [
        ("mm", "aten.mm.default", [ref("x"), ref("p_eye")]),  # x @ W: not nn.Linear's layout
        ("conv", "aten.convolution.default", [ref("mm"), ref("p_dirac"), None]),
    ], "conv")
    sub = {"p_eye": torch.eye(4) * 2, "p_dirac": nn.init.dirac_(torch.empty(6, 2, 3, 3), groups=3)}
    drawn = init.draw(graph, sub, 0)
    assert drawn.roles["p_eye"].kind == init.OTHER and drawn.roles["p_dirac"].kind == init.CONV_WEIGHT
    assert torch.equal(drawn.state["p_eye"], sub["p_eye"]) and drawn.rules["eye"] == "kept identity x2"
    assert torch.equal(drawn.state["p_dirac"], sub["p_dirac"]) and drawn.rules["dirac"] == "kept identity x1"


def test_many_small_tensors_cannot_carry_a_teacher_one_number_each():
    count = init.MAX_CARRIED + 1
    params = {f"s{k}": (1,) for k in range(count)}
    nodes = [(f"m{k}", "aten.mul.Tensor", [ref("x" if k == 0 else f"m{k - 1}"), ref(f"p_s{k}")]) for k in range(count)]
    graph = graph_of(params, nodes, f"m{count - 1}")
    sub = {f"p_s{k}": teacher((1,), seed=k) for k in range(count)}
    with pytest.raises(SubmissionError, match=f"keep {count} numbers of its own"):
        init.draw(graph, sub, 0)
    few = graph_of({f"s{k}": (1,) for k in range(3)}, nodes[:3], "m2")
    assert sum(init.draw(few, {f"p_s{k}": sub[f"p_s{k}"] for k in range(3)}, 0).carried.values()) == 3


def test_an_unused_layer_and_a_tied_one_keep_torchs_random_stream():
    """Layers the program never reads are drawn as torch drew them; a layer under two names is drawn once."""
    torch.manual_seed(4)
    conv, spare, shared, head = nn.Conv2d(1, 4, 3), nn.Linear(7, 5), nn.Linear(4, 4), nn.Linear(4, 10)
    layers = {"conv": conv, "spare": spare, "a": shared, "b": shared, "head": head}
    values = {f"{name}.{p}": getattr(layer, p).detach().clone()
              for name, layer in layers.items() for p in ("weight", "bias")}
    graph = graph_of({t: tuple(v.shape) for t, v in values.items()}, [
        ("c", "aten.convolution.default", [ref("x"), ref("p_conv.weight"), ref("p_conv.bias")]),
        ("t", "aten.t.default", [ref("p_b.weight")]),
        ("mm", "aten.addmm.default", [ref("p_b.bias"), ref("c"), ref("t")]),
        ("t2", "aten.t.default", [ref("p_head.weight")]),
        ("out", "aten.addmm.default", [ref("p_head.bias"), ref("mm"), ref("t2")]),
    ], "out")
    drawn = init.draw(graph, {f"p_{t}": v for t, v in values.items()}, 4)
    assert all(torch.equal(drawn.state[f"p_{t}"], v) for t, v in values.items())
    assert drawn.rules["spare.weight"] == "unused by the program" and drawn.rules["b.weight"] == "tied to a.weight"
