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
from grader.errors import UsageError
from grader.gradebook import gradescope
from grader.gradebook.leaderboard import Row

FORMATS = ("csv", "json", "md", "html", "gradescope")
# Flat columns for CSV: every Row field; lists are joined (curve by spaces, failed criteria by commas).
CSV_COLUMNS = [f.name for f in fields(Row) if f.name != "criteria"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        d = asdict(r)
        d["curve"] = " ".join(repr(a) for a in r.curve)
        d["failed"] = ",".join(r.failed)
        writer.writerow([_cell(d[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def to_json(rows: list[Row], generated: str | None = None) -> str:
    return json.dumps({"generated": generated or _now(), "rows": [asdict(r) for r in rows]}, indent=2) + "\n"


def _acc(value) -> str:
    return "" if value is None else f"{value:.2f}"


def _md(value) -> str:
    return _cell(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[Row]) -> str:
    head = ["rank", "student", "lesson", "status", "params", "RF", "best acc %", "last acc %", "epochs to target",
            "epochs", "seed", "device"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h not in ("student", "lesson", "status", "device")
                                                         else "---" for h in head) + "|"]
    for r in rows:
        cells = [r.rank, r.student, r.lesson or "course target", r.status + (" (quick)" if r.quick else ""),
                 f"{r.params:,}" if r.params is not None else "", r.rf, _acc(r.best_acc), _acc(r.last_acc),
                 r.epochs_to_target, r.epochs_run, r.seed, r.device_name]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------- html

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td.text, th.text { text-align: left; }
.passed { color: #17702b; font-weight: bold; } .failed, .error { color: #b3261e; font-weight: bold; }
.smoke { color: #8a6d00; font-weight: bold; }
caption { text-align: left; margin-bottom: .5em; color: #555; }
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
    ("params", "params", "number", lambda v: f"{v:,}"),
    ("RF", "rf", "number", str),
    ("best acc %", "best_acc", "number", lambda v: f"{v:.2f}"),
    ("last acc %", "last_acc", "number", lambda v: f"{v:.2f}"),
    ("epochs to target", "epochs_to_target", "number", str),
    ("epochs", "epochs_run", "number", str),
    ("seed", "seed", "number", str),
    ("time s", "duration", "number", lambda v: f"{v:.1f}"),
    ("submitted", "submitted_at", "text", lambda v: v[:19].replace("T", " ")),
    ("device", "device_name", "text", str),
]

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


def to_html(rows: list[Row], title: str = "Leaderboard", generated: str | None = None) -> str:
    """One self-contained page: inline CSS, inline script, inline SVG; nothing fetched from anywhere."""
    values = [a for r in rows for a in r.curve] + [r.target for r in rows if r.target is not None and r.curve]
    hi = max(values, default=100.0)
    lo = min(values, default=0.0)
    lo = min(lo, hi - 1.0)  # at least one point of accuracy on the scale, so flat curves stay readable
    heads = [f'<th data-type="{t}" class="{t}">{html.escape(h)}</th>' for h, _, t, _ in _COLUMNS]
    heads.insert(CURVE_AT, "<th>curve</th>")
    head = "".join(heads)
    body = []
    for r in rows:
        cells = []
        for _, attr, kind, show in _COLUMNS:
            v = getattr(r, attr)
            shown = "" if v is None else show(v)
            extra = (f' class="{html.escape(r.status)}"' if attr == "status"
                     else (' class="text"' if kind == "text" else ""))
            cells.append(f'<td data-value="{html.escape(_cell(v))}"{extra}>{html.escape(shown)}</td>')
        cells.insert(CURVE_AT, f"<td>{sparkline(r.curve, lo, hi, r.target)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    stamp = generated or _now()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
<table class="board"><caption>{len(rows)} rows, generated {html.escape(stamp)}. Click a column header to sort.
Curves: test accuracy per epoch, {lo:.2f}&ndash;{hi:.2f} %; dashed line: the lesson's target.</caption>
<thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table>
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
