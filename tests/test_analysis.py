"""grader.worker.analysis: exact measurements of a model, checked against hand-computed answers."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.errors import SubmissionError
from grader.worker.analysis import receptive_field, structure, torchsummary_table


def count_parameters(model) -> int:
    """Trainable parameters, a shared module or tensor once (Module.parameters() yields each tensor once): the
    reference torchsummary's figure is checked against (the grader counts the exported program, grader.program)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


MODELS = Path(__file__).parent / "models"


def load_net(name):
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", MODELS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Net()


def step(rf, jump, kernel, stride=1, dilation=1):
    """The textbook recurrence: r_out = r_in + (k_eff - 1) * j_in, j_out = j_in * s."""
    return rf + (dilation * (kernel - 1) + 1 - 1) * jump, jump * stride


def table(report):
    return [(r.layer, r.size_in, r.size_out, r.rf_out, r.jump_out) for r in report.rows]


# ------------------------------------------------------------------------------------------ seed models


def test_seed000_parameters_and_receptive_field():
    net = load_net("seed000")
    assert count_parameters(net) == 11_312

    report = receptive_field(net)
    assert report.method == "fx" and report.warning is None
    assert table(report) == [
        ("convblock1.0 (Conv2d)", 28, 26, 3, 1),
        ("convblock2.0 (Conv2d)", 26, 24, 5, 1),
        ("convblock3.0 (Conv2d)", 24, 24, 5, 1),
        ("pool1 (MaxPool2d)", 24, 12, 6, 2),
        ("convblock4.0 (Conv2d)", 12, 10, 10, 2),
        ("convblock5.0 (Conv2d)", 10, 8, 14, 2),
        ("convblock6.0 (Conv2d)", 8, 6, 18, 2),
        ("convblock7.0 (Conv2d)", 6, 6, 22, 2),
        ("gap.0 (AvgPool2d)", 6, 1, 32, 12),
        ("convblock8.0 (Conv2d)", 1, 1, 32, 12),
    ]
    assert report.rows[7].padding == 1
    assert (report.rows[8].kernel, report.rows[8].stride) == (6, 6)
    assert report.rf_before_global_pool == 22
    assert report.rf_final == 32


def test_seed000_structure():
    s = structure(load_net("seed000"))
    assert (s.convs, s.convs_3x3, s.convs_1x1) == (8, 6, 2)
    assert s.batchnorm_after_conv == [True, True, False, True, True, True, True, False]
    assert s.bn_after_every_3x3 is True
    assert s.dropout_rates == [0.05] * 6 and s.max_dropout == 0.05
    assert s.global_pooling is True
    assert s.pools == 1
    assert s.linear_layers == [] and s.linear_params == 0
    assert s.layer_types == [
        "AvgPool2d", "BatchNorm2d", "Conv2d", "Dropout", "GlobalPool", "MaxPool2d", "ReLU",
    ]
    assert sum(layer.params for layer in s.layers) == 11_312
    first = s.layers[0]
    assert (first.name, first.type, first.params) == ("convblock1.0", "Conv2d", 144)
    assert first.detail == {
        "in_channels": 1, "out_channels": 16, "kernel": 3, "stride": 1,
        "padding": 0, "dilation": 1, "bias": False, "groups": 1,
        "multiply_adds": 16 * 9 * 26 * 26,  # 16 filters of 3x3 over one channel, at each of the 26x26 outputs
    }


def test_seed003_parameters_rf_and_structure():
    net = load_net("seed003")
    assert count_parameters(net) == 13_960
    report = receptive_field(net)
    assert [r.rf_out for r in report.rows] == [3, 5, 5, 6, 10, 14, 18, 22, 32, 32]
    assert (report.rf_before_global_pool, report.rf_final) == (22, 32)

    s = structure(net)
    assert s.batchnorm_after_conv == [True] * 7 + [False]  # every conv but the 1x1 head
    assert s.bn_after_3x3 == [True] * 6 and s.bn_after_every_3x3 is True  # the six 3x3 convs, not the 1x1s
    assert s.dropout_rates == [0.07, 0.07, 0.07, 0.05, 0.05, 0.05]
    assert s.max_dropout == 0.07


def test_seed003_torchsummary_agrees_and_leaves_the_model_alone():
    net = load_net("seed003").train()
    for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.uniform_(-1, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()

    text, total = torchsummary_table(net)
    receptive_field(net), structure(net)

    assert "Total params: 13,960" in text
    assert total == 13_960 == count_parameters(net)
    assert net.training  # the caller's mode is untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())  # training seeds stay reproducible


def test_missing_batchnorm_after_one_3x3():
    net = load_net("seed000")
    net.convblock5[2] = nn.Identity()
    s = structure(net)
    assert s.batchnorm_after_conv == [True, True, False, True, False, True, True, False]
    assert s.bn_after_every_3x3 is False


def test_reports_are_json_friendly():
    net = load_net("seed000")
    json.dumps(dataclasses.asdict(receptive_field(net)))
    json.dumps(dataclasses.asdict(structure(net)))


# ------------------------------------------------- functional pooling, residual branch, dilation, global ops


class ResidualNet(nn.Module):
    def __init__(self, global_op):
        super().__init__()
        self.global_op = global_op
        self.conv1 = nn.Conv2d(1, 8, 3)  # 28 -> 26
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
        self.dilated = nn.Conv2d(8, 16, 3, dilation=2)  # 13 -> 9
        self.head = nn.Conv2d(16, 10, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2)  # 26 -> 13
        x = x + self.branch(x)
        x = F.relu(self.dilated(x))
        x = self.head(x)
        if self.global_op == "mean":
            x = x.mean((2, 3))
        elif self.global_op == "torch.mean":
            x = torch.mean(x, dim=[2, 3])
        elif self.global_op == "F.adaptive":
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        else:
            x = self.gap(x).view(-1, 10)
        return F.log_softmax(x, dim=1)


@pytest.mark.parametrize(
    ("global_op", "label"),
    [
        ("mean", "mean (F)"),
        ("torch.mean", "mean (F)"),
        ("F.adaptive", "adaptive_avg_pool2d (F)"),
        ("module", "gap (AdaptiveAvgPool2d)"),
    ],
)
def test_functional_pool_residual_dilation_and_global_ops(global_op, label):
    rf, jump = step(1, 1, 3)  # conv1
    rf, jump = step(rf, jump, 2, stride=2)  # F.max_pool2d
    branch_rf, _ = step(*step(rf, jump, 3), 3)  # two padded 3x3 convs in the branch
    rf = max(rf, branch_rf)  # x + branch(x)
    rf, jump = step(rf, jump, 3, dilation=2)  # 13 -> 9
    before_gap = rf
    rf, jump = step(rf, jump, 9, stride=9)  # the global op spans the 9x9 map

    report = receptive_field(ResidualNet(global_op))
    assert report.method == "fx" and report.warning is None
    assert [r.layer for r in report.rows] == [
        "conv1 (Conv2d)", "max_pool2d (F)", "branch.0 (Conv2d)", "branch.2 (Conv2d)",
        "add (merge)", "dilated (Conv2d)", "head (Conv2d)", label,
    ]
    assert report.rows[5].dilation == 2 and report.rows[5].size_out == 9
    assert report.rf_before_global_pool == before_gap == 20
    assert report.rf_final == rf == 36

    s = structure(ResidualNet(global_op))
    assert s.global_pooling is True and "GlobalPool" in s.layer_types
    assert "MaxPool2d" in s.layer_types and s.pools == 1  # the functional pool counts as a MaxPool2d
    assert s.batchnorm_after_conv == [False] * 5


class PoolsNet(nn.Module):
    """Pooling spelled every way: tuple kernel module, torch.max_pool2d, F.avg_pool2d, AvgPool2d as GAP."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)  # 28 -> 26
        self.pool = nn.MaxPool2d(kernel_size=(2, 2))  # -> 13
        self.gap = nn.AvgPool2d(3)  # 3 -> 1: global

    def forward(self, x):
        x = self.pool(self.conv(x))
        x = torch.max_pool2d(x, 3, 2)  # 13 -> 6
        x = F.avg_pool2d(x, kernel_size=2)  # 6 -> 3
        return self.gap(x).flatten(1)


def test_pools_spelled_every_way():
    rf, jump = step(1, 1, 3)
    rf, jump = step(rf, jump, 2, stride=2)
    rf, jump = step(rf, jump, 3, stride=2)
    rf, jump = step(rf, jump, 2, stride=2)
    before = rf
    rf, jump = step(rf, jump, 3, stride=3)

    report = receptive_field(PoolsNet())
    assert [(r.layer, r.kernel, r.stride, r.size_out) for r in report.rows] == [
        ("conv (Conv2d)", 3, 1, 26), ("pool (MaxPool2d)", 2, 2, 13), ("max_pool2d (F)", 3, 2, 6),
        ("avg_pool2d (F)", 2, 2, 3), ("gap (AvgPool2d)", 3, 3, 1),
    ]
    assert (report.rf_before_global_pool, report.rf_final) == (before, rf) == (12, 28)
    s = structure(PoolsNet())
    assert s.pools == 3 and s.global_pooling is True
    assert s.layer_types == ["AvgPool2d", "Conv2d", "GlobalPool", "MaxPool2d"]


# ----------------------------------------------------------------------- reuse, fallback, Linear heads


class ReusedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)  # 80 params
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)  # 584 params, applied twice
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Conv2d(8, 10, 1)  # 90 params

    def forward(self, x):
        x = self.conv2(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return self.head(self.gap(x)).flatten(1)


def test_reused_module_counted_once_and_torchsummary_disagrees():
    net = ReusedNet()
    assert count_parameters(net) == 80 + 584 + 90
    _, summary_total = torchsummary_table(net)
    assert summary_total == 80 + 2 * 584 + 90  # torchsummary counts every call
    assert summary_total > count_parameters(net)

    s = structure(net)
    convs = [layer for layer in s.layers if layer.type == "Conv2d"]
    assert [c.params for c in convs] == [80, 584, 0, 90]
    assert convs[2].detail.get("repeat_call") is True
    assert receptive_field(net).rf_before_global_pool == 7  # 3, then +2 per 3x3 call


class ControlFlowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 10, 3)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.conv1(x)
        if x.sum() > 0:  # data-dependent: torch.fx cannot trace this
            x = F.relu(x)
        x = self.conv2(self.pool(x))
        return self.gap(x).flatten(1)


def test_untraceable_model_falls_back_to_hooks_with_a_warning():
    report = receptive_field(ControlFlowNet())
    assert report.method == "hooks"
    assert report.warning.startswith("model could not be traced with torch.fx (")
    assert "may be wrong for functional ops and branches" in report.warning
    assert table(report) == [
        ("conv1 (Conv2d)", 28, 26, 3, 1),
        ("pool (MaxPool2d)", 26, 13, 4, 2),
        ("conv2 (Conv2d)", 13, 11, 8, 2),
        ("gap (AdaptiveAvgPool2d)", 11, 1, 28, 22),
    ]
    assert (report.rf_before_global_pool, report.rf_final) == (8, 28)
    s = structure(ControlFlowNet())
    assert [layer.name for layer in s.layers] == ["conv1", "pool", "conv2", "gap"]
    assert s.convs == 2 and s.global_pooling is True


class LinearHeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * 13 * 13, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(F.relu(self.conv(x)))))


def test_flatten_linear_head_is_not_global_pooling():
    s = structure(LinearHeadNet())
    assert s.global_pooling is False
    assert s.linear_layers == [{"name": "fc", "in": 1352, "out": 10, "params": 13_530}]
    assert s.linear_params == 13_530
    assert "Linear" in s.layer_types and "GlobalPool" not in s.layer_types

    report = receptive_field(LinearHeadNet())
    assert report.rows[-1].layer == "fc (Linear)" and report.rows[-1].kernel == 13
    assert report.rf_before_global_pool == 4  # what the convolutions saw before the Linear mixed everything
    assert report.rf_final == 4 + 12 * 2  # the Linear sees the whole 13x13 map


# ------------------------------------------------------------------------------------------- failures


class ParamFreeNet(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


def test_torchsummary_failure_is_reported_not_raised():
    text, total = torchsummary_table(ParamFreeNet())
    assert text.startswith("torchsummary could not summarise this model: ")
    assert total is None
    assert count_parameters(ParamFreeNet()) == 0
    assert receptive_field(ParamFreeNet()).rf_final == 28


class BrokenNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        return self.fc(x)  # (2, 1, 28, 28) @ (10, 10): shape mismatch


def test_model_whose_forward_fails_is_a_submission_error():
    with pytest.raises(SubmissionError, match="forward pass failed"):
        receptive_field(BrokenNet())


# ------------------------------------------------------------------------ gates and global convs (issue 11)


class _SqueezeExcite(nn.Module):
    """28 -> conv3 -> 26 (RF 3) -> conv3 -> 24 (RF 5), gated by a squeeze-and-excitation branch,
    -> conv3 -> 22 (RF 7)."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(1, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 10, 3)
        self.fc1, self.fc2 = nn.Linear(8, 4), nn.Linear(4, 8)

    def forward(self, x):
        x = self.c2(self.c1(x).relu()).relu()
        gate = torch.sigmoid(self.fc2(self.fc1(x.mean((2, 3))).relu())).view(-1, 8, 1, 1)
        x = self.c3(x * gate)
        return x.mean((2, 3))


def test_a_channel_gate_keeps_the_maps_receptive_field_and_jump():
    """By hand: the gate scales channels (N, 8, 1, 1); the product is still the 24x24 map with RF 5 and jump 1,
    so c3 gives RF 5 + 2 = 7 before the final global pooling (the gate's own pooling is not the last)."""
    rf = receptive_field(_SqueezeExcite())
    assert rf.rf_before_global_pool == 7 and rf.where == "before global pooling"
    assert rf.rf_final == 7 + (22 - 1) * 1  # the final pooling covers the 22x22 map at jump 1


class _GlobalConvHead(nn.Module):
    """28 -> conv3 -> 26 (RF 3) -> conv3 -> 24 (RF 5) -> a 24x24 conv to 10 channels: 1x1, a global operation."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.head = nn.Conv2d(1, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 10, 24)

    def forward(self, x):
        return self.head(self.c2(self.c1(x).relu()).relu()).flatten(1)


def test_a_conv_covering_its_whole_map_is_reported_as_the_global_operation():
    rf = receptive_field(_GlobalConvHead())
    assert rf.rf_before_global_pool == 5 and rf.where == "before the conv that covers the whole map"
    assert rf.rf_final == 5 + (24 - 1) * 1 == 28


class _NoGlobal(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3, stride=2), nn.Conv2d(4, 10, 3, stride=2)  # 28 -> 13 -> 6

    def forward(self, x):
        return self.c2(self.c1(x))[:, :, 3, 3]  # one position of the 6x6 map: nothing pools over the map


def test_without_a_global_operation_the_label_says_so():
    rf = receptive_field(_NoGlobal())
    assert rf.where == "at the output (no global pooling)" and rf.rf_before_global_pool == rf.rf_final
