"""The HTML leaderboard in a real headless browser: load the file, click a column header, the rows re-order.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 in, fd 4 out,
NUL-separated JSON), so no driver binary and no Python package beyond the standard library is needed.
The clicks are real input events (Input.dispatchMouseEvent at the header's on-screen centre).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from grader.gradebook import export, leaderboard, store
from tests.gradebook_records import make_record

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install -y chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1400,900"]


class Browser:
    """Just enough of the DevTools protocol: open a page, evaluate JavaScript, click at a point."""

    def __init__(self, timeout: float = 30):
        self.timeout, self.next_id, self.buffer = timeout, 0, b""
        self.profile = tempfile.mkdtemp(prefix="course-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def wire():  # in the child: the protocol pipes on fds 3 and 4, where Chromium expects them
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     pass_fds=(3, 4), preexec_fn=wire, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.session = None

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe: {self.proc.stderr.read().decode()[-2000:]}")
            self.buffer += chunk
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        # about:blank is "complete" too: wait for the page asked for, fully loaded
        while self.js("location.href + ' ' + document.readyState") != f"{url} complete":
            if time.monotonic() > deadline:
                raise TimeoutError(url)
            time.sleep(0.05)

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the element."""
        box = self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                      f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        try:
            self.session = None
            self.send("Browser.close")
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self.to_chrome)
            os.close(self.from_chrome)
            self.proc.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def page(tmp_path):
    conn = store.connect(":memory:")
    students = {"carol": (15_000, (98.0, 99.2, 99.5)), "alice": (9_000, (97.0, 99.45)),
                "bob": (30_000, (99.0, 99.6)), "dave": (4_000, (96.0, 98.9))}
    for name, (params, accs) in students.items():
        store.record_run(conn, make_record(name, params=params, accs=accs), student=name)
    rows = leaderboard.build(conn)
    path = tmp_path / "board.html"
    export.write(rows, "html", path)
    browser = Browser()
    try:
        browser.open(path.as_uri())
        yield browser, rows
    finally:
        browser.close()


def shown(browser) -> list[str]:
    """The student column, top to bottom, as the page shows it now."""
    return browser.js("Array.from(document.querySelectorAll('table.board tbody tr'))"
                      f".map(r => r.cells[{column('student')}].textContent)")


def header(name: str) -> str:
    return f"table.board thead th:nth-child({column(name) + 1})"


def column(name: str) -> int:
    index = [h for h, *_ in export._COLUMNS].index(name)
    return index + (index >= export.CURVE_AT)


def test_clicking_headers_sorts_the_table(page):
    browser, rows = page
    assert shown(browser) == [r.student for r in rows] == ["alice", "carol", "dave", "bob"]  # ranked

    browser.click(header("params"))
    by_params = sorted(rows, key=lambda r: r.params)
    assert shown(browser) == [r.student for r in by_params] == ["dave", "alice", "carol", "bob"]
    assert browser.js(f"document.querySelector('{header('params')}').getAttribute('aria-sort')") == "ascending"

    browser.click(header("params"))
    assert shown(browser) == [r.student for r in reversed(by_params)]

    browser.click(header("student"))
    assert shown(browser) == ["alice", "bob", "carol", "dave"]

    browser.click(header("best acc %"))
    assert shown(browser) == [r.student for r in sorted(rows, key=lambda r: r.best_acc)]


def test_every_row_has_a_sparkline_and_nothing_is_fetched(page):
    browser, rows = page
    points = browser.js("Array.from(document.querySelectorAll('svg.spark polyline'))"
                        ".map(p => p.getAttribute('points').split(' ').length)")
    assert points == [len(r.curve) for r in rows]
    resources = browser.js("performance.getEntriesByType('resource').length")
    assert resources == 0


# ------------------------------------------------------------------------------------- the board's layout

SHOTS = os.environ.get("COURSE_SCREENSHOTS")  # a folder to keep the screenshots in (they go to tmp_path otherwise)


@pytest.fixture
def class_board(tmp_path):
    """A class as an instructor sees it: passes, failed criteria, a syntax error, a timeout, smoke runs."""
    conn = store.connect(":memory:")
    for i, (name, params, accs) in enumerate([("alice", 9_000, (98.0, 99.2, 99.45)), ("bob", 15_500, (99.0, 99.41)),
                                              ("a_student_with_a_rather_long_name", 30_000, (99.0, 99.6)),
                                              ("dave", 4_000, (96.0, 98.9)), ("eve", 12_000, (97.5, 99.1, 99.3))]):
        store.record_run(conn, make_record(name, params=params, accs=accs), student=name,
                         submitted_at=f"2026-11-2{i}T10:00:00+00:00")
    store.record_run(conn, make_record("frank", params=8_000, accs=(95.0,), quick=True), student="frank")
    store.record_run(conn, make_record("gina", params=25_000, accs=(94.0,), quick=True), student="gina")
    bad = tmp_path / "henry.py"
    bad.write_text("class Net(:\n")
    store.record_error(conn, file=bad, lesson="lesson6", seed=0, kind="policy", student="henry",
                       message="henry.py:1:11: syntax error: invalid syntax")
    store.record_error(conn, file=bad, lesson="lesson6", seed=0, kind="worker", student="ivan",
                       message="timed out after 2100 s; the grading (training and evaluation) was stopped")
    rows = leaderboard.build(conn)
    path = tmp_path / "board.html"
    export.write(rows, "html", path, title="Leaderboard: lesson6")
    browser = Browser()
    try:
        browser.open(path.as_uri())
        yield browser, rows, tmp_path
    finally:
        browser.close()


def _at_width(browser, width: int) -> None:
    browser.send("Emulation.setDeviceMetricsOverride", width=width, height=800, deviceScaleFactor=1, mobile=False)


def _screenshot(browser, path) -> None:
    import base64

    png = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
    path.write_bytes(base64.b64decode(png))


@pytest.mark.parametrize("width", [1200, 800])
def test_the_board_fits_the_window_with_its_reasons_and_smoke_marks(class_board, width):
    browser, rows, tmp_path = class_board
    _at_width(browser, width)
    # nothing scrolls sideways: not the page, and not the table inside its box
    page = browser.js("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    box = browser.js("(() => { const b = document.querySelector('.scroll'); "
                     "return [b.scrollWidth, b.clientWidth]; })()")
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    _screenshot(browser, folder / f"leaderboard-{width}.png")
    assert page[0] <= page[1] <= width, page  # the client area is the window less a vertical scroll bar
    assert box[0] <= box[1], box
    reasons = browser.js(f"Array.from(document.querySelectorAll('table.board tbody tr'))"
                         f".map(r => [r.cells[{column('student')}].textContent, r.cells[{column('why not passed')}]"
                         f".innerText, r.cells[{column('why not passed')}].offsetWidth > 0])")
    why = {name: text for name, text, visible in reasons if visible}
    assert why["henry"] == "syntax error at line 1: invalid syntax"
    assert why["ivan"].startswith("timed out after 2100 s")
    assert why["eve"].startswith("failed: ") and "99.4" in why["eve"]
    assert why["alice"] == ""
    smoke = browser.js("Array.from(document.querySelectorAll('tr.quick'))"
                       f".map(r => r.cells[{column('student')}].textContent)")
    assert sorted(smoke) == ["frank", "gina"]
