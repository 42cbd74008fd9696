"""grader.host.rooms: a grading's rooms go when it ends, and the next grading sweeps what a killed one left."""

import os
import signal
import subprocess
import sys
import time

import pytest

from grader.host import rooms
from grader.host.rooms import Rooms, sweep_stale
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(rooms.fcntl is None, reason="the sweep needs flock (not on Windows)")

OWNER = """
import sys, time
from grader.host.rooms import Rooms
r = Rooms(sys.argv[1])
(r.worker / "train-images-idx3-ubyte").write_bytes(b"x" * 1000)
print(r.root, flush=True)
time.sleep(120)
"""


def _owner(base):
    """A process that holds a room, as a grading does while it runs; returns (process, its room)."""
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(base)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    root = proc.stdout.readline().strip()
    assert root, "the owner never made its room"
    return proc, root


def test_a_room_goes_when_its_grading_closes_it(tmp_path):
    r = Rooms(tmp_path)
    assert r.worker.is_dir() and r.evaluator.is_dir() and r.handed.is_dir()
    r.close()
    assert list(tmp_path.iterdir()) == []


def test_a_killed_gradings_room_is_swept_and_a_live_ones_is_not(tmp_path):
    live, live_root = _owner(tmp_path)
    dead, dead_root = _owner(tmp_path)
    try:
        os.kill(dead.pid, signal.SIGKILL)  # no finally, no atexit: what a forced Ray cancel does
        dead.wait(10)
        assert os.path.isdir(dead_root)
        fresh = Rooms(tmp_path)  # every grading sweeps first
        assert not os.path.exists(dead_root)
        assert os.path.isdir(live_root) and os.path.isfile(os.path.join(live_root, "worker", "train-images-idx3-ubyte"))
        fresh.close()
    finally:
        live.kill()
        live.wait(10)
    assert sweep_stale(tmp_path) == [tmp_path / os.path.basename(live_root)]
    assert list(tmp_path.iterdir()) == []


RAY_OWNER = """
import sys, time
from grader.host.rooms import RAY_PREFIX, LockedFolder
owned = LockedFolder(RAY_PREFIX, sys.argv[1])
folder = owned.root
(folder / "student.py").write_text("class Net: ...")
print(folder, flush=True)
time.sleep(120)
"""


def test_a_killed_ray_tasks_folder_with_the_students_file_is_swept_too(tmp_path):
    """A Ray task copies the submission into a folder of its own; a forced cancel kills its worker mid-grading."""
    proc = subprocess.Popen([sys.executable, "-c", RAY_OWNER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    folder = proc.stdout.readline().strip()
    assert os.path.basename(folder).startswith(rooms.RAY_PREFIX)
    assert sweep_stale(tmp_path) == []  # alive: kept
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert os.path.isfile(os.path.join(folder, "student.py"))
    Rooms(tmp_path).close()  # the next grading's sweep
    assert list(tmp_path.iterdir()) == []


def test_a_locked_folder_goes_when_its_block_ends(tmp_path):
    with rooms.LockedFolder(rooms.RAY_PREFIX, tmp_path) as folder:
        (folder / "student.py").write_text("x")
    assert list(tmp_path.iterdir()) == []


def test_unlocked_rooms_go_only_when_a_day_old_and_other_folders_stay(tmp_path):
    old = tmp_path / (rooms.PREFIX + "old")  # left by a version before locks
    new = tmp_path / (rooms.PREFIX + "new")  # being created this instant, its lock not taken yet
    other = tmp_path / "course-notes"
    for d in (old, new, other):
        (d / "worker").mkdir(parents=True)
    day_ago = time.time() - rooms.UNLOCKED_AGE_S - 60
    os.utime(old, (day_ago, day_ago))
    os.utime(other, (day_ago, day_ago))
    assert sweep_stale(tmp_path) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([new.name, other.name])


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads a child's descriptors from /proc")
def test_the_lock_is_not_handed_to_a_child(tmp_path):
    """A child started while a room is open must not keep its lock: the room would outlive a killed owner.

    close_fds=False hands the child every inheritable descriptor, so only the lock's own flag keeps it out."""
    r = Rooms(tmp_path)
    try:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], close_fds=False)
        try:
            held = (tmp_path / r.root.name / rooms.LOCK_FILE)
            time.sleep(0.5)  # the child has exec'd: what it holds now is what it inherited
            fds = os.listdir(f"/proc/{child.pid}/fd")
            targets = {os.path.realpath(f"/proc/{child.pid}/fd/{fd}") for fd in fds}
            assert str(held.resolve()) not in targets
        finally:
            child.kill()
            child.wait(10)
    finally:
        r.close()
