"""The attack corpus (tests/attacks/): every bad submission ends not passed, with its own message, in bounded time,
with nothing written outside the grading's own directories and no pass in the gradebook.

Three walls, each tested on its own: the static policy refuses most attacks before any process starts (STATIC);
those it lets through on purpose are stopped at run time (RUNTIME) or graded on what they really are (COUNTED);
and the attacks the policy refuses are run past it too (UNSCREENED), to prove the design does not lean on it: the
worker never sees the test set, and every figure the verdict reads comes from the parent and the evaluator.
"""

import json
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from course import cli
from grader import api
from grader.course.options import GradeOptions
from grader.errors import CourseError, IntegrityError, PolicyError, SubmissionError, TrainingError
from grader.host import rules
from grader.host.grading import WorkerError
from grader.record import GradeRequest
from grader.walls import policy, sandbox
from tests.conftest import ROOT
from tests.unscreened import run_unscreened

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each

ATTACKS = ROOT / "tests" / "attacks"
CANARY = Path("/tmp/course-attack-canary")  # where the attacks that write try to write
LANDLOCK = sys.platform == "linux" and sandbox.landlock_abi() >= 1

# Refused by the static policy, before any process starts: file -> (line, col, reason fragment).
STATIC = {
    "asks_for_input": (4, 10, "input() waits for a keyboard"),
    "assigns_state_dict": (9, 9, "assigning self.state_dict replaces nn.Module's own state_dict()"),
    "base_expression_subclass": (10, 17, "a class may only derive from named classes"),
    "class_body_import": (6, 5, "an import inside a class body"),
    "cpp_extension": (2, 1, "import from 'torch.utils.cpp_extension' is not allowed"),
    "cuda_os": (5, 1, "torch.cuda.os is not allowed"),
    "dataclasses_builtins": (6, 10, "dataclasses.builtins is not allowed"),
    "deep_nesting": (4, 108, "code nested more than 100 levels deep"),
    "deep_nesting_parser": (4, 1, "this line nests expressions too deeply for Python to read"),
    "deletes_torch_function": (5, 5, "deleting F.cross_entropy changes an imported module or class (monkeypatching)"),
    "dunder_import": (4, 13, "the name __import__ is not allowed"),
    "embedded_weights": (4, 11, "a str literal of 5,336 bytes (limit 4,096): embedded data"),
    "eval_string": (4, 8, "eval() runs code from a string"),
    "exec_string": (4, 1, "exec() runs code from a string"),
    "exits_at_import": (4, 7, "SystemExit leaves the grader's process"),
    "forges_parameter_count": (5, 1, "import of 'grader.program' is not allowed"),
    "frame_walk": (10, 17, "f_locals is not allowed: it reaches the grader's frames"),
    "fstring_denied_name": (11, 9, "getattr(..., 'compile'): compile is not allowed: it compiles code"),
    "getattr_computed": (5, 10, "getattr() with a computed attribute name"),
    "getattr_self_parameter": (8, 12, "computed attribute name is only allowed on self, the first parameter of a"),
    "globals_builtins": (4, 10, "globals() exposes the module's internals"),
    "imports_os": (2, 1, "import of 'os' is not allowed"),
    "jit_load": (5, 11, "torch.jit.load: load is not allowed: it reads or writes files"),
    "make_dataclass_tensor": (8, 13, "dataclasses.make_dataclass is not allowed: it builds a class at run time"),
    "metaclass": (5, 12, "type() reaches and can patch torch's classes"),
    "mixin_overrides": (6, 5, "Quiet.named_parameters: a model class may not redefine"),
    "module_in_container": (5, 15, "torch is the module torch: use the names in it directly"),
    "multiprocessing": (5, 1, "torch.multiprocessing: multiprocessing is not allowed: it starts processes"),
    "names_carry_data": (280, 5, "string literals and names add up to more than 16,384 bytes"),
    "numpy_tofile": (5, 1, "tofile is not allowed: it reads or writes files"),
    "overrides_parameters": (11, 5, "Net.parameters: a model class may not redefine nn.Module's own parameters"),
    "packed_integer": (4, 11, "an integer literal of 1023 bits (limit 64)"),
    "patches_eq_in_training": (23, 13, "assigning to torch.Tensor.__eq__ changes an imported module or class"),
    "patches_loss": (5, 1, "assigning to F.cross_entropy changes an imported module or class (monkeypatching)"),
    "patches_tensor_eq": (5, 1, "assigning to torch.Tensor.eq changes an imported module or class"),
    "patches_through_container": (7, 1, "assigning to things[...].eq changes an imported module or class"),
    "patches_via_alias": (6, 1, "assigning to T.argmax changes an imported module or class"),
    "private_module_state": (9, 9, "attribute _buffers starts with an underscore"),
    "reads_test_labels": (4, 10, "open() reads and writes files"),
    "reads_test_set_via_grader": (5, 1, "import from 'grader.mnist' is not allowed"),
    "relative_import": (2, 1, "relative imports are not allowed"),
    "setattr_self_parameter": (8, 5, "setattr() is only allowed on self, the first parameter of a method"),
    "setattr_torch": (5, 1, "setattr() is only allowed on self"),
    "singledispatch_annotation": (8, 2, "functools.singledispatch is not allowed: it evaluates string annotations"),
    "skips_epochs": (6, 1, "import of 'grader.worker.session' is not allowed"),
    "star_import": (2, 1, "`from torch import *` is not allowed"),
    "subclass_output": (7, 13, "dataclasses.make_dataclass is not allowed"),
    "subclasses_escape": (4, 11, "dunder attributes such as __subclasses__"),
    "subprocess_from": (2, 1, "import from 'subprocess' is not allowed"),
    "tensor_subclass": (6, 17, "subclassing torch.Tensor is not allowed"),
    "torch_builtins_open": (5, 10, "torch.builtins is not allowed"),
    "torch_function_mode": (5, 8, "torch.overrides: overrides is not allowed: it intercepts every torch function"),
    "torch_hub": (5, 14, "load is not allowed"),
    "torch_importlib": (5, 13, "torch.importlib is not allowed"),
    "torch_load": (5, 9, "torch.load: load is not allowed: it reads or writes files"),
    "torch_ops_library": (5, 1, "torch.ops: ops is not allowed: it loads native operators"),
    "torch_os_read": (5, 6, "torch.os is not allowed: it is the os module"),
    "torch_private": (5, 1, "attribute _set_grad_enabled starts with an underscore"),
    "torch_save_outside": (5, 1, "torch.save: save is not allowed: it reads or writes files"),
    "torch_sys_modules": (5, 15, "torch.sys is not allowed: it is the sys module"),
    "type_hints_eval": (8, 8, "a string in an annotation is code"),
    "type_patch": (5, 1, "assigning to an attribute of a call's result (type(...).argmax)"),
    "type_three_args": (5, 13, "type() with three arguments is not allowed"),
    "typing_sys": (6, 18, "typing.sys is not allowed"),
    "utf7_cookie": (1, 1, "coding declaration 'utf-7'"),
    "wraps_module_dict": (8, 2, "functools.wraps is not allowed"),
}
# Pass the policy (on purpose) and are stopped at run time: file -> (error class, kind, message fragment, options).
RUNTIME = {
    "data_dependent_forward": (SubmissionError, "submission", "forward() makes a decision on a tensor's value", {}),
    "deep_modules": (SubmissionError, "submission",
                     "the model nests modules 50,001 levels deep (Net.body.0.0...); the grader reads at most 32", {}),
    "dict_memory": (SubmissionError, "submission", "lifted_tensor_0 is mutated in the forward method", {}),
    "evaluator_memory_bomb": (IntegrityError, "integrity", "per image, far above any lesson's model", {}),
    "foreign_optimizer": (SubmissionError, "submission", "that is not one of the model's parameters", {}),
    "huge_layer_name": (SubmissionError, "submission",
                        "a layer's name is 20,000,000 characters ('aaaaaaaaaaaaaaaa'... in Net); names may be at "
                        "most 128", {}),
    "huge_model": (SubmissionError, "submission", "23,850,010 parameters, more than 10x the limit of 20,000", {}),
    "infinite_loop": (WorkerError, "worker", "timed out after 5 s", {"timeout": 5}),
    "memory_bomb": (SubmissionError, "submission", "Net() raised MemoryError", {}),
    "hidden_buffer": (SubmissionError, "submission", "forward() changes the buffer memory while it trains", {}),
    # The submission's code runs once, to describe itself: each of these is refused before anything trains.
    "injects_weights_in_training": (SubmissionError, "submission", "forward() changes fc.weight", {}),
    "distills_from_buffer": (SubmissionError, "submission", "buffer teacher_w starts with computed values", {}),
    "lambda_scheduler": (SubmissionError, "submission", "LambdaLR", {}),
    "optimizer_trains_buffers": (SubmissionError, "submission", "bn.running_mean, a buffer", {}),
}
# Pass every check and train, but bring nothing in: the grader drew their initial values (and measures the program
# derived from the one it trained): file -> (the tensors the record says were re-drawn, a note's fragment or None).
REDRAWN = {
    "teacher_initialised_parameter": (("teacher_w", "teacher_b"), "teacher_w"),
    "teacher_in_difference": (("a", "b"), None),
    "eval_differs": ((), None),
    "pretrained_constants": (("fc.weight", "fc.bias"), "fc.weight"),
}
# Pass the policy and are graded for what they really are, their hidden numbers counted: file -> (lesson, params).
COUNTED = {
    "batchnorm_memory": ("lesson1", 64 * 784 * 2 + 1 + 64 * 10 + 10),  # statistics wider than any layer count
    "many_batchnorm_banks": ("lesson1", 50 * (2 * 1024 + 1)),  # statistics beyond the parameters' own count
    "zero_width_batchnorm": ("lesson1", 64 * 10 + 10 + 2 * 64 * 784 + 1),  # a (N, 0) parameter widens nothing
    "frozen_then_unfrozen": ("lesson1", 784 * 190 + 190 + 190 * 10 + 10),  # frozen weights count too
    # its trick (a parameter grown at the second training step) ran only in the worker, where nothing trains
    "late_parameter": ("lesson1", 784 * 10 + 10),
    "strided_views": ("lesson1", 2 * 62_720 + 80 * 10 + 10),  # two parameters sharing a storage are two
}
# Refused by the policy, then run past it: file -> (error class, message fragment) or "graded" (see its own test).
UNSCREENED = {
    "reads_test_set_via_grader": (SubmissionError, "Permission denied"),
    "subclass_output": (SubmissionError, "forward()"),
    # the training loop is not in the worker any more: there is nothing there to skip
    "skips_epochs": (SubmissionError, "has no attribute 'fit'"),
}
OTHER = {"prints_fake_event"}  # graded normally: the printed "pass" is only log text (tested below)
MEASURED = {"label_table_position", "nan_when_measured"}  # graded normally, measured for what they are (below)
STATIC_SECONDS = 5  # a refusal never starts a process: milliseconds, with room for a loaded machine
RUNTIME_SECONDS = 240  # one quick grading at most, on a slow, busy CPU


def test_the_corpus_is_complete():
    files = {p.stem for p in ATTACKS.glob("*.py")}
    assert files == set(STATIC) | set(RUNTIME) | set(COUNTED) | set(REDRAWN) | OTHER | MEASURED
    assert set(UNSCREENED) <= set(STATIC)
    assert len(files) >= 60


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
    assert list(tmp.iterdir()) == [], "the grading's directories must be gone"
    assert list(cwd.iterdir()) == [], "nothing may be written where the grader was started"
    assert sorted(p.name for p in ATTACKS.iterdir()) == attacks_before, "nothing may land beside the submission"
    assert not CANARY.exists()


def _grade(name: str, lesson: str | None = None, **options):
    """Grade an attack as `course grade` does (grader.api.grade: no gradebook; grader.workflow records)."""
    request = GradeRequest(ATTACKS / f"{name}.py", lesson, GradeOptions.of(quick=True, device="cpu", **options))
    return api.grade(request)


@pytest.mark.parametrize("name", sorted(STATIC))
def test_static_attacks_are_refused_before_anything_runs(name, sealed, monkeypatch):
    line, col, fragment = STATIC[name]
    monkeypatch.setattr("grader.channel.subprocess.Popen", _no_process)  # a refused file never runs
    started = time.perf_counter()
    with pytest.raises(PolicyError) as info:
        _grade(name)
    assert time.perf_counter() - started < STATIC_SECONDS
    first = str(info.value).splitlines()[0]
    assert re.search(rf"{name}\.py:{line}:{col}: ", first), first
    assert fragment in str(info.value)
    assert info.value.exit_code == 2
    assert info.value.kind == "policy"


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
        _grade(name, **options)
    assert time.perf_counter() - started < RUNTIME_SECONDS
    assert info.value.kind == kind and info.value.exit_code == 2
    assert fragment in str(info.value), str(info.value)
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("name", sorted(COUNTED))
def test_hidden_numbers_are_counted_as_parameters(name, sealed):
    lesson, params = COUNTED[name]
    assert policy.check_source((ATTACKS / f"{name}.py").read_bytes()) == []
    result = _grade(name, lesson)
    assert result.record.params == params, result.record.params_detail
    assert result.verdict.status != "passed"
    if params >= 100_000:  # lesson 1's limit: the honest count fails it
        assert "max_params" in result.verdict.failed


@pytest.mark.parametrize("name", sorted(REDRAWN))
def test_a_model_brings_no_knowledge_in(name, sealed):
    """A teacher in initial values is re-drawn, and a branch on self.training never runs: each trains from scratch,
    at chance before training, and (on a smoke run of a thumbnail model) far from the teacher's 80 %."""
    redrawn, note = REDRAWN[name]
    assert policy.check_source((ATTACKS / f"{name}.py").read_bytes()) == []
    record = _grade(name, "lesson1").record
    assert record.status != "passed"
    assert record.baseline_test_acc < rules.MAX_BASELINE_ACC
    for target in redrawn:
        assert not record.init[target].startswith("kept"), record.init  # drawn afresh: only its law is theirs
    if note:
        assert any(note in w for w in record.warnings), record.warnings
    if name == "eval_differs":  # it trained its zero output: the eval branch's class means never ran
        assert record.best_acc < 20, record.best_acc


@pytest.mark.parametrize("name", sorted(UNSCREENED))
def test_attacks_past_the_policy_are_still_stopped(name, sealed):
    error, fragment = UNSCREENED[name]
    if name == "reads_test_set_via_grader" and not LANDLOCK:
        pytest.skip("reads are confined by Landlock (Linux >= 5.13)")
    with pytest.raises(error) as info:
        run_unscreened(ATTACKS / f"{name}.py", mode="grade", device="cpu", quick=True)
    assert fragment in str(info.value), str(info.value)
    assert "Traceback" not in str(info.value).split("--- last lines")[0]


def test_a_forged_parameter_count_in_the_worker_changes_nothing(sealed):
    """The worker's counters are patched to say 1,000; the parent counts the exported program itself."""
    out = run_unscreened(ATTACKS / "forges_parameter_count.py", device="cpu", quick=True)
    assert out.result["report"]["params"] == 784 * 190 + 190 + 190 * 10 + 10


def test_a_patch_made_while_training_never_reaches_the_trainer(sealed):
    """patches_eq_in_training patches Tensor.__eq__ at a training step of 100 images. The submission's forward() runs
    once, at export, on a free batch size: its decision on the batch size is refused there, and no step of the
    grader's training ever runs the file's code."""
    with pytest.raises(SubmissionError, match="batch size"):
        run_unscreened(ATTACKS / "patches_eq_in_training.py", mode="grade", device="cpu", quick=True)


def test_a_printed_pass_is_only_log_text(sealed):
    result = api.check(GradeRequest(ATTACKS / "prints_fake_event.py", "lesson6"))
    assert '"status": "passed"' in result.log
    assert result.report["params"] == 7850  # the real report, not the printed one
    assert result.verdict.status == "failed" and result.verdict.exit_code == 1  # lesson 6 wants BatchNorm, GAP


def test_a_label_table_by_position_works_in_file_order_and_fails_in_the_secret_order(tmp_path, test_split):
    """The attack is real (file order: its 200 stored labels are right), and the evaluator's order defeats it."""
    import torch

    from grader import program
    from grader.evaluator.main import evaluate, secret_order
    from grader.interpret import Program, tensors_from_file
    from grader.mnist import normalize
    from grader.worker.export import export_program, write_state
    from grader.worker.submission import build, load

    model = build(load(ATTACKS / "label_table_position.py"))
    images, labels = normalize(test_split.images[:250]), test_split.labels[:250]
    exported = export_program(model, images, tmp_path)
    count = program.count_parameters(exported.graph, program.read_tensors(tmp_path / "constants.bin")[0])
    assert 200 < count.embedded <= program.FREE_EMBEDDED  # within the allowance: only the order stops it
    model.switch.num_batches_tracked += 1  # as after training: the table is switched on
    write_state(model, exported.graph, tmp_path / "state.bin", 1)
    prog = Program(exported.graph, tensors_from_file(tmp_path / "constants.bin", "cpu"), torch.device("cpu"))
    state = tensors_from_file(tmp_path / "state.bin", "cpu")
    assert evaluate(prog, state, images, labels).acc >= 80.0  # rows 0-199 of the first batch
    assert evaluate(prog, state, *secret_order(images, labels, 2**62 + 12345)).acc < 30.0


def test_a_label_table_by_position_is_graded_at_chance(sealed):
    result = _grade("label_table_position", "lesson1")
    assert result.record.evaluator["order"] == "shuffled" and result.record.evaluator["order_seed"] > 0
    # ten biases: the most common digit at best (11.35 % of the --quick split); the table would add 10 points
    assert result.verdict.status != "passed" and max(result.record.test_accs) < 16.0, result.record.test_accs
    assert result.record.sandbox["evaluator"]["limits"]["memory_gib"] > 0  # the evaluator's walls are recorded


def test_nan_when_measured_is_graded_as_wrong_answers_and_the_cli_prints_a_full_record(sealed, tmp_path):
    folder = tmp_path / "nan"
    folder.mkdir()
    (folder / "model.py").write_bytes((ATTACKS / "nan_when_measured.py").read_bytes())
    result = _invoke("grade", folder / "model.py", "--lesson", "lesson1", "--quick", "--device", "cpu",
                     "--workspace", tmp_path / "ws", "--json")  # with the plot: it must draw a NaN loss
    data = json.loads(result.output)  # a full record, not a traceback
    assert data["verdict"]["status"] in ("failed", "smoke") and result.exit_code in (0, 1)
    assert all(e["test_acc"] == 0.0 for e in data["epochs"])
    assert str(data["epochs"][-1]["test_loss"]).lower() == "nan"
    assert any("NaN or inf" in w for w in data["warnings"]), data["warnings"]
    assert data["plot"], "the curves are drawn, a NaN loss as a gap"


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


# ------------------------------------------------------------------------------------------ the parent's rules


def test_baseline_and_size_limits():
    rules.check_baseline(rules.MAX_BASELINE_ACC)
    with pytest.raises(IntegrityError, match="not trained from scratch"):
        rules.check_baseline(rules.MAX_BASELINE_ACC + 0.1)
    rules.refuse_oversized(200_000, 20_000)
    rules.refuse_oversized(10**9, None)
    with pytest.raises(SubmissionError, match="more than 10x"):
        rules.refuse_oversized(200_001, 20_000)


def test_a_run_that_does_not_match_its_recipe_is_an_error():
    rules.check_epochs(3, 3, {0, 1, 2, 3}, max_epochs=20, quick=False)
    with pytest.raises(IntegrityError, match="3 epochs planned, 2 trained"):
        rules.check_epochs(2, 3, {0, 1, 2}, max_epochs=20, quick=False)
    with pytest.raises(IntegrityError, match="2 measured"):
        rules.check_epochs(3, 3, {0, 1, 3}, max_epochs=20, quick=False)
    with pytest.raises(IntegrityError, match="at most 20"):
        rules.check_epochs(25, 25, set(range(26)), max_epochs=20, quick=False)
    with pytest.raises(IntegrityError, match="--quick run trains one epoch"):
        rules.check_epochs(2, 2, {0, 1, 2}, max_epochs=20, quick=True)


def test_errors_are_course_errors_with_exit_code_2():
    for cls in (PolicyError, IntegrityError, TrainingError, WorkerError):
        assert issubclass(cls, CourseError) and cls.exit_code == 2
