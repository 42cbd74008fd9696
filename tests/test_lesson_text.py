"""Lessons in the terminal: code lines never wrap, table headers stay whole, long lessons page only on a terminal."""

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from grader.authoring.docs import strip_markers
from grader.views.lesson_text import render_lesson, split_blocks

ROOT = Path(__file__).resolve().parent.parent
READMES = sorted((ROOT / "lessons").glob("lesson*/README.md"))
WIDTHS = (80, 100)


def _render(text, width, **kw):
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None, height=40, **kw)
    render_lesson(text, console)
    return console.export_text()


def _tables(text):
    """The header cells of every Markdown table outside code blocks."""
    headers = []
    for block in split_blocks(text):
        if block.kind != "prose":
            continue
        lines = block.text.splitlines()
        for i, line in enumerate(lines[:-1]):
            if line.startswith("|") and re.match(r"^\|[-:| ]+\|$", lines[i + 1].strip()):
                headers.append([c.strip() for c in line.strip().strip("|").split("|")])
    return headers


def test_the_eight_lessons_are_found():
    assert len(READMES) == 8


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name)
def test_code_lines_are_never_wrapped(readme, width):
    text = strip_markers(readme.read_text(encoding="utf-8"))
    shown = _render(text, width).splitlines()
    code = [("    " if b.indented else "") + line
            for b in split_blocks(text) if b.kind == "code" for line in b.text.splitlines() if line.strip()]
    stripped = {line.strip() for line in shown}
    broken = [line for line in code if line.strip() not in stripped]
    assert not broken, f"code lines cut in two at {width} columns: {broken}"
    # and the README keeps them short enough that a terminal of 80 columns does not fold them either
    long = [line for line in code if len(line) > 80]
    assert not long, f"code lines wider than 80 columns: {long}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name)
def test_table_headers_are_never_cut(readme, width):
    text = strip_markers(readme.read_text(encoding="utf-8"))
    shown = _render(text, width)
    for header in _tables(text):
        plain = [re.sub(r"[*`]", "", cell) for cell in header if cell]
        # each header row appears on one line, every cell whole and in order
        pattern = r"\s+".join(re.escape(cell) for cell in plain)
        assert re.search(pattern, shown), f"{readme.parent.name} at {width} columns: header {plain} is cut"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name)
def test_nothing_is_cut_short_with_an_ellipsis(readme, width):
    """A table cell rich cannot fit ends in "…": a file name a student cannot read, or a figure half shown."""
    text = strip_markers(readme.read_text())
    shown = _render(text, width)
    cut = [line.strip() for line in shown.splitlines() if "…" in line]
    assert shown.count("…") == text.count("…"), f"{readme.parent.name} at {width} columns: {cut}"  # the text's own stay


def test_the_seed_table_of_lesson_2_keeps_kernel_stride_padding():
    text = strip_markers((ROOT / "lessons" / "lesson2" / "README.md").read_text(encoding="utf-8"))
    shown = _render(text, 80)
    assert re.search(r"Kernel\s+Stride\s+Padding", shown)


def test_markers_are_stripped_and_code_is_kept_verbatim():
    text = ("# T\n\nSome <!-- value: params x.py -->1,234<!-- /value --> words.\n\n```python\n"
            + "x = 1  # " + "a" * 120 + "\n```\n\n    n_out = (n + 2p - k) / s + 1\n")
    shown = _render(text, 80)
    assert "Some 1,234 words." in shown and "value:" not in shown
    assert "x = 1  # " + "a" * 120 in shown.splitlines()  # one line, wider than the console
    assert "    n_out = (n + 2p - k) / s + 1" in shown.splitlines()


def test_split_blocks_keeps_order_and_kinds():
    blocks = split_blocks("para\n\n```py\na = 1\n```\n\n    indented\n\nend\n")
    assert [(b.kind, b.text, b.lexer, b.indented) for b in blocks] == [
        ("prose", "para", "text", False), ("code", "a = 1", "py", False),
        ("code", "indented", "text", True), ("prose", "end", "text", False)]


class _Pager:
    def __init__(self):
        self.used = 0

    def __call__(self, *args, **kwargs):
        pager = self

        class Context:
            def __enter__(self):
                pager.used += 1

            def __exit__(self, *exc):
                return False

        return Context()


def _terminal(monkeypatch, height):
    console = Console(width=80, height=height, file=io.StringIO(), force_terminal=True, color_system=None)
    pager = _Pager()
    monkeypatch.setattr(console, "pager", pager)
    return console, pager


def test_a_long_lesson_pages_on_a_terminal_and_a_short_one_does_not(monkeypatch):
    long_text = READMES[5].read_text(encoding="utf-8")
    console, pager = _terminal(monkeypatch, 40)
    render_lesson(long_text, console)
    assert pager.used == 1
    console, pager = _terminal(monkeypatch, 40)
    render_lesson("# Short\n\nOne line.\n", console)
    assert pager.used == 0
    console, pager = _terminal(monkeypatch, 40)
    render_lesson(long_text, console, pager=False)
    assert pager.used == 0


def test_never_pages_into_a_pipe_or_a_recording(monkeypatch):
    console = Console(width=80, height=10, file=io.StringIO(), record=True)
    assert not console.is_terminal
    pager = _Pager()
    monkeypatch.setattr(console, "pager", pager)
    render_lesson(READMES[5].read_text(encoding="utf-8"), console)
    assert pager.used == 0 and "Lesson 6" in console.export_text()
