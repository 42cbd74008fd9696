"""Every stock torch.nn layer the static policy allows goes the whole way: exported in training mode
(grader.worker.export, lowered to core ATen by grader.worker.lowering where needed), trained one step as the grader's
own module (ProgramModule), and measured through the derived program with the module's own eval-mode output.

The layers are chained a dozen to a model, so the whole file exports ten programs (about 10 s on a CPU). A layer the
grader cannot run exactly is refused at export with advice naming what to use instead (REFUSED below)."""

import pytest
import torch
from torch import nn

from grader import program, program_analysis
from grader.errors import SubmissionError
from grader.interpret import Program, tensors_from_file
from grader.trainer.program_module import ProgramModule
from grader.walls.policy import MEMBERS
from grader.worker.export import export_program

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each


class Pair(nn.Module):
    """Two maps from the image into a layer that takes two inputs (CosineSimilarity, PairwiseDistance, Bilinear)."""

    def __init__(self, layer: nn.Module, flat: bool):
        super().__init__()
        self.a, self.b, self.layer, self.flat = nn.Conv2d(1, 2, 3), nn.Conv2d(1, 2, 3), layer, flat
        self.head = nn.LazyLinear(10)

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        if self.flat:
            a, b = a.flatten(1)[:, :16], b.flatten(1)[:, :16]
        return self.head(self.layer(a, b).flatten(1))


def _conv(out=4, **kw):
    return nn.Conv2d(1, out, 3, padding=1, **kw)


# name -> (a model holding the layers, whether its training forward is deterministic)
MODELS = {
    "pooling": (lambda: nn.Sequential(
        _conv(), nn.MaxPool2d(3, 2, ceil_mode=True), nn.AdaptiveMaxPool2d(7), nn.MaxPool2d(3, 1, 1, dilation=1),
        nn.AvgPool2d(3, 1, 1, ceil_mode=True, count_include_pad=False), nn.Upsample(scale_factor=2),
        nn.AdaptiveAvgPool2d(4), nn.LPPool2d(2, 2), nn.UpsamplingNearest2d(scale_factor=2),
        nn.UpsamplingBilinear2d(scale_factor=2), nn.Upsample(size=7, mode="bilinear"), nn.AvgPool2d(2, ceil_mode=True),
        nn.AdaptiveMaxPool2d((2, None)), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 10)), True),
    "norms": (lambda: nn.Sequential(
        _conv(), nn.BatchNorm2d(4), nn.LayerNorm([4, 28, 28]), nn.GroupNorm(2, 4), nn.InstanceNorm2d(4),
        nn.InstanceNorm2d(4, affine=True), nn.LocalResponseNorm(2), nn.RMSNorm(28), nn.MaxPool2d(4), nn.Flatten(),
        nn.Unflatten(1, (4, 49)), nn.InstanceNorm1d(4), nn.BatchNorm1d(4), nn.Flatten(), nn.Linear(196, 10),
        nn.BatchNorm1d(10)), True),
    "activations": (lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.1), nn.PReLU(), nn.PReLU(4),
        nn.ELU(), nn.CELU(), nn.SELU(), nn.GELU(), nn.GELU("tanh"), nn.SiLU(), nn.Mish(), nn.Hardswish(),
        nn.Hardsigmoid(), nn.Hardtanh(), nn.Hardshrink(0.01), nn.Softshrink(0.01), nn.Tanhshrink(), nn.Softplus(),
        nn.Softsign(), nn.LogSigmoid(), nn.Sigmoid(), nn.Tanh(), nn.Threshold(0.0, 0.5), nn.Softmax2d(),
        nn.GLU(1), nn.Identity(), nn.Flatten(), nn.Linear(392, 10), nn.Softmin(1), nn.Softmax(1), nn.LogSoftmax(1)),
        True),
    "dropout": (lambda: nn.Sequential(
        _conv(), nn.Dropout2d(0.25), nn.Dropout(0.1), nn.Flatten(2), nn.Dropout1d(0.2), nn.Unflatten(2, (28, 28)),
        nn.Unflatten(1, (2, 2)), nn.Dropout3d(0.3), nn.Flatten(), nn.Linear(4 * 784, 10)), False),
    "convolutions": (lambda: nn.Sequential(
        _conv(padding_mode="reflect"), nn.Conv2d(4, 4, 3, padding=1, groups=2, padding_mode="circular"),
        nn.Conv2d(4, 4, 3, padding=2, dilation=2, padding_mode="replicate"), nn.ConvTranspose2d(4, 2, 2, stride=2),
        nn.MaxPool2d(4), nn.PixelUnshuffle(2), nn.ChannelShuffle(2), nn.PixelShuffle(2), nn.ZeroPad2d(1),
        nn.ReflectionPad2d(1), nn.ReplicationPad2d(1), nn.CircularPad2d(1), nn.ConstantPad2d(1, 0.0),
        nn.Unfold(2, stride=2), nn.Fold(24, 2, stride=2), nn.Flatten(2), nn.Conv1d(2, 4, 4, stride=4),
        nn.ConvTranspose1d(4, 2, 2, stride=2), nn.ReflectionPad1d(1), nn.ReplicationPad1d(1), nn.ZeroPad1d(1),
        nn.ConstantPad1d(1, 0.0), nn.MaxPool1d(2), nn.AvgPool1d(2), nn.LPPool1d(2, 2), nn.ConstantPad1d((0, 3), 0.0),
        nn.AdaptiveMaxPool1d(10), nn.AdaptiveAvgPool1d(5), nn.Flatten(), nn.LazyLinear(10)), True),
    "volumes": (lambda: nn.Sequential(
        _conv(), nn.Unflatten(1, (1, 4)), nn.Conv3d(1, 2, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(2),
        nn.InstanceNorm3d(2), nn.MaxPool3d((1, 2, 2)), nn.AvgPool3d((1, 2, 2)), nn.AdaptiveMaxPool3d((2, 7, 7)),
        nn.ConvTranspose3d(2, 2, (1, 2, 2), stride=(1, 2, 2)), nn.ReplicationPad3d(1), nn.ReflectionPad3d(1),
        nn.ConstantPad3d(1, 0.0), nn.ZeroPad3d(1), nn.LPPool3d(2, (1, 2, 2)), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
        nn.Linear(2, 10)), True),
    "similarity": (lambda: Pair(nn.CosineSimilarity(1), flat=False), True),
    "distance": (lambda: Pair(nn.PairwiseDistance(), flat=False), True),
}

# Allowed names that are not a layer to chain here, and layers refused with advice (test below): why, for each.
NOT_CHAINED = {
    "containers": "Module Sequential ModuleList ModuleDict ParameterList ParameterDict Parameter Buffer",
    "namespaces": "functional init",
    "losses (computed by the grader, never part of a model)": "CrossEntropyLoss NLLLoss MSELoss L1Loss SmoothL1Loss "
                                                              "HuberLoss BCELoss BCEWithLogitsLoss KLDivLoss",
    "sequence and attention layers (no use on a 28x28 image; RNN, LSTM and GRU export, in 2-13 s each)":
        "RNN LSTM GRU RNNCell LSTMCell GRUCell RNNBase RNNCellBase MultiheadAttention Transformer "
        "TransformerEncoder TransformerDecoder TransformerEncoderLayer TransformerDecoderLayer Embedding EmbeddingBag",
    "random training behaviour or running statistics beyond BatchNorm's: refused with advice":
        "RReLU FractionalMaxPool2d FractionalMaxPool3d AlphaDropout FeatureAlphaDropout MaxUnpool1d MaxUnpool2d "
        "MaxUnpool3d CrossMapLRN2d",
    "refused with advice: its operation (_trilinear) is outside the core opset": "Bilinear",
    "circular padding of other ranks (same lowering as CircularPad2d)": "CircularPad1d CircularPad3d",
}


def _chained_layer_names() -> set[str]:
    names = set()
    for build, _ in MODELS.values():
        names |= {type(m).__name__ for m in build().modules()}
    return names


def test_every_allowed_layer_is_chained_or_excused():
    excused = {n for names in NOT_CHAINED.values() for n in names.split()}
    assert MEMBERS["torch.nn"] - _chained_layer_names() - excused == set()


def _run_to_the_end(build, tmp_path, deterministic: bool):
    """Export, train one step as ProgramModule, derive the eval program and compare it with the module in eval."""
    torch.manual_seed(0)
    net = build()
    net(torch.randn(2, 1, 28, 28))  # gives lazy heads their shape
    export_program(net, torch.randn(8, 1, 28, 28), tmp_path)
    graph = program.read_graph(tmp_path / "graph.json")
    constants = tensors_from_file(tmp_path / "constants.bin", "cpu")
    module = ProgramModule(graph, constants, tensors_from_file(tmp_path / "initial.bin", "cpu"))
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    out = module.train()(x)
    if deterministic:  # the same training forward as the submission's module
        torch.testing.assert_close(out, net.train()(x), rtol=1e-4, atol=1e-5)
    nn.functional.cross_entropy(out, y).backward()
    for name, p in module.named_by_target().items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    torch.optim.SGD(module.parameters(), lr=0.1).step()
    state = dict(module.state_for_graph())
    with torch.no_grad():  # the trained state back into the submission's module, to compare the eval outputs
        for spec in graph.inputs:
            if spec.kind == "parameter":
                net.get_parameter(spec.target).copy_(state[spec.name])
            elif spec.kind == "buffer":
                net.get_buffer(spec.target).copy_(state[spec.name])
        measured = Program(program.derive_eval(graph), constants, torch.device("cpu")).run(state, x)
        torch.testing.assert_close(measured, net.eval()(x), rtol=1e-4, atol=1e-5)
    return graph


@pytest.mark.parametrize("name", MODELS)
def test_stock_layers_export_train_and_measure(name, tmp_path):
    build, deterministic = MODELS[name]
    _run_to_the_end(build, tmp_path, deterministic)


def test_lowered_layers_keep_their_names_and_rates(tmp_path):
    """AdaptiveMaxPool2d runs as a max pool and Dropout2d as a channel mask; the tables still name the layers."""
    graph = _run_to_the_end(lambda: nn.Sequential(_conv(8), nn.Dropout2d(0.25), nn.AdaptiveMaxPool2d(1),
                                                  nn.Flatten(), nn.Linear(8, 10)), tmp_path, deterministic=False)
    structure = program_analysis.with_analysis({}, graph)["structure"]
    assert [layer["type"] for layer in structure["layers"]][:3] == ["Conv2d", "Dropout2d", "AdaptiveMaxPool2d"]
    assert structure["dropout_rates"] == [0.25] and structure["global_pooling"]
    masks = [n for n in graph.nodes if n.target == "aten.full.default"]
    assert len(masks) == 1 and masks[0].args[0]["list"][1:] == [8, 1, 1]  # one draw per image and channel


REFUSED = {
    "AdaptiveMaxPool2d(5)": (lambda: nn.AdaptiveMaxPool2d(5), "multiple of its output size"),
    "InstanceNorm2d(track_running_stats)": (lambda: nn.InstanceNorm2d(4, track_running_stats=True),
                                            "track_running_stats"),
    "RReLU": (nn.RReLU, "nn.LeakyReLU"),
    "AlphaDropout": (lambda: nn.AlphaDropout(0.2), "use nn.Dropout"),
    "FractionalMaxPool2d": (lambda: nn.FractionalMaxPool2d(2, output_size=14), "use nn.MaxPool2d"),
    "Bilinear": (lambda: Pair(nn.Bilinear(16, 16, 4), flat=True), "nn.Bilinear"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_layers_the_grader_cannot_run_exactly_are_refused_with_advice(name, tmp_path):
    layer, advice = REFUSED[name]
    net = layer() if name == "Bilinear" else nn.Sequential(_conv(), layer(), nn.Flatten(), nn.LazyLinear(10))
    net(torch.randn(2, 1, 28, 28))
    with pytest.raises(SubmissionError, match=advice):
        export_program(net, torch.randn(8, 1, 28, 28), tmp_path)
