"""The attack corpus (tests/attacks/): each bad submission ends in its own message and exit code, in bounded
time, with nothing written outside the worker's directory and no pass in the gradebook. Then the honest
numbers layer on its own: the integrity checks around training and the clean evaluator."""

import json
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from click.testing import CliRunner

from course import cli
from grader import api
from grader.worker import integrity
from grader.walls import policy
from grader.gradebook import store
from grader.mnist import Split
from grader.errors import CourseError, IntegrityError, PolicyError, SubmissionError
from grader.evaluator.evaluate import TOLERANCE, Evaluator, export_model, require_agreement
from grader.worker.recipe import Recipe
from grader.host.runner import WorkerError
from grader.worker.train import train
from tests.conftest import ROOT, SUBMISSIONS

ATTACKS = ROOT / "tests" / "attacks"
CANARY = Path("/tmp/course-attack-canary")  # where the attacks that write try to write

# Refused by the static policy, before any process starts: file -> (line, col, reason fragment).
STATIC = {
    "asks_for_input": (4, 10, "input() waits for a keyboard"),
    "cpp_extension": (2, 1, "import from 'torch.utils.cpp_extension' is not allowed"),
    "deletes_torch_function": (5, 5, "deleting F.cross_entropy changes an imported module or class (monkeypatching)"),
    "dunder_import": (4, 13, "the name __import__ is not allowed"),
    "embedded_weights": (4, 11, "a str literal of 5,336 bytes (limit 4,096): embedded data"),
    "eval_string": (4, 8, "eval() runs code from a string"),
    "exec_string": (4, 1, "exec() runs code from a string"),
    "exits_at_import": (4, 7, "SystemExit leaves the grader's process"),
    "frame_walk": (10, 17, "f_locals is not allowed: it reaches the grader's frames"),
    "getattr_computed": (5, 10, "getattr() with a computed attribute name"),
    "globals_builtins": (4, 10, "globals() exposes the module's internals"),
    "imports_os": (2, 1, "import of 'os' is not allowed"),
    "jit_load": (5, 11, "torch.jit.load: load is not allowed: it reads or writes files"),
    "metaclass": (5, 12, "type() reaches and can patch torch's classes"),
    "multiprocessing": (5, 1, "torch.multiprocessing: multiprocessing is not allowed: it starts processes"),
    "numpy_tofile": (5, 1, "tofile is not allowed: it reads or writes files"),
    "packed_integer": (4, 11, "an integer literal of 1023 bits (limit 64)"),
    "patches_eq_in_training": (23, 13, "assigning to torch.Tensor.__eq__ changes an imported module or class"),
    "patches_loss": (5, 1, "assigning to F.cross_entropy changes an imported module or class (monkeypatching)"),
    "patches_tensor_eq": (5, 1, "assigning to torch.Tensor.eq changes an imported module or class"),
    "patches_via_alias": (6, 1, "assigning to T.argmax changes an imported module or class"),
    "private_module_state": (9, 9, "attribute _buffers starts with an underscore"),
    "reads_test_labels": (4, 10, "open() reads and writes files"),
    "relative_import": (2, 1, "relative imports are not allowed"),
    "setattr_torch": (5, 1, "setattr() is only allowed on self"),
    "star_import": (2, 1, "`from torch import *` is not allowed"),
    "subclasses_escape": (4, 11, "dunder attributes such as __subclasses__"),
    "subprocess_from": (2, 1, "import from 'subprocess' is not allowed"),
    "tensor_subclass": (6, 17, "subclassing torch.Tensor is not allowed"),
    "torch_function_mode": (5, 8, "torch.overrides: overrides is not allowed: it intercepts every torch function"),
    "torch_hub": (5, 14, "load is not allowed"),
    "torch_load": (5, 9, "torch.load: load is not allowed: it reads or writes files"),
    "torch_ops_library": (5, 1, "torch.ops: ops is not allowed: it loads native operators"),
    "torch_private": (5, 1, "attribute _set_grad_enabled starts with an underscore"),
    "torch_save_outside": (5, 1, "torch.save: save is not allowed: it reads or writes files"),
    "type_hints_eval": (11, 1, "get_type_hints is not allowed: it evaluates strings as code"),
    "type_patch": (5, 1, "assigning to an attribute of a call's result (type(...).argmax)"),
    "utf7_cookie": (1, 1, "coding declaration 'utf-7'"),
}
# Pass the policy (on purpose) and are stopped at run time: file -> (error class, kind, message fragment, options).
RUNTIME = {
    "infinite_loop": (WorkerError, "worker", "timed out after 5 s", {"timeout": 5}),
    "huge_model": (SubmissionError, "submission", "23,850,010 parameters, more than 10x the limit of 20,000", {}),
    "pretrained_constants": (IntegrityError, "integrity",
                             "not trained from scratch: the untrained model already scores", {}),
    "foreign_optimizer": (IntegrityError, "integrity",
                          "the optimizer updates 1 tensor(s) that are not in model.parameters()", {}),
    "hidden_buffer": (IntegrityError, "integrity", "hidden parameters: buffer memory changed during training", {}),
    "memory_bomb": (SubmissionError, "submission", "Net() raised MemoryError", {}),
}
OTHER = {"prints_fake_event"}  # graded normally: the printed "pass" is only log text (tested below)
STATIC_SECONDS = 5  # a refusal never starts a process: milliseconds, with room for a loaded machine
RUNTIME_SECONDS = 180  # one quick grading at most, on a slow, busy CPU


def test_the_corpus_is_complete():
    files = {p.stem for p in ATTACKS.glob("*.py")}
    assert files == set(STATIC) | set(RUNTIME) | OTHER
    assert len(files) >= 20


@pytest.fixture
def sealed(tmp_path, monkeypatch):
    """A grading sealed off for inspection: its temp dirs, working dir and gradebook are known and start empty."""
    tmp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # the worker's and the evaluator's directories go here
    monkeypatch.chdir(cwd)
    CANARY.unlink(missing_ok=True)
    attacks_before = sorted(p.name for p in ATTACKS.iterdir())
    db = tmp_path / "gradebook.sqlite"
    yield db
    assert list(tmp.iterdir()) == [], "the worker's directory must be gone"
    assert list(cwd.iterdir()) == [], "nothing may be written where the grader was started"
    assert sorted(p.name for p in ATTACKS.iterdir()) == attacks_before, "nothing may land beside the submission"
    assert not CANARY.exists()


def _runs(db: Path) -> list[dict]:
    with store.opened(db) as conn:
        return store.runs(conn)


def _grade(name: str, db: Path, **options):
    return api.grade(ATTACKS / f"{name}.py", quick=True, device="cpu", plot=False, db=db, **options)


def _assert_recorded_error(db: Path, kind: str) -> None:
    runs = _runs(db)
    assert [r["status"] for r in runs] == ["error"] and runs[0]["error_kind"] == kind
    assert not any(r["status"] == "passed" for r in runs)


@pytest.mark.parametrize("name", sorted(STATIC))
def test_static_attacks_are_refused_before_anything_runs(name, sealed, monkeypatch):
    line, col, fragment = STATIC[name]
    monkeypatch.setattr("grader.host.runner.subprocess.Popen", _no_process)  # a refused file never runs
    started = time.perf_counter()
    with pytest.raises(PolicyError) as info:
        _grade(name, sealed)
    assert time.perf_counter() - started < STATIC_SECONDS
    first = str(info.value).splitlines()[0]
    assert re.search(rf"{name}\.py:{line}:{col}: ", first), first
    assert fragment in str(info.value)
    assert info.value.exit_code == 2
    _assert_recorded_error(sealed, "policy")


def _no_process(*args, **kwargs):
    raise AssertionError("a worker was started for a file the policy refuses")


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_runtime_attacks_end_in_their_own_error(name, sealed):
    error, kind, fragment, options = RUNTIME[name]
    if name == "memory_bomb" and sys.platform != "linux":
        pytest.skip("the address-space cap is enforced on Linux only")
    assert policy.check_source((ATTACKS / f"{name}.py").read_bytes()) == []  # it must get past the policy
    started = time.perf_counter()
    with pytest.raises(error) as info:
        _grade(name, sealed, **options)
    assert time.perf_counter() - started < RUNTIME_SECONDS
    assert info.value.kind == kind and info.value.exit_code == 2
    assert fragment in str(info.value), str(info.value)
    assert "Traceback" not in str(info.value)
    _assert_recorded_error(sealed, kind)


def test_a_policy_hole_is_still_caught_by_the_clean_evaluator(sealed, monkeypatch):
    """patches_eq_in_training makes the worker's own accuracy read 100 %; the evaluator never imports it."""
    monkeypatch.setattr(policy, "check_file", lambda path, *a, **k: None)  # simulate a rule the policy lacks
    with pytest.raises(IntegrityError, match=r"evaluation mismatch: the grader measured 100\.00% after the last "
                                             r"epoch, but a clean process running the exported model measured"):
        _grade("patches_eq_in_training", sealed)
    _assert_recorded_error(sealed, "integrity")


def test_a_printed_pass_is_only_log_text(sealed):
    result = api.check(ATTACKS / "prints_fake_event.py", "lesson6")
    assert '"status": "passed"' in result.log
    assert result.report["params"] == 7850  # the real report, not the printed one
    assert result.verdict.status == "failed" and result.verdict.exit_code == 1  # lesson 6 wants BatchNorm, GAP


def _evaluate_and_export(model, tmp_path, test_split) -> tuple[float, dict]:
    """The in-process accuracy on 2,000 test images, and the model exported as the worker exports it."""
    from grader.mnist import normalize
    from grader.worker.train import evaluate

    images, labels = normalize(test_split.images[:2000]), test_split.labels[:2000]
    _, acc = evaluate(model, images, labels)
    return acc, export_model(model, images[:1000], tmp_path)


def test_an_honest_model_is_verified_and_a_forged_figure_is_not(tmp_path, test_split):
    """The control: a real exported model re-measured in a fresh process agrees with the in-process figure."""
    torch.manual_seed(0)
    acc, export = _evaluate_and_export(_Base(), tmp_path, test_split)
    assert export["format"] == "export", export["error"]
    honest = {"epochs": [{"test_acc": acc}], "export": export, "device": "cpu", "test_images": 2000}
    with Evaluator() as evaluator:
        evaluator.verify(tmp_path, honest)
    assert honest["verified"] is True and abs(honest["evaluator_test_acc"] - acc) <= TOLERANCE
    require_agreement(acc, acc + TOLERANCE)  # a rounding apart is agreement ...
    with pytest.raises(IntegrityError, match="evaluation mismatch"):  # ... one image in 1,000 is not
        require_agreement(acc + 0.1, honest["evaluator_test_acc"])


# ------------------------------------------------------------------------------------------ through the CLI


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("command", [["check"], ["grade", "--quick", "--no-plot"]])
def test_the_cli_reports_a_refusal_as_file_line_col_and_exit_2(command, sealed, tmp_path):
    result = _invoke(*command, ATTACKS / "reads_test_labels.py", "--workspace", tmp_path / "ws", "--json")
    assert result.exit_code == 2
    data = json.loads(result.output)
    assert data["kind"] == "policy" and re.search(r"reads_test_labels\.py:4:10: open\(\) reads", data["message"])
    result = _invoke(*command, ATTACKS / "imports_os.py", "--workspace", tmp_path / "ws")
    assert result.exit_code == 2 and "imports_os.py:2:1: import of 'os'" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------------------ integrity checks


def _splits(n_train=512, n_test=256):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_train + n_test, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n_train + n_test,), generator=g)
    return Split(images[:n_train], labels[:n_train]), Split(images[n_train:], labels[n_train:])


def _train(model):
    train_split, test_split = _splits()
    recipe = Recipe(epochs=1, batch_size=64, optimizer={"name": "SGD", "lr": 0.01})
    return train(model, recipe, train_split, test_split, torch.device("cpu"), seed=0)


class _Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 10)

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).mean((2, 3)))


class _PlainTensor(_Base):
    def __init__(self):
        super().__init__()
        self.memory = torch.zeros(10)

    def forward(self, x):
        if self.training:
            self.memory += 1
        return super().forward(x) + self.memory


class _FrozenButChanged(_Base):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(10), requires_grad=False)

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.scale.add_(0.01)
        return super().forward(x) * self.scale


class _GrowsParameters(_Base):
    def forward(self, x):
        if self.training and not hasattr(self, "late"):
            self.late = nn.Parameter(torch.zeros(10))
        return super().forward(x)


def test_batchnorm_statistics_may_change():
    assert len(_train(_Base()).epochs) == 1


@pytest.mark.parametrize("model, fragment", [
    (_PlainTensor, "tensor attribute memory changed during training"),
    (_FrozenButChanged, "frozen parameter scale changed during training"),
    (_GrowsParameters, "parameters appeared during training (late)"),
])
def test_hidden_state_is_caught(model, fragment):
    with pytest.raises(IntegrityError, match=re.escape(fragment)):
        _train(model())


def test_baseline_and_size_limits():
    integrity.check_baseline(integrity.MAX_BASELINE_ACC)
    with pytest.raises(IntegrityError, match="not trained from scratch"):
        integrity.check_baseline(integrity.MAX_BASELINE_ACC + 0.1)
    integrity.refuse_oversized(200_000, 20_000)
    integrity.refuse_oversized(10**9, None)
    with pytest.raises(SubmissionError, match="more than 10x"):
        integrity.refuse_oversized(200_001, 20_000)


# ------------------------------------------------------------------------------------------ the clean evaluator


class _RefusesTheExportBatch(_Base):
    def forward(self, x):
        if x.shape[0] == 1000:
            raise RuntimeError("not this batch")
        return super().forward(x)


class _DataDependent(_Base):
    def forward(self, x):
        if x.sum() > -1e9:  # Python control flow on a tensor's value: torch.export refuses, tracing records it
            return super().forward(x)
        return -super().forward(x)


def test_tracing_is_the_fallback_and_measures_the_same(tmp_path, test_split):
    from grader.evaluator.evaluate import measure

    torch.manual_seed(0)
    acc, export = _evaluate_and_export(_DataDependent(), tmp_path, test_split)
    assert export["format"] == "trace" and export["error"].startswith("torch.export: ")
    assert abs(measure(tmp_path / export["file"], "trace", "cpu", 2000)["test_acc"] - acc) <= TOLERANCE


def test_an_unexportable_model_is_graded_but_unverified(tmp_path):
    export = export_model(_RefusesTheExportBatch(), torch.zeros(1000, 1, 28, 28), tmp_path)
    assert export["format"] is None and "torch.export" in export["error"] and "torch.jit.trace" in export["error"]
    record = {"epochs": [{"test_acc": 50.0}], "export": export, "device": "cpu", "test_images": 2000}
    with Evaluator() as evaluator:
        evaluator.verify(tmp_path, record)
        assert evaluator.proc is None  # nothing to evaluate: no process was started
    assert record["verified"] is False and record["unverified_reason"].startswith("the model could not be exported")


def test_an_exported_file_outside_the_worker_directory_is_not_trusted(tmp_path):
    record = {"epochs": [{"test_acc": 50.0}], "export": {"format": "export", "file": "../elsewhere.pt2"},
              "device": "cpu", "test_images": 2000}
    with Evaluator() as evaluator:
        evaluator.verify(tmp_path / "work", record)
    assert record["verified"] is False and "missing from the worker's directory" in record["unverified_reason"]


def test_errors_are_course_errors_with_exit_code_2():
    for cls in (PolicyError, IntegrityError):
        assert issubclass(cls, CourseError) and cls.exit_code == 2
