"""`course watch`: the loop driven by scripted saves and keys with real checks (and one real --quick grade) on a
workspace file, its edge cases with a stand-in workflow, and once on real file events from watchfiles."""

import io
import os
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console

from grader.course.options import GradeOptions
from grader.errors import TrainingError
from grader.record import GradeRequest
from grader.views.watch import WatchScreen
from grader.watch import CHANGED, CLOSED, KEY, Event, Events, FileWatcher, WatchLoop, watch
from grader.workflow import Workflow
from tests.conftest import SUBMISSIONS

pytestmark = pytest.mark.slow  # the slow tier (.ci/run runs it): gradings end to end, seconds each

TINY = (SUBMISSIONS / "tiny.py").read_text()
# lesson1 allows 100,000 parameters: a 784x200 Linear layer alone is 157,000
TOO_BIG = ("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.fc = nn.Linear(784, 200)\n        self.out = nn.Linear(200, 10)\n\n"
           "    def forward(self, x):\n        return self.out(self.fc(x.flatten(1)))\n")


class Script:
    """A source of events that can edit the file just before handing out a `changed`, as a save would."""

    def __init__(self, file: Path, steps):
        self.file = file
        self.steps = list(steps)

    def get(self) -> Event:
        if not self.steps:
            return Event(CLOSED)
        step = self.steps.pop(0)
        if isinstance(step, str) and step.startswith("save:"):
            self.file.write_text(step[len("save:"):])
            return Event(CHANGED)
        return Event(CHANGED) if step == CHANGED else Event(KEY, step)

    def drain_changes(self) -> bool:
        drained = False
        while self.steps and self.steps[0] == CHANGED:  # saves queued behind the one being handled
            self.steps.pop(0)
            drained = True
        return drained


class Screen(WatchScreen):
    """The real screen, drawn into a buffer, remembering what each check showed."""

    def __init__(self, **kw):
        self.buffer = io.StringIO()
        super().__init__(Console(file=self.buffer, width=120), **kw)
        self.shown = []  # per check: the verdict's status, or "error: ..."
        self.events = []

    def checked(self, state):
        super().checked(state)
        self.shown.append(state.judged.result.verdict.status if state.judged else f"error: {state.error}")

    @contextmanager
    def grading(self, state):
        with super().grading(state) as progress:
            def both(event):
                self.events.append(event.EVENT)
                progress(event)

            yield both


def test_saves_and_keys_drive_real_checks_a_grade_and_a_hint(tmp_path):
    flow = Workflow(tmp_path / "work")
    flow.start("lesson1")
    file = flow.work_file("lesson1")
    file.write_text(TINY)
    warmed = []
    screen = Screen(quick=True)
    request = GradeRequest(None, options=GradeOptions(device="cpu", quick=True))
    loop = WatchLoop(flow, file, "lesson1", screen, request, warm=warmed.append)
    script = Script(file, [
        "g",  # a --quick grade of the passing file, with its progress
        f"save:{TOO_BIG}",  # over lesson1's parameter budget
        "h",  # the hint answers the criterion that just failed
        "save:class Net(:\n",  # a syntax error: shown, and the watch goes on
        f"save:{TINY}", CHANGED, CHANGED,  # a burst of saves is one check
        "x",  # an unknown key says which keys there are
        "q",
    ])
    summary = loop.run(script)

    assert summary.quit_by == "q" and summary.grades == 1 and summary.hints == 1
    assert screen.shown[0] == "passed" and screen.shown[1] == "failed"
    assert screen.shown[2].startswith("error: ") and "syntax error" in screen.shown[2]
    assert screen.shown[3:] == ["passed"] and summary.checks == 4  # the two extra saves were coalesced
    assert warmed == [file.resolve()]  # the zygote hook: once, as the watch starts
    assert screen.events[:2] == ["check", "start"] and "epoch" in screen.events  # the grade's progress was shown
    text = screen.buffer.getvalue()
    assert "SMOKE RUN" in text and "epoch 1/1: step" in text  # the grade's result, plain progress lines
    assert "about max_params, which your last run failed" in text
    assert "unknown key 'x'" in text and text.count("g grade") >= 4
    assert "159,010" in text and "< 100,000" in text
    # the verdicts went into the student's progress, as `course check` would record them
    last = flow.state().lesson("lesson1").last
    assert last.mode == "check" and last.status == "passed"


class FakeFlow:
    """A workflow stand-in for what a real one cannot be made to do on cue."""

    def __init__(self, grade_error=None):
        self.checks, self.grades, self.grade_error = 0, 0, grade_error
        self.launches = []  # what each check was handed to start its worker with

    def check(self, request, launch=None):
        from types import SimpleNamespace

        self.checks += 1
        self.launches.append(launch)
        verdict = SimpleNamespace(status="passed", message="ok", exit_code=0, criteria=[])
        return SimpleNamespace(result=SimpleNamespace(verdict=verdict, report={}))

    def grade(self, request, on_event=None):
        self.grades += 1
        if self.grade_error:
            raise self.grade_error
        raise AssertionError("not reached in these tests")

    def target(self, file, lesson):
        from types import SimpleNamespace

        return SimpleNamespace(file=Path(file).resolve(), lesson=lesson)


class QuietView:
    def __init__(self):
        self.messages, self.checked_at, self.steps = [], [], []

    def checking(self, state):
        self.steps.append((state.checks, state.phase))

    def screened(self, state):
        self.steps.append((state.checks, state.phase, state.refused))

    def checked(self, state):
        self.checked_at.append(state.checks)
        self.steps.append((state.checks, state.phase))

    @contextmanager
    def grading(self, state):
        yield lambda event: None

    def graded(self, state):
        pass

    def hint(self, answer):
        pass

    def message(self, text):
        self.messages.append(text)


def test_a_failed_or_interrupted_grade_keeps_watching_and_rechecks_saves_made_meanwhile(tmp_path):
    file = tmp_path / "model.py"
    file.write_text(TINY)
    for error, words in ((TrainingError("diverged"), "the grading stopped: diverged"),
                         (KeyboardInterrupt(), "grading interrupted")):
        flow, view = FakeFlow(error), QuietView()
        events = Events()
        for event in (Event(KEY, "g"), Event(CHANGED), Event(KEY, "h"), Event(KEY, "q")):
            events.put(event)
        # the `changed` sits in the queue while the grade runs: drained after it, and checked once
        summary = WatchLoop(flow, file, None, view).run(events)
        assert summary.quit_by == "q" and flow.grades == 1 and summary.grades == 0
        assert flow.checks == 2 and words in view.messages[0]
        assert "hints belong to a lesson" in view.messages[1]  # no lesson: nothing to hint about


def test_real_file_events_trigger_a_recheck(tmp_path):
    file = tmp_path / "model.py"
    file.write_text(TINY)
    (tmp_path / "other.py").write_text("")
    read_end, write_end = os.pipe()
    keys = os.fdopen(read_end, "r")
    view, flow = QuietView(), FakeFlow()
    done = {}
    runner = threading.Thread(target=lambda: done.update(summary=watch(flow, None, view, file=file, stream=keys,
                                                                       warm_workers=False)))
    runner.start()
    try:
        _wait(lambda: view.checked_at == [1], "the first check")
        time.sleep(0.5)  # let the watcher start before saving
        (tmp_path / "other.py").write_text("x = 1\n")  # another file in the folder is not a save of this one
        file.write_text(TINY + "\n# edited\n")
        _wait(lambda: len(view.checked_at) >= 2, "a check after the save")
        time.sleep(1.0)
        assert view.checked_at == [1, 2]  # one save, one check; other.py changed nothing
    finally:
        os.write(write_end, b"q\n")
        os.close(write_end)
        runner.join(timeout=10)
    assert not runner.is_alive() and done["summary"].quit_by == "q"


def test_the_watcher_sees_an_editor_that_saves_by_renaming(tmp_path):
    file = tmp_path / "model.py"
    file.write_text(TINY)
    events = Events()
    FileWatcher(file, events).start()
    time.sleep(0.5)
    tmp = tmp_path / ".model.py.swp-new"
    tmp.write_text(TINY + "\n# saved by rename\n")
    os.replace(tmp, file)
    try:
        event = _get(events, 10)
        assert event is not None and event.kind == CHANGED
    finally:
        events.stop.set()


def _get(events: Events, timeout: float):
    import queue

    try:
        return events.queue.get(timeout=timeout)
    except queue.Empty:
        return None


def _wait(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_warm_workers_start_with_the_watch_a_check_waits_for_them_a_grade_does_not(tmp_path):
    """The zygote starts in the background when the watch does; a check waits for it, a grade never does."""
    from grader.watch import WarmWorkers

    flow = Workflow(tmp_path / "work")
    file = tmp_path / "model.py"
    file.write_text(TINY)
    warm = WarmWorkers()
    assert warm.launch() is None and warm.launch(wait=True) is None  # nothing started: nothing to wait for
    try:
        warm(file)
        launch = warm.launch(wait=True)  # started, waited for, up
        assert launch is not None and warm.launch() is not None
        time.sleep(1.0)
        # still alive once started: the zygote dies with the thread that started it, which stays until close
        for _ in range(2):
            assert flow.check(GradeRequest(file), launch=launch).result.verdict.status == "passed"
    finally:
        warm.close()


REFUSED = TINY.replace("import torch", "import os\nimport torch", 1)


def test_a_save_shows_checking_then_the_policy_then_the_check(tmp_path):
    """Each step is drawn as soon as it is known; a file the policy refuses starts no worker."""
    file = tmp_path / "model.py"
    file.write_text(TINY)
    launched = []

    def launch(wait=False):
        launched.append(wait)
        return "warm"

    flow, view = FakeFlow(), QuietView()
    script = Script(file, [f"save:{REFUSED}", f"save:{TINY}"])
    WatchLoop(flow, file, None, view, launch=launch).run(script)
    checks = [[step[1:] for step in view.steps if step[0] == n] for n in (1, 2, 3)]
    assert checks[0] == [("checking",), ("screened", None), ("checked",)]
    assert checks[1][0] == ("checking",) and checks[1][2] == ("checked",)
    assert checks[1][1][0] == "screened" and re.search(r"model\.py:\d+:1: import of 'os'", checks[1][1][1])
    assert checks[2] == checks[0]
    assert launched == [True, True] and flow.launches == ["warm", None, "warm"]  # the refused save: no worker


def test_the_screen_shows_checking_and_the_refusals_once(tmp_path):
    from grader.watch import policy_findings

    file = tmp_path / "model.py"
    file.write_text(REFUSED)
    screen = Screen()
    state = WatchLoop(FakeFlow(), file, None, screen).state
    state.checks, state.refused = 1, None
    screen.checking(state)
    assert "checking model.py ..." in screen.buffer.getvalue()
    state.refused = policy_findings(file, None)
    screen.screened(state)
    state.error = state.refused  # the full check refuses the same lines
    screen.checked(state)
    text = screen.buffer.getvalue()
    assert text.count("import of 'os'") == 1, text  # drawn by the policy's step, not again by the check's
    assert "fix these lines and save" in text and text.rstrip().endswith("q quit")
    assert policy_findings(tmp_path / "missing.py", None) is None  # left to the full check to word


def _checked_state(rf: dict):
    from datetime import datetime
    from types import SimpleNamespace

    from grader.course.verdict import FAILED, CriterionResult, Verdict

    verdict = Verdict(FAILED, [CriterionResult("max_params", "Parameters", "23,860", "< 20,000", False)],
                      message="failed: Parameters 23,860 (needs < 20,000); see `course hint` for what to change next")
    result = SimpleNamespace(report={"params": 23_860, "rf": rf}, verdict=verdict)
    return SimpleNamespace(lesson="lesson1", file=Path("/home/student/course/work/lesson1/model.py"), checks=3,
                           checked_at=datetime(2026, 11, 23, 10, 0, 0), error=None, refused=None,
                           judged=SimpleNamespace(result=result))


def test_the_screen_says_where_the_receptive_field_is_and_fits_80_columns():
    for width in (80, 100):
        for manual, quick in ((False, False), (True, True)):
            buffer = io.StringIO()
            screen = WatchScreen(Console(file=buffer, width=width, color_system=None), manual=manual, quick=quick)
            screen.checked(_checked_state({"rf_before_global_pool": 6, "rf_final": 6,
                                           "where": "at the output (no global pooling)"}))
            shown = buffer.getvalue()
            assert "receptive field: 6 at the output (no global pooling)" in shown
            assert "before global pooling" not in shown and "(lesson 1)" in shown
            lines = shown.splitlines()
            assert max(len(line) for line in lines) <= width
            assert lines[-1].split() == ["g", "grade", "h", "hint", "Enter", "check", "again", "q", "quit"]
            assert lines[-2].endswith(".")  # the footer's first line, whole: nothing wrapped onto the keys line
