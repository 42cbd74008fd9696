"""grader.device: the parent refuses a device this machine surely lacks in one line, before any child starts, and
without importing torch; the children still resolve the device with torch (pick_device)."""

import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

from course import cli
from grader import device
from grader.errors import UsageError
from grader.host import grading
from tests.conftest import ROOT

SOLUTION = ROOT / "solutions" / "lesson1" / "model.py"


@pytest.fixture
def no_gpu(monkeypatch):
    """A CUDA build of torch on a Linux machine with no GPU device files: the case of issue 29."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(device.sys, "platform", "linux")
    monkeypatch.setattr(device, "_GPU_FILES", ("/nonexistent/nvidia[0-9]*",))
    monkeypatch.setattr(device, "_torch_gpu_builds", lambda: {"cuda": True, "hip": False})


def test_grade_on_a_machine_without_a_gpu_fails_in_one_line_before_any_child(no_gpu, monkeypatch):
    def no_child(*args, **kwargs):
        raise AssertionError("a child was started")

    monkeypatch.setattr(grading, "cold_start", no_child)
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["grade", str(SOLUTION), "--device", "cuda", "--quick", "--no-plot"])
    assert result.exit_code == 2, result.output
    assert time.perf_counter() - started < 3
    assert result.output.strip().splitlines() == [
        "error: --device cuda was asked for but no CUDA GPU is visible (no GPU device in /dev); use --device cpu "
        "or auto"]


@pytest.mark.parametrize("requested", ["auto", "cpu", None, "CPU"])
def test_the_cpu_and_auto_always_pass(requested, no_gpu):
    device.check_requested(requested)


@pytest.mark.parametrize("requested, fragment", [
    ("cuda", "no GPU device in /dev"),
    ("cuda:1", "no GPU device in /dev"),
    ("gpu", "unknown device 'gpu'"),
    ("xpu", "unknown device 'xpu'"),
    ("cuda:x", "unknown device 'cuda:x'"),
    ("mps", "MPS is only on Apple silicon Macs"),
])
def test_refused_requests(requested, fragment, no_gpu):
    with pytest.raises(UsageError, match=fragment):
        device.check_requested(requested)


def test_a_cpu_only_torch_or_hidden_gpus_are_reasons_too(monkeypatch):
    monkeypatch.setattr(device, "_torch_gpu_builds", lambda: {"cuda": False, "hip": False})
    with pytest.raises(UsageError, match="CPU-only build"):
        device.check_requested("cuda")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(UsageError, match="CUDA_VISIBLE_DEVICES hides every GPU"):
        device.check_requested("cuda:0")


def test_a_gpu_s_files_leave_the_decision_to_the_children(monkeypatch, tmp_path):
    (tmp_path / "nvidia0").touch()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(device, "_GPU_FILES", (str(tmp_path / "nvidia[0-9]*"),))
    monkeypatch.setattr(device, "_torch_gpu_builds", lambda: {"cuda": True, "hip": False})
    device.check_requested("cuda")  # undecided here: pick_device, in the child, has the last word


def test_the_build_is_read_as_torch_says_it():
    assert device._torch_gpu_builds() == {"cuda": torch.version.cuda is not None, "hip": torch.version.hip is not None}


def test_the_check_imports_no_torch():
    code = ("import sys; from grader.device import check_requested; check_requested('cpu'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
