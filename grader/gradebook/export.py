"""Leaderboard exports: CSV and JSON with every figure, Markdown, a self-contained HTML page, Gradescope results."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path

from grader import atomic
from grader.course.verdict import SMOKE
from grader.errors import UsageError
from grader.gradebook.leaderboard import Row
from grader.gradescope import results as gradescope
from grader.views.words import device_text

FORMATS = ("csv", "json", "md", "html", "gradescope")
# Flat columns for CSV: every Row field; lists are joined (curve by spaces, failed criteria by commas).
CSV_COLUMNS = [f.name for f in fields(Row) if f.name != "criteria"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# A spreadsheet reads a cell that starts with one of these as a formula (=HYPERLINK(...), +cmd, @SUM ...).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: text that would start a formula gets a leading ' (OWASP's advice).

    Names, paths and messages come from students (a class folder names its students by their files); numbers are
    written as they are, so a figure stays a number.
    """
    text = _cell(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


def to_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    # RFC 4180's CRLF rows: with them the writer quotes a cell holding a lone CR, which would otherwise end a row
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        d = asdict(r)
        d["curve"] = " ".join(repr(a) for a in r.curve)
        d["failed"] = ",".join(r.failed)
        writer.writerow([csv_cell(d[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def to_json(rows: list[Row], generated: str | None = None) -> str:
    return json.dumps({"generated": generated or _now(), "rows": [asdict(r) for r in rows]}, indent=2) + "\n"


def _acc(value) -> str:
    return "" if value is None else f"{value:.2f}"


# Backslash-escaped in a Markdown cell: what could open a link, an image, code or emphasis, or end the cell.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_cell(value) -> str:
    """A Markdown table cell that renders as the text it holds: HTML as text, no link, image or cell break."""
    text = " ".join(_cell(value).split())  # a newline would end the table row
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


MD_TEXT = ("student", "lesson", "status", "device", "why not passed")


def to_markdown(rows: list[Row]) -> str:
    head = ["rank", "student", "lesson", "status", "params", "RF", "best acc %", "last acc %", "epochs to target",
            "epochs", "seed", "device", "why not passed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if h in MD_TEXT else "---:" for h in head) + "|"]
    for r in rows:
        cells = [r.rank, r.student, r.lesson or "course target", status_text(r),
                 f"{r.params:,}" if r.params is not None else "", r.rf, _acc(r.best_acc), _acc(r.last_acc),
                 r.epochs_to_target, r.epochs_run, r.seed, r.device_name, r.reason]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def status_text(r: Row) -> str:
    """The status as a board shows it: a --quick run says so, whatever its status."""
    if r.status == SMOKE:
        return "smoke run"
    return r.status + (" (smoke run)" if r.quick else "")


# ------------------------------------------------------------------------------------------------- html

# Fits a 1,200 px window: headers wrap, names, reasons and devices wrap in a bounded width. Narrower, the
# provenance columns go first (below 1,000 px), then lesson, RF and epochs (900), then the curve and epochs to
# target (700); what still does not fit scrolls inside its own box, never the page.
_STYLE = """
body { font: 13px/1.35 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.6em; margin: 0 0 .3em; }
p.about { color: #555; margin: 0 0 .8em; max-width: 60em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; }
th, td { padding: 3px 5px; border-bottom: 1px solid #ddd; text-align: right; vertical-align: top; }
td { white-space: nowrap; }
th { background: #f4f4f4; cursor: pointer; user-select: none; vertical-align: bottom; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td.text, th.text { text-align: left; }
td.wrap { white-space: normal; min-width: 12em; max-width: 18em; overflow-wrap: anywhere; }
td.name { white-space: normal; min-width: 6em; max-width: 10em; overflow-wrap: anywhere; }
td.device, td.when { white-space: normal; max-width: 7em; }
.passed { color: #17702b; font-weight: bold; } .failed, .error { color: #b3261e; font-weight: bold; }
.smoke { color: #8a6d00; font-weight: bold; }
tr.quick td { background: #fff8e1; }
.badge { display: inline-block; padding: 0 4px; border-radius: 3px; background: #8a6d00; color: #fff;
         font-size: 11px; font-weight: normal; }
@media (max-width: 1000px) { .wide { display: none; } }
@media (max-width: 900px) { .medium { display: none; } }
@media (max-width: 700px) { .narrow { display: none; } body { margin: .5em; } }
"""

# Click a header: sort by that column, ascending; click it again: descending. Empty cells stay last.
_SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("thead th[data-type]").forEach(function (th) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var col = th.cellIndex, numeric = th.dataset.type === "number";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var d = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

# (header, Row attribute, type for sorting, how to show it)
_COLUMNS = [
    ("rank", "rank", "number", str),
    ("student", "student", "text", str),
    ("lesson", "lesson", "text", lambda v: v or "course target"),
    ("status", "status", "text", str),
    ("why not passed", "reason", "text", str),
    ("params", "params", "number", lambda v: f"{v:,}"),
    ("RF", "rf", "number", str),
    ("best acc %", "best_acc", "number", lambda v: f"{v:.2f}"),
    ("last acc %", "last_acc", "number", lambda v: f"{v:.2f}"),
    ("epochs to target", "epochs_to_target", "number", str),
    ("epochs", "epochs_run", "number", str),
    ("seed", "seed", "number", str),
    ("time s", "duration", "number", lambda v: f"{v:.1f}"),
    ("submitted", "submitted_at", "text", lambda v: v[:16].replace("T", " ")),
    ("device", "device_name", "text", device_text),
]
# Classes a cell takes by its column: how it wraps, and below which window width it is hidden (see _STYLE).
_CELL_CLASS = {"student": "name", "reason": "wrap", "device_name": "device wide", "seed": "wide", "duration": "wide",
               "submitted_at": "when wide", "last_acc": "wide", "rf": "medium", "epochs_run": "medium",
               "lesson": "medium", "epochs_to_target": "narrow"}

CURVE_AT = [c[1] for c in _COLUMNS].index("last_acc") + 1  # the sparkline column sits beside the accuracies


def sparkline(curve: list[float], lo: float, hi: float, target: float | None = None, width: int = 120,
              height: int = 28) -> str:
    """An inline SVG of test accuracy per epoch, on a scale shared by the whole page."""
    if not curve:
        return ""
    span = max(hi - lo, 1e-9)

    def y(acc: float) -> float:
        return round(height - 2 - (min(max(acc, lo), hi) - lo) / span * (height - 4), 2)

    step = (width - 4) / max(len(curve) - 1, 1)
    points = " ".join(f"{round(2 + i * step, 2)},{y(a)}" for i, a in enumerate(curve))
    title = "test accuracy per epoch: " + ", ".join(f"{a:.2f}" for a in curve)
    parts = [f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f"<title>{html.escape(title)}</title>"]
    if target is not None and lo <= target <= hi:
        parts.append(f'<line x1="0" x2="{width}" y1="{y(target)}" y2="{y(target)}" '
                     'stroke="#999" stroke-dasharray="3,3"/>')
    if len(curve) == 1:
        parts.append(f'<circle cx="{width / 2}" cy="{y(curve[0])}" r="2.5" fill="#1a5fb4"/>')
    else:
        parts.append(f'<polyline points="{points}" fill="none" stroke="#1a5fb4" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def _classes(kind: str, attr: str) -> str:
    return " ".join(c for c in ("text" if kind == "text" else "", _CELL_CLASS.get(attr, "")) if c)


def to_html(rows: list[Row], title: str = "Leaderboard", generated: str | None = None) -> str:
    """One self-contained page: inline CSS, inline script, inline SVG; nothing fetched from anywhere."""
    values = [a for r in rows for a in r.curve] + [r.target for r in rows if r.target is not None and r.curve]
    hi = max(values, default=100.0)
    lo = min(values, default=0.0)
    lo = min(lo, hi - 1.0)  # at least one point of accuracy on the scale, so flat curves stay readable
    heads = [f'<th data-type="{t}" class="{_classes(t, a)}">{html.escape(h)}</th>' for h, a, t, _ in _COLUMNS]
    heads.insert(CURVE_AT, '<th class="narrow">curve</th>')
    head = "".join(heads)
    body = []
    for r in rows:
        cells = []
        for _, attr, kind, show in _COLUMNS:
            v = getattr(r, attr)
            shown = html.escape("" if v is None else show(v))
            if attr == "status":
                shown = html.escape("smoke run" if r.status == SMOKE else r.status) + (
                    ' <span class="badge">smoke run</span>' if r.quick and r.status != SMOKE else "")
            classes = _classes(kind, attr) + (f" {html.escape(r.status)}" if attr == "status" else "")
            cells.append(f'<td data-value="{html.escape(_cell(v))}" class="{classes.strip()}">{shown}</td>')
        cells.insert(CURVE_AT, f'<td class="narrow">{sparkline(r.curve, lo, hi, r.target, width=80)}</td>')
        body.append(('<tr class="quick">' if r.quick else "<tr>") + "".join(cells) + "</tr>")
    stamp = generated or _now()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
<p class="about">{len(rows)} rows, generated {html.escape(stamp)}. Click a column header to sort. Curves: test
accuracy per epoch, {lo:.2f}&ndash;{hi:.2f} %; dashed line: the lesson's target. Shaded rows: smoke runs (--quick:
one epoch on a subset, never a pass).</p>
<div class="scroll"><table class="board">
<thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table></div>
<script>{_SCRIPT}</script>
</body></html>
"""


# ------------------------------------------------------------------------------------------- gradescope


def gradescope_result(row: Row) -> dict:
    """Gradescope's results.json for one student: a test per criterion scored with the lesson's weights."""
    return gradescope.from_row(row)


def _folder_name(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", student).strip(".") or "_"


def write_gradescope(rows: list[Row], folder: Path) -> list[Path]:
    """FOLDER/<student>/results.json per row (per lesson too when several lessons are exported)."""
    lessons = {r.lesson for r in rows}
    written = []
    for r in rows:
        where = Path(folder) / _folder_name(r.student)
        if len(lessons) > 1:
            where = where / _folder_name(r.lesson or "course")
        written.append(atomic.write_text(where / "results.json",
                                         json.dumps(gradescope_result(r), indent=2) + "\n"))
    return written


# ---------------------------------------------------------------------------------------------- writing


def render(rows: list[Row], fmt: str, title: str = "Leaderboard") -> str:
    """The export as text, for every format but gradescope (which is a folder of files)."""
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "json":
        return to_json(rows)
    if fmt == "md":
        return to_markdown(rows)
    if fmt == "html":
        return to_html(rows, title)
    raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def write(rows: list[Row], fmt: str, out: Path, title: str = "Leaderboard") -> list[Path]:
    """Write the export to `out` (a folder for gradescope) atomically; return the files written."""
    if fmt == "gradescope":
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} is a file; --format gradescope writes one results.json per student into a folder")
        return write_gradescope(rows, out)
    return [atomic.write_text(out, render(rows, fmt, title))]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
