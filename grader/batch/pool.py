"""What the batch's head asks of a pool that runs its jobs (grader.batch.local_pool, grader.batch.ray_pool)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from grader.batch.job import JobSpec
from grader.events import BatchEvent


@runtime_checkable
class Pool(Protocol):
    """Runs a batch's jobs somewhere and hands each result back to the head, which alone writes the gradebook."""

    def describe(self) -> tuple[list[str], int]:
        """(devices, jobs at a time), for the batch's first line."""
        ...

    def run(self, specs: list[JobSpec], emit: Callable[[BatchEvent], None],
            on_result: Callable[[JobSpec, dict[str, Any]], None]) -> bool:
        """Run every job; `on_result(spec, result)` in the caller's thread as each ends. True when Ctrl-C stopped it."""
        ...


# A pool, or a function of the number of gradings to run that makes one, so that a cluster starts only when
# there is something to grade (grader.batch.ray_pool.pool_factory).
PoolSource = Pool | Callable[[int], Pool]
