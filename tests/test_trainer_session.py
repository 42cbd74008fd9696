"""The trainer's session: how often a run reports progress (each report is a host sync on a GPU)."""

from grader.trainer.session import ProgressPacer


class Clock:
    def __init__(self, step_seconds: float):
        self.t, self.step_seconds = 0.0, step_seconds

    def __call__(self) -> float:
        self.t += self.step_seconds
        return self.t


def _reported(steps: int, step_seconds: float) -> list[int]:
    pacer = ProgressPacer(steps, min_interval=0.25, clock=Clock(step_seconds))
    return [s for s in range(1, steps + 1) if pacer.due(s, steps)]


def test_a_slow_epoch_reports_twenty_times_and_its_last_step():
    shown = _reported(469, step_seconds=0.06)  # a CPU epoch: about 28 s
    assert len(shown) == 21 and shown[0] == 23 and shown[-1] == 469  # every 23rd step, then the end


def test_a_fast_epoch_reports_a_few_times_a_second_at_most():
    shown = _reported(469, step_seconds=0.0005)  # a GPU epoch: about 0.25 s
    assert shown == [23, 469]  # one update on the way (the first is due at once), then the end, not 21 syncs


def test_a_tiny_epoch_reports_its_only_step():
    assert _reported(1, step_seconds=1.0) == [1]
