"""grader.course.options: every grading option is declared once, in GradeOptions, and the command line, the API,
the notebook and the config types are built from it; the timeout and the epoch budget are decided in one place."""

import dataclasses
import inspect
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import course
from grader import api, notebook
from grader.authoring import verify
from grader.batch import head, job
from grader.course.lesson import get_lesson
from grader.course.options import (
    CHECK_TIMEOUT_S,
    COURSE_TIMEOUT_S,
    GradeOptions,
    LoopOptions,
    check_timeout,
    epoch_budget,
    for_children,
    grading_timeout,
    names,
)
from grader.errors import UsageError
from grader.gradescope import autograder
from grader.record import GradeRequest, TrainTask, WorkerTask
from grader.workflow import Workflow
from tests.conftest import ROOT

# A grading option under another name on the command line: --compile-mode is GradeOptions.loop.compile's words
SPELLINGS = {"compile_mode": "compile"}
GRADING = set(names()) | set(SPELLINGS)


def _commands(group: click.Group = course.cli, words: tuple = ()):
    for name, command in group.commands.items():
        yield (*words, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*words, name))


def test_the_option_names_are_the_fields_of_both_dataclasses():
    fields = {f.name for f in dataclasses.fields(GradeOptions)} - {"loop"}
    assert set(names()) == fields | {f.name for f in dataclasses.fields(LoopOptions)}
    assert {"seed", "epochs", "quick", "device", "timeout", "data_dir", "compile", "channels_last"} <= set(names())


def test_no_command_declares_a_grading_option_of_its_own():
    """Every CLI parameter named as a grading option was made from GradeOptions' field (course.grading_options)."""
    seen = set()
    for words, command in _commands():
        for param in command.params:
            if param.name in GRADING or isinstance(param, course.GradingOption):
                assert isinstance(param, course.GradingOption), (words, param.name)
                assert SPELLINGS.get(param.name, param.name) in names(), (words, param.name)
                seen.add(param.name)
    assert seen == GRADING  # and each of them is on some command: `course grade` has them all


def test_the_command_line_defaults_are_the_dataclass_defaults(monkeypatch):
    seen = []

    def grade(request, *args, **kwargs):
        seen.append(request.options)
        raise UsageError("stop: only the options are under test")

    monkeypatch.setattr(api, "grade", grade)
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    CliRunner().invoke(course.cli, ["grade", str(ROOT / "solutions" / "lesson1" / "model.py")])
    assert seen == [GradeOptions()]


def test_the_command_line_builds_the_options_it_was_given(monkeypatch):
    seen = []

    def grade(request, *args, **kwargs):
        seen.append(request.options)
        raise UsageError("stop")

    monkeypatch.setattr(api, "grade", grade)
    CliRunner().invoke(course.cli, ["grade", str(ROOT / "solutions" / "lesson1" / "model.py"), "--seed", "4",
                                    "--epochs", "2", "--quick", "--timeout", "90", "--device", "cpu",
                                    "--train-anyway", "--torch-dropout", "--compile-mode", "max-autotune"])
    assert seen == [GradeOptions(device="cpu", seed=4, epochs=2, quick=True, timeout=90, train_anyway=True,
                                 loop=LoopOptions(compile="max-autotune", fast_dropout=False))]


API = [api.check, api.grade, api.grade_all, api.build_autograder, notebook.check, notebook.grade, Workflow.check,
       Workflow.check_each, Workflow.grade, verify.verify, job.grade_job, head.grade_all]


@pytest.mark.parametrize("function", API, ids=lambda f: f.__qualname__)
def test_no_api_function_takes_a_grading_option_as_a_parameter(function):
    declared = set(inspect.signature(function).parameters) & GRADING
    assert not declared, f"{function.__qualname__} declares {declared}: take a GradeRequest or GradeOptions"


CONFIGS = [GradeRequest, WorkerTask, TrainTask, job.JobSpec, head.BatchConfig, autograder.AutograderConfig]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_carries_grade_options_instead_of_its_fields(config):
    fields = {f.name: f for f in dataclasses.fields(config)}
    assert not set(fields) & GRADING, f"{config.__name__} re-declares {set(fields) & GRADING}"
    assert fields["options"].type in (GradeOptions, "GradeOptions")


def test_the_notebook_takes_the_options_by_their_field_names():
    with pytest.raises(TypeError, match="sede"):
        notebook.grade("model.py", sede=3)
    assert GradeOptions.of(quick=True, channels_last=True) == GradeOptions(quick=True,
                                                                           loop=LoopOptions(channels_last=True))


def test_the_timeout_is_the_flag_s_then_the_lesson_s_then_the_course_s():
    lesson6 = get_lesson("lesson6")
    assert grading_timeout(GradeOptions(timeout=30), lesson6) == 30
    assert grading_timeout(GradeOptions(), lesson6) == lesson6.timeout != COURSE_TIMEOUT_S
    assert grading_timeout(GradeOptions(), dataclasses.replace(lesson6, timeout=None)) == COURSE_TIMEOUT_S
    assert grading_timeout(GradeOptions(), None) == COURSE_TIMEOUT_S
    assert check_timeout(GradeOptions()) == CHECK_TIMEOUT_S and check_timeout(GradeOptions(timeout=7)) == 7


def test_the_epoch_budget_is_the_lesson_s_lowered_by_epochs():
    assert epoch_budget(20, None) == 20 and epoch_budget(20, 3) == 3 and epoch_budget(15, 40) == 15


def test_a_child_is_told_its_budget_and_no_data_folder():
    told = for_children(GradeOptions(data_dir="/data/mnist", seed=2), 99.0)
    assert told == GradeOptions(seed=2, timeout=99.0)
    assert WorkerTask.from_dict(WorkerTask("grade", "m", "0", "a", "b", options=told).to_dict()).options == told


def test_the_gradescope_config_round_trips_through_its_json(tmp_path):
    config = autograder.AutograderConfig("lesson3", autograder.on_gradescope(GradeOptions(quick=True, seed=5)))
    path = Path(tmp_path / "autograder.json")
    path.write_text(config.to_json())
    back = autograder.AutograderConfig.read(path)
    assert back == config and back.options.device == "cpu" and back.options.timeout == autograder.GRADESCOPE_BUDGET_S
