"""grader.batch.local_pool: a batch on this machine stops on Ctrl-C even while a grading hangs."""

import signal
import threading
import time

import pytest

from grader.batch import local_pool
from grader.batch.job import JobSpec
from grader.batch.local_pool import LocalPool


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill (POSIX)")
def test_ctrl_c_that_lands_on_a_grading_thread_still_stops_the_batch(monkeypatch):
    hung = threading.Event()

    def grade_job(spec, emit, launch):
        hung.set()
        time.sleep(0.5)  # the batch's main thread is waiting by now
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # the OS picked this thread for the Ctrl-C
        threading.Event().wait(60)  # a submission stuck in Net(): no event, no result
        return {"record": None}

    monkeypatch.setattr(local_pool, "grade_job", grade_job)
    monkeypatch.setattr(local_pool, "JOIN_S", 0.5)
    results = []
    started = time.monotonic()
    stopped = LocalPool(["cpu"], warm=False).run([JobSpec("zed", "model.py", "zed.py")], lambda event: None,
                                                 lambda spec, result: results.append(result))
    assert hung.is_set() and stopped is True and results == []
    assert time.monotonic() - started < 10  # not the 60 s the grading would have hung
