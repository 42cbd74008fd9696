"""grader.program_analysis: the receptive field and structure the parent reads off the exported program are the
live model's (grader.worker.analysis, torch.fx) for every course model and the model zoo, and the hand-computed
answers for the geometry a student may write."""

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader import program_analysis
from grader.worker import analysis
from grader.worker.export import export_program
from tests import test_analysis as zoo

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each

ROOT = Path(__file__).resolve().parent.parent
# Every lesson stub that builds: one whose forward is still a TODO (raise NotImplementedError) has nothing to measure.
STUBS = [p for p in ROOT.glob("lessons/lesson*/model.py") if "NotImplementedError" not in p.read_text()]
COURSE_MODELS = sorted(
    [*ROOT.glob("solutions/lesson*/model.py"), *ROOT.glob("solutions/lesson*/hint_path.py"), *STUBS,
     *(ROOT / "tests" / "models").glob("*.py")]
)
ZOO = {
    "residual-mean": lambda: zoo.ResidualNet("mean"),
    "residual-torch.mean": lambda: zoo.ResidualNet("torch.mean"),
    "residual-F.adaptive": lambda: zoo.ResidualNet("F.adaptive"),
    "residual-module": lambda: zoo.ResidualNet("module"),
    "pools": zoo.PoolsNet,
    "reused": zoo.ReusedNet,
    "linear-head": zoo.LinearHeadNet,
    "parameter-free": zoo.ParamFreeNet,
    "squeeze-excite": zoo._SqueezeExcite,
    "global-conv": zoo._GlobalConvHead,
    "no-global": zoo._NoGlobal,
}


def load(path: Path) -> nn.Module:
    name = f"program_analysis_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and `from __future__ import annotations` look themselves up
    spec.loader.exec_module(module)
    return module.Net()


def exported(net: nn.Module, tmp_path):
    torch.manual_seed(0)
    return export_program(net, torch.randn(8, 1, 28, 28), tmp_path).graph


def assert_same_as_live(net: nn.Module, graph) -> None:
    """Every figure, row, label and flag of both reports; only `method` says where they came from."""
    live_rf, live_structure = analysis.receptive_field(net), analysis.structure(net)
    rf, structure = program_analysis.receptive_field(graph), program_analysis.structure(graph)
    assert (live_rf.method, rf.method) == ("fx", "program")
    assert dataclasses.replace(rf, method="fx") == live_rf
    assert structure == live_structure


@pytest.mark.parametrize("path", COURSE_MODELS, ids=lambda p: str(p.relative_to(ROOT)))
def test_course_models_measure_as_the_live_model(path, tmp_path):
    net = load(path)
    assert_same_as_live(net, exported(net, tmp_path))


@pytest.mark.parametrize("name", ZOO)
def test_the_model_zoo_measures_as_the_live_model(name, tmp_path):
    net = ZOO[name]()
    assert_same_as_live(net, exported(net, tmp_path))


# --------------------------------------------------------------------------------------- by hand


def step(rf, jump, kernel, stride=1, dilation=1):
    return zoo.step(rf, jump, kernel, stride, dilation)


class _Geometry(nn.Module):
    """Padding, F.max_pool2d in forward, a stride-2 conv, a dilated depthwise conv, an AvgPool2d, a 1x1 head, GAP."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)  # 28 -> 28
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)  # 14 -> 7
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8, bias=False)  # 7 -> 7
        self.avg = nn.AvgPool2d(2, stride=1)  # 7 -> 6
        self.head = nn.Conv2d(8, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 28 -> 14
        x = self.avg(self.dw(F.relu(self.conv2(x))))
        x = F.max_pool2d(x, kernel_size=1)  # a second functional pool: fx calls it max_pool2d_1
        return F.log_softmax(self.gap(self.head(x)).flatten(1), dim=1)


@pytest.fixture(scope="module")
def geometry(tmp_path_factory):
    return exported(_Geometry(), tmp_path_factory.mktemp("geometry"))


def test_geometry_by_hand(geometry):
    rf, jump = step(1, 1, 3)  # conv1, padding 1: 28 -> 28
    rf, jump = step(rf, jump, 2, stride=2)  # F.max_pool2d: 14
    rf, jump = step(rf, jump, 3, stride=2)  # conv2: 7
    rf, jump = step(rf, jump, 3, dilation=2)  # depthwise, dilated: k_eff 5
    rf, jump = step(rf, jump, 2)  # AvgPool2d(2, stride 1): 6
    before = rf
    final, _ = step(rf, jump, 6, stride=6)  # GAP over the 6x6 map
    assert (before, final, jump) == (28, 48, 4)

    report = program_analysis.receptive_field(geometry)
    assert zoo.table(report) == [
        ("conv1 (Conv2d)", 28, 28, 3, 1),
        ("max_pool2d (F)", 28, 14, 4, 2),
        ("conv2 (Conv2d)", 14, 7, 8, 4),
        ("dw (Conv2d)", 7, 7, 24, 4),
        ("avg (AvgPool2d)", 7, 6, 28, 4),
        ("max_pool2d_1 (F)", 6, 6, 28, 4),
        ("head (Conv2d)", 6, 6, 28, 4),
        ("gap (AdaptiveAvgPool2d)", 6, 1, 48, 24),
    ]
    assert [(r.padding, r.dilation) for r in report.rows[:4]] == [(1, 1), (0, 1), (1, 1), (2, 2)]
    assert (report.rf_before_global_pool, report.rf_final, report.where) == (before, final, "before global pooling")
    assert report.method == "program" and report.warning is None


def test_geometry_structure_by_hand(geometry):
    s = program_analysis.structure(geometry)
    assert (s.convs, s.convs_3x3, s.convs_1x1, s.pools) == (4, 3, 1, 3)
    assert s.global_pooling is True and s.batchnorm_after_conv == [False] * 4
    assert s.layer_types == ["AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "GlobalPool", "MaxPool2d", "ReLU"]
    dw = next(layer for layer in s.layers if layer.name == "dw")
    assert dw.params == 8 * 9  # one 3x3 filter per channel, no bias
    assert dw.detail == {"in_channels": 8, "out_channels": 8, "kernel": 3, "stride": 1, "padding": 2,
                         "dilation": 2, "bias": False, "groups": 8,
                         "multiply_adds": 8 * 9 * 7 * 7}  # one 3x3 filter a channel, at each of its 7x7 outputs
    assert sum(layer.params for layer in s.layers) == 80 + 584 + 72 + 90


class _FlatHead(nn.Module):
    """A stride-2 conv (28 -> 13), BatchNorm, Dropout(0.1), then a Linear on the flattened 13x13 map."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, bias=False)
        self.bn, self.drop = nn.BatchNorm2d(4), nn.Dropout(0.1)
        self.fc = nn.Linear(4 * 13 * 13, 10)

    def forward(self, x):
        return self.fc(self.drop(self.bn(F.relu(self.conv(x)))).view(x.size(0), -1))


@pytest.fixture(scope="module")
def flat_head(tmp_path_factory):
    return exported(_FlatHead(), tmp_path_factory.mktemp("flat_head"))


def test_a_linear_on_the_flattened_map_is_the_global_op(flat_head):
    graph = flat_head
    report = program_analysis.receptive_field(graph)
    assert report.rows[-1].layer == "fc (Linear)" and (report.rows[-1].kernel, report.rows[-1].stride) == (13, 13)
    assert report.rf_before_global_pool == 3 and report.where == "before the Linear on the flattened map"
    assert report.rf_final == step(3, 2, 13)[0] == 27

    s = program_analysis.structure(graph)
    assert s.global_pooling is False and s.batchnorm_after_conv == [True] and s.bn_after_every_3x3 is True
    assert s.dropout_rates == [0.1] and s.max_dropout == 0.1
    assert s.linear_layers == [{"name": "fc", "in": 676, "out": 10, "params": 6_770}] and s.linear_params == 6_770


def test_a_squeeze_and_excitation_gate_keeps_the_numbers_and_is_named(tmp_path):
    """The live analysis's figures (RF 7 before the final pooling, 28 after), and the note saying what was done."""
    report = program_analysis.receptive_field(exported(zoo._SqueezeExcite(), tmp_path))
    assert (report.rf_before_global_pool, report.rf_final) == (7, 28)
    assert report.warning == (
        "mul (merge) applies a gate computed from the whole map by mean (F) (squeeze-and-excitation, attention): "
        "treated as not widening the receptive field, which stays 5; the gate's literal field is 28")
    assert analysis.receptive_field(zoo._SqueezeExcite()).warning == report.warning


def test_with_analysis_replaces_the_workers_figures(flat_head):
    graph = flat_head
    claimed = {"file": "model.py", "rf": {"rf_before_global_pool": 99}, "structure": {"layer_types": ["Magic"]},
               "torchsummary": {"text": "kept", "total": 1}}
    report = program_analysis.with_analysis(claimed, graph)
    assert report["rf"] == dataclasses.asdict(program_analysis.receptive_field(graph))
    assert report["structure"] == dataclasses.asdict(program_analysis.structure(graph))
    assert report["torchsummary"] == claimed["torchsummary"] and report["file"] == "model.py"


def test_the_program_analysis_needs_no_torch():
    code = "import sys, grader.program_analysis; assert not [m for m in sys.modules if m.split('.')[0] == 'torch']"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


class BatchNorm2d(nn.Module):
    """Borrows the name of a layer a lesson requires, and only applies a ReLU."""

    def forward(self, x):
        return F.relu(x)


class ReLU(nn.Module):
    """Borrows a harmless name for a Linear, which lessons 5 and 7 forbid."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(10, 4))

    def forward(self, x):
        return F.linear(x, self.w)


class _Borrowed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.head = nn.Conv2d(1, 4, 3), BatchNorm2d(), ReLU()

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).mean((2, 3)))


def test_a_class_name_is_not_a_layer_the_operations_are(tmp_path):
    """The layer types the criteria judge come from the operations; a class called BatchNorm2d that applies a ReLU
    is a ReLU, and a class called ReLU that applies a Linear is a Linear, as the live analysis (which traces
    through the student's classes) also says."""
    s = program_analysis.structure(exported(_Borrowed(), tmp_path))
    assert s.layer_types == ["Conv2d", "GlobalPool", "Linear", "ReLU"] == analysis.structure(_Borrowed()).layer_types
    assert s.batchnorm_after_conv == [False]
    assert s.linear_layers == [{"name": "head", "in": 4, "out": 10, "params": 40}]  # its weight, read by F.linear


class _Separable(nn.Module):
    """A full 3x3, a depthwise 3x3 and its 1x1, a shared conv run twice, and a Linear head: multiply-adds by hand."""

    def __init__(self):
        super().__init__()
        self.full = nn.Conv2d(1, 8, 3)                    # 26x26x8 outputs, 9 each
        self.depthwise = nn.Conv2d(8, 8, 3, groups=8)     # 24x24x8 outputs, 9 each (one channel per filter)
        self.pointwise = nn.Conv2d(8, 16, 1)              # 24x24x16 outputs, 8 each
        self.shared = nn.Conv2d(16, 16, 3, padding=1, bias=False)  # 12x12x16 outputs, 144 each, run twice
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(self.pointwise(self.depthwise(self.full(x))), 2)
        x = self.shared(F.relu(self.shared(x)))  # back to back, the program would read one call of "shared"
        return self.head(x.mean((2, 3)))


def test_multiply_adds_per_image_are_counted_per_call_and_per_group(tmp_path):
    net = _Separable()
    by_hand = 26 * 26 * 8 * 9 + 24 * 24 * 8 * 9 + 24 * 24 * 16 * 8 + 2 * 12 * 12 * 16 * 144 + 16 * 10
    graph = exported(net, tmp_path)
    assert program_analysis.structure(graph).multiply_adds == by_hand
    assert analysis.structure(net).multiply_adds == by_hand  # the live model's figure, the same code after the ops
    costs = {layer.name: layer.detail.get("multiply_adds") for layer in program_analysis.structure(graph).layers}
    assert costs["depthwise"] == 24 * 24 * 8 * 9 and costs["head"] == 160
