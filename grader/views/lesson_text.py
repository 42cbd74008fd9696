"""A lesson's README in the terminal: prose as rich Markdown, code never wrapped, long lessons through a pager.

rich's Markdown wraps a code block at the terminal's width, so a long line of a block that a student copies
comes out broken over two lines (a syntax error in Python). Here every code block is printed line by line with
soft wrapping: no newline is ever inserted, so the terminal shows the line as it is and a copy gets it whole.
Table headers keep their full width (a header cut as "Kern-el" hides what an exercise asks about). A lesson
longer than the screen goes through the system pager when stdout is a terminal, as `git log` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.console import Console
from rich.markdown import Markdown, TableElement
from rich.syntax import Syntax
from rich.text import Text

CODE_THEME = "monokai"


@dataclass(frozen=True)
class Block:
    """A piece of a lesson: prose (Markdown) or one code block (its text, lexer, and how it was written)."""

    kind: str  # "prose" | "code"
    text: str
    lexer: str = "text"
    indented: bool = False  # a 4-space indented block (formulas) rather than a ``` fence


class _FullHeaderTable(TableElement):
    """A Markdown table whose columns are never narrower than their header: bodies may fold, headers never."""

    def __rich_console__(self, console, options):
        for table in super().__rich_console__(console, options):
            for column in table.columns:
                header = column.header
                width = header.cell_len if isinstance(header, Text) else len(str(header))
                column.min_width = max(column.min_width or 0, width)
                # a cell too wide folds onto a second line: a file name has no space to wrap at, and rich's default
                # would cut it to "compare_default_onecy…", a name the student cannot read
                column.overflow = "fold"
            yield table


class LessonMarkdown(Markdown):
    """rich's Markdown with full-width table headers."""

    elements = {**Markdown.elements, "table_open": _FullHeaderTable}


def split_blocks(text: str) -> list[Block]:
    """Cut Markdown into prose and top-level code blocks (fenced or indented), in order."""
    from markdown_it import MarkdownIt

    lines = text.splitlines()
    tokens = MarkdownIt().enable("strikethrough").enable("table").parse(text)
    blocks: list[Block] = []
    start = 0
    for token in tokens:
        if token.type not in ("fence", "code_block") or token.level != 0 or token.map is None:
            continue
        first, end = token.map
        if first > start:
            blocks.append(Block("prose", "\n".join(lines[start:first]).strip("\n")))
        lexer = (token.info or "").partition(" ")[0] or "text"
        blocks.append(Block("code", token.content.rstrip("\n"), lexer, token.type == "code_block"))
        start = end
    if start < len(lines):
        blocks.append(Block("prose", "\n".join(lines[start:]).strip("\n")))
    return [b for b in blocks if b.kind == "code" or b.text.strip()]


def _print_blocks(blocks: list[Block], console: Console) -> None:
    for i, block in enumerate(blocks):
        if i:
            console.print()
        if block.kind == "prose":
            console.print(LessonMarkdown(block.text, code_theme=CODE_THEME))
            continue
        syntax = Syntax(block.text, block.lexer, theme=CODE_THEME)
        indent = "    " if block.indented else ""
        lines = syntax.highlight(block.text).split("\n", allow_blank=True)
        while lines and not lines[-1].plain.strip():
            lines.pop()  # highlight() ends with a newline: no empty line of its own
        for line in lines:
            # soft_wrap: the line goes out whole, never cut into two at the console's width
            console.print(Text(indent) + line if indent else line, soft_wrap=True, highlight=False)


def render_lesson(text: str, console: Console, pager: bool | None = None) -> None:
    """Print a lesson's README (value markers stripped). pager None: page when stdout is a terminal and the
    lesson is taller than it; True/False force it (the tests never page: their console is not a terminal)."""
    from grader.authoring.docs import strip_markers

    blocks = split_blocks(strip_markers(text))
    if pager is None:
        pager = console.is_terminal and not console.is_dumb_terminal and _height(blocks, console) > console.height
    if not pager:
        _print_blocks(blocks, console)
        return
    # as git does: quit at once if it fits after all (F), keep colours (R), leave the text on screen (X)
    os.environ.setdefault("LESS", "FRX")
    with console.pager(styles=True):
        _print_blocks(blocks, console)


def _height(blocks: list[Block], console: Console) -> int:
    """Lines the lesson takes at the console's width, counting a soft-wrapped code line as the terminal will."""
    with console.capture() as captured:
        _print_blocks(blocks, console)
    width = max(console.width, 1)
    return sum(max(1, -(-Text.from_ansi(line).cell_len // width)) for line in captured.get().split("\n"))
