"""grader.channel: the waits of the process that talks to children let Ctrl-C in."""

import queue
import signal
import threading
import time

import pytest

from grader.channel import POLL_S, next_event, poll_get


def _sigint_to_another_thread(after: float) -> None:
    """Deliver SIGINT to a thread other than the main one, as the OS may do with a terminal's Ctrl-C."""

    def deliver():
        time.sleep(after)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    threading.Thread(target=deliver, daemon=True).start()


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill (POSIX)")
@pytest.mark.parametrize("wait", [lambda q: poll_get(q), lambda q: poll_get(q, 30),
                                  lambda q: next_event(q, time.monotonic() + 30)])
def test_ctrl_c_delivered_to_another_thread_stops_a_wait_on_an_idle_queue(wait):
    started = time.monotonic()
    _sigint_to_another_thread(0.3)
    with pytest.raises(KeyboardInterrupt):
        wait(queue.Queue())  # nothing ever arrives: a plain q.get() would sleep through the Ctrl-C
    assert time.monotonic() - started < 0.3 + 10 * POLL_S


def test_poll_get_returns_items_and_times_out():
    q = queue.Queue()
    threading.Timer(0.4, q.put, args=("late",)).start()
    assert poll_get(q, 5) == "late"  # an item that comes after several slices
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        poll_get(q, 0.6)
    assert 0.5 < time.monotonic() - started < 3
    assert next_event(q, time.monotonic() - 1) is None  # a deadline already past
