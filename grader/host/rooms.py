"""The temporary directories of one grading, and the sweep that removes the ones a killed grading left behind.

A grading removes its rooms when it ends. A parent killed outright cannot: a forced Ray cancel, `kill -9`, a node
that lost power. Each room therefore holds an advisory lock (flock) on a file inside it for as long as its grading
runs; the kernel drops the lock when the process dies, however it dies. Every new grading first sweeps the
temporary folder: a room whose lock it can take has no living owner, and goes (with its copy of the data).
The same holds for the folder a Ray task copies a student's file into (`LockedFolder(RAY_PREFIX)`): a Ray worker
killed by a cancel or a cluster's shutdown would leave it, with the submission, for good.
Windows has no flock: there, rooms a killed grading leaves stay until the temporary folder is cleaned.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

PREFIX = "course-grading-"
RAY_PREFIX = "course-ray-"
SWEPT = (PREFIX, RAY_PREFIX)  # every folder kind that holds a lock while its owner lives
LOCK_FILE = ".owner.lock"
# A room without a lock file is either being created this instant or was left by a version before locks; only
# the second can be this old (no grading runs for a day: the lessons' time limits are an hour at most).
UNLOCKED_AGE_S = 24 * 3600


class LockedFolder:
    """A temporary directory locked for its owner's life: removed by close(), or by a later sweep if the owner died."""

    def __init__(self, prefix: str, base: str | os.PathLike | None = None):
        sweep_stale(base)
        self._tmp = tempfile.TemporaryDirectory(prefix=prefix, dir=base)
        self.root = Path(self._tmp.name).resolve()
        self._lock_fd = _hold_lock(self.root / LOCK_FILE)

    def close(self) -> None:
        """Remove the folder, then let the lock go (a sweep never races the removal)."""
        try:
            self._tmp.cleanup()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> Path:
        return self.root

    def __exit__(self, *exc) -> None:
        self.close()


class Rooms(LockedFolder):
    """The worker's room, the trainer's, the evaluator's, and the parent's own copies (handed), under one locked
    directory."""

    def __init__(self, base: str | os.PathLike | None = None):
        super().__init__(PREFIX, base)
        self.worker, self.evaluator, self.handed = self.root / "worker", self.root / "evaluator", self.root / "handed"
        self.trainer = self.root / "trainer"
        for d in (self.worker, self.trainer, self.evaluator, self.handed):
            d.mkdir()


def _hold_lock(path: Path) -> int | None:
    if fcntl is None:
        return None
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)  # not inherited by children (PEP 446): the lock is ours
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def sweep_stale(base: str | os.PathLike | None = None) -> list[Path]:
    """Remove this user's locked folders under `base` (the temporary folder) whose owner is gone; returns them."""
    if fcntl is None:
        return []
    removed = []
    rooms = (room for prefix in SWEPT for room in Path(base or tempfile.gettempdir()).glob(prefix + "*"))
    for room in rooms:
        try:
            if room.is_symlink() or not room.is_dir() or room.stat().st_uid != os.getuid():
                continue
            if _abandoned(room):
                shutil.rmtree(room, ignore_errors=True)
                removed.append(room)
        except OSError:  # removed meanwhile by its owner or another sweep
            continue
    return removed


def _abandoned(room: Path) -> bool:
    try:
        # O_RDONLY, never O_CREAT: a sweep must not put a file back into a room its owner is removing
        fd = os.open(room / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return time.time() - room.stat().st_mtime > UNLOCKED_AGE_S
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its grading is alive
    finally:
        os.close(fd)  # drops our lock too: the room is removed next, and a live owner never had it taken
    return True
