"""The check and grade commands through click's CliRunner, and once as the installed `course` script."""

import json
import shutil
import subprocess

import click
import pytest
from click.testing import CliRunner

from course import cli
from tests.conftest import ROOT, SUBMISSIONS

SOLUTION6 = ROOT / "solutions" / "lesson6" / "model.py"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_check_prints_the_summary_rf_and_verdict():
    result = invoke("check", SOLUTION6, "--lesson", "lesson6")
    assert result.exit_code == 0, result.output
    assert "Total params: 13,960" in result.output  # torchsummary's table
    assert "22 before global pooling, 32 at the output" in result.output
    assert "Static checks pass for lesson 6" in result.output
    # not lesson 6's work file: the next command names the lesson, or `course grade` would judge it by another
    assert "--lesson lesson6" in " ".join(result.output.split()[-4:])


def test_check_warns_about_code_it_skips_and_passes(tmp_path):
    model = tmp_path / "model.py"
    main = '\nif __name__ == "__main__":\n    from torchsummary import summary\n    summary(Net(), (1, 28, 28))\n'
    model.write_text("import logging\n" + SOLUTION6.read_text() + main)
    result = CliRunner().invoke(cli, ["check", str(model), "--lesson", "lesson6"])
    assert result.exit_code == 0, result.output
    assert result.output.count("warning:") == 1
    shown = " ".join(result.output.split())  # as wrapped for the screen
    assert "model.py:1:1: `import logging` is not used by the model, so the grader skips it" in shown


def test_check_json_is_the_full_report():
    result = invoke("check", SOLUTION6, "--json")
    data = json.loads(result.output)
    assert data["status"] == "passed" and data["report"]["params"] == 13960
    assert data["report"]["rf"]["rf_before_global_pool"] == 22 and data["report"]["rf"]["rf_final"] == 32
    assert data["verdict"]["criteria"][0]["name"] == "max_params"


def test_check_contract_error_is_a_message_with_exit_2(submission):
    result = invoke("check", submission("wrong_shape"))
    assert result.exit_code == 2
    assert "expected (2, 10)" in result.output and "Traceback" not in result.output
    result = invoke("check", submission("wrong_shape"), "--json")
    assert json.loads(result.output)["kind"] == "submission"


def test_check_fails_a_static_criterion_with_exit_1(tmp_path):
    big = tmp_path / "model.py"
    big.write_text(
        "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(784, 30)\n        self.out = nn.Linear(30, 10)\n"
        "    def forward(self, x):\n        return self.out(self.fc(x.view(x.size(0), -1)))\n"
    )
    result = invoke("check", big)
    assert result.exit_code == 1
    assert "23,860" in result.output and "< 20,000" in result.output


def test_unknown_lesson_and_missing_file_are_usage_errors(tmp_path):
    result = invoke("check", SOLUTION6, "--lesson", "lesson99")
    assert result.exit_code == 2 and "no lesson called 'lesson99'" in result.output
    result = invoke("grade", tmp_path / "nope.py")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_quick_grade_is_labelled_and_never_a_pass(submission, tmp_path):
    target = tmp_path / "model.py"
    shutil.copy(submission("tiny"), target)
    result = invoke("grade", target, "--quick", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["quick"] is True and record["verdict"]["status"] == "smoke"
    assert record["train_images"] == 5000 and len(record["epochs"]) == 1
    assert record["epochs"][0]["test_acc"] > 50  # it really trained
    assert record["baseline_test_acc"] < 30
    for key in ("seed", "device_name", "versions", "sha256", "recipe"):
        assert record[key] is not None
    assert record["versions"]["torch"] and record["recipe"]["batch_size"] == 64
    assert (tmp_path / "model_curves.png").stat().st_size > 1000


def test_grade_renders_tables_and_verdict_panel(submission, tmp_path):
    target = tmp_path / "model.py"
    shutil.copy(submission("tiny"), target)
    result = invoke("grade", target, "--quick", "--device", "cpu", "--no-plot")
    assert result.exit_code == 0, result.output
    for text in ("Per-epoch metrics", "Criteria", "SMOKE RUN", "untrained model:"):
        assert text in result.output
    assert not (tmp_path / "model_curves.png").exists()


def test_training_error_exit_2(submission):
    result = invoke("grade", submission("diverges"), "--quick", "--device", "cpu", "--no-plot")
    assert result.exit_code == 2 and "diverged at epoch 1" in result.output


def _command_lines(group=cli, words=()):
    """Every command line the CLI answers, as words: each group's commands, hidden aliases included."""
    for name, command in group.commands.items():
        yield (*words, name)
        if isinstance(command, click.Group):
            yield from _command_lines(command, (*words, name))


def test_every_command_has_an_example_in_help():
    lines = list(_command_lines())
    assert ("teach", "grade-all") in lines and ("dev", "verify") in lines
    for words in lines:
        result = invoke(*words, "--help")
        assert result.exit_code == 0 and "Example" in result.output, words


def test_help_reads_by_audience_with_the_old_spellings_hidden():
    text = invoke("--help").output
    students, others = text.split("Commands:", 1)[1].split("For instructors and course authors:")
    assert students.split()[0] == "status" and "grade" in students.split() and "grade-all" not in text
    assert [line.split()[0] for line in others.strip().splitlines() if line[:3].strip()] == ["dev", "teach"]
    for old, new in (("grade-all", "teach"), ("leaderboard", "teach"), ("autograder", "teach"),
                     ("run-autograder", "teach"), ("verify", "dev"), ("docs", "dev")):
        alias, command = cli.commands[old], cli.commands[new].commands[old]
        assert alias.hidden and not command.hidden and alias.callback is command.callback, old


def test_an_old_spelling_and_its_group_spelling_do_the_same(tmp_path):
    db = tmp_path / "none.sqlite"
    old = invoke("leaderboard", "--db", db)
    new = invoke("teach", "leaderboard", "--db", db)
    assert old.exit_code == new.exit_code == 2 and "no gradebook" in old.output and old.output == new.output


@pytest.mark.slow  # the slow tier (pyproject.toml): the installed script in a process of its own, started cold
@pytest.mark.skipif(shutil.which("course") is None, reason="the console script is installed by pip install -e .")
def test_installed_script():
    proc = subprocess.run(["course", "check", str(SOLUTION6), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["report"]["params"] == 13960


def test_readme_example_output_is_what_check_prints():
    """The README's sample of `course check` output is kept true by this test, not typed once and forgotten."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("the lesson's static criteria:\n\n```\n", 1)[1].split("```", 1)[0]
    squash = lambda text: " ".join(text.split())
    output = squash(invoke("check", SOLUTION6, "--lesson", "lesson6").output)
    lines = [squash(line) for line in block.splitlines() if line.strip()]
    assert len(lines) >= 4
    for line in lines:
        assert line in output, line


@pytest.mark.parametrize("flags, expected", [(["--compile"], True), (["--compile-mode", "default"], True),
                                             (["--compile-mode", "reduce-overhead"], "reduce-overhead"), ([], False)])
def test_compile_flags_become_the_request_s_loop_options(monkeypatch, flags, expected):
    from grader import api
    from grader.errors import UsageError

    seen = []

    def grade(request, *args, **kwargs):
        seen.append(request)
        raise UsageError("stop here: only the request is under test")

    monkeypatch.setattr(api, "grade", grade)
    result = invoke("grade", SOLUTION6, "--json", "--channels-last", *flags)
    loop = seen[0].options.loop
    assert result.exit_code == 2 and loop.compile == expected and loop.channels_last
    assert loop.cuda_graph  # on unless --no-cuda-graph: it only acts on a CUDA device
    assert loop.fast_dropout  # on unless --torch-dropout: it only acts on a CPU, in training


@pytest.mark.slow  # the slow tier (pyproject.toml): trains in torch's dropout, the slowest quick grading
def test_loop_flags_reach_the_training_loop(tmp_path):
    """A real grading: the worker reports the loop options it trained with (torch.compile's own path is tested
    in tests/test_train.py, where compiling a model costs no worker start)."""
    model = tmp_path / "model.py"
    model.write_text((SUBMISSIONS / "tiny.py").read_text())
    result = invoke("grade", model, "--quick", "--device", "cpu", "--no-plot", "--json", "--channels-last",
                    "--torch-dropout", "--no-cuda-graph")
    loop = json.loads(result.output)["loop"]
    assert loop["channels_last"] is True and loop["fast_dropout"] is False and loop["cuda_graph"] is False
    assert loop["compile"] is False and loop["compiled"] is False and loop["graphed"] is False


def test_the_record_says_which_memory_format_the_loop_trained_in(tmp_path):
    """--channels-last on a model that fails in it: it trains in the default layout, and the record and the
    verdict's warnings say so."""
    model = tmp_path / "view_flatten.py"
    model.write_text((SUBMISSIONS / "view_flatten.py").read_text())
    out = json.loads(invoke("grade", model, "--quick", "--device", "cpu", "--no-plot", "--json",
                            "--channels-last").output)
    assert out["loop"]["channels_last"] is False
    assert any("not channels_last" in w for w in out["warnings"]), out["warnings"]


def test_an_unknown_compile_mode_is_refused_with_the_choices():
    result = invoke("grade", SOLUTION6, "--compile-mode", "fastest")
    assert result.exit_code == 2 and "reduce-overhead" in result.output


# ------------------------------------------------------------------------------ whole screens at 80 and 100 columns


def at_width(width, *args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env={"COLUMNS": str(width)})


def _fits(output: str, width: int) -> None:
    assert max(len(line) for line in output.splitlines()) <= width, output


@pytest.mark.parametrize("width", [80, 100])
def test_an_error_wraps_between_words(tmp_path, width):
    deep = tmp_path / "a_rather_long_folder_name_for_a_class" / "student_submissions_week_three"
    deep.mkdir(parents=True)
    shutil.copy(SUBMISSIONS / "syntax_error.py", deep / "model.py")
    result = at_width(width, "check", deep / "model.py", "--lesson", "lesson1")
    assert result.exit_code == 2
    _fits(result.output, width)
    message = json.loads(at_width(width, "check", deep / "model.py", "--lesson", "lesson1", "--json").output)["message"]
    assert "syntax error" in message and result.output.startswith("error: ")
    lines = result.output.splitlines()
    for word in message.split():  # each word on one line, whole; only a path wider than the screen is folded
        assert any(word in line for line in lines) or len(word) > width - 7, word


@pytest.mark.parametrize("width", [80, 100])
def test_the_leaderboard_keeps_every_column_and_says_why(tmp_path, width):
    from grader.gradebook import store
    from tests.gradebook_records import make_record

    db = tmp_path / "class.sqlite"
    with store.opened(db) as c:
        store.record_run(c, make_record("a", accs=(98.0, 99.45)), student="alice")
        store.record_run(c, make_record("b", params=25_000, accs=(99.0, 99.1)),
                         student="a_student_whose_file_name_is_long")
        store.record_run(c, make_record("c", accs=(95.0,), quick=True), student="frank")
    result = at_width(width, "leaderboard", "--db", db)
    assert result.exit_code == 0
    _fits(result.output, width)
    head = next(line for line in result.output.splitlines() if "student" in line)
    assert head.split() == ["#", "student", "status", "params", "RF", "best", "acc", "to", "target", "epochs", "runs"]
    flat = " ".join(result.output.split())
    assert "failed: Parameters 25,000 (needs < 20,000)" in flat and "smoke run (--quick)" in flat


def test_show_of_a_later_lesson_points_back_at_the_one_in_progress(tmp_path):
    assert at_width(80, "--workspace", tmp_path, "start", "lesson1").exit_code == 0
    result = at_width(80, "--workspace", tmp_path, "show", "lesson3")
    assert result.exit_code == 0
    tail = " ".join(result.output.split()[-40:])
    assert "You are on lesson1" in tail and "Next: course check" in tail and "Next: course start lesson3" not in tail
    own = at_width(80, "--workspace", tmp_path, "show", "lesson1")
    assert "Next: course check" in " ".join(own.output.split())
