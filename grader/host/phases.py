"""Which call into the submission's code the worker is in, and how long it may take: so that a `forward` that never
returns ends `course check` within seconds, naming the call, instead of at the check's two-minute timeout.

Before each call into the submission's code the worker emits a grader.events.Phase (grader.worker.session,
grader.worker.report). The parent gives each phase a budget of its own, measured on the honest models with a wide
margin; the check's (or grading's) overall deadline still bounds them all.
"""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass

from grader.channel import next_event
from grader.errors import IntegrityError, SubmissionError
from grader.events import Described, Failed, Phase

# Seconds each phase may take. Measured in fresh workers on a 2-core machine under a load of 4-5 (every solution,
# the lesson-7 candidates and tests/models): importing a model file at most 0.012 s, Net() 0.011 s, the contract
# (lazy shapes, forward on 2 images in train and eval mode, torchsummary's pass) 2.4 s, the export 8.0 s cold
# (a GRU, which the policy allows, 12.6 s). The budgets are 4x and more the worst honest figure.
BUDGETS_S = {"import": 10.0, "build": 10.0, "contract": 10.0, "export": 60.0, "optimizer": 10.0}
# A grading's worker shares the CPU with the trainer and the evaluator as they start: its phases get twice as long.
GRADING_SCALE = 2.0
HUNG = {
    "import": "importing the file did not finish within {s:g} s: code at the top level runs when the file is "
              "imported (a loop that never ends?); keep it in functions or under `if __name__ == \"__main__\":`",
    "build": "Net() did not return within {s:g} s: __init__ never finished (a loop that never ends?)",
    "contract": "forward() did not return within {s:g} s on 2 images (the contract check runs it on a batch of 2, "
                "in train and in eval mode); look for a loop in forward() that never ends",
    "export": "exporting forward() did not finish within {s:g} s (the grader traces it once to build its "
              "program); look for a loop in forward() that runs a very long time",
    "optimizer": "make_optimizer() did not return within {s:g} s (a loop that never ends?)",
}


@dataclass
class Phases:
    """The worker's current phase and when it runs out; `scale` widens every budget (a grading shares the CPU
    with the trainer and the evaluator as they start)."""

    deadline: float  # the overall one, time.monotonic()
    scale: float = 1.0
    name: str | None = None
    until: float = math.inf

    def watch(self, events: queue.Queue, worker) -> Iterator[tuple]:
        """(child, event) pairs as grader.channel.drain yields them, the worker's phase events consumed here; raises
        a SubmissionError naming the call when a phase runs out before the overall deadline."""
        while (item := next_event(events, min(self.deadline, self.until))) is not None:
            child, event = item
            if child is worker and isinstance(event, Phase):
                self._start(event.name)
                continue
            if child is worker and isinstance(event, (Described, Failed)):
                self.name, self.until = None, math.inf  # the worker's calls are over
            yield item
        if self.name is not None and self.until < self.deadline:
            raise SubmissionError(HUNG[self.name].format(s=BUDGETS_S[self.name] * self.scale) + worker.tail())

    def _start(self, name: str) -> None:
        if name not in BUDGETS_S:
            raise IntegrityError(f"the worker announced an unknown phase {name[:40]!r}; this run cannot be trusted")
        self.name, self.until = name, time.monotonic() + BUDGETS_S[name] * self.scale
