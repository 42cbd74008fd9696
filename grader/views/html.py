"""HTML for Jupyter: what `_repr_html_` of a check result, a grade result and a run record shows.

Self-contained (inline styles, the curves as an inline PNG) so that it renders the same in Jupyter, Colab and
an exported notebook.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from grader.course.verdict import ERROR, FAILED, PASSED, SMOKE
from grader.views.words import device_text, lesson_name, rf_text

COLOUR = {PASSED: "#17702b", FAILED: "#b3261e", ERROR: "#b3261e", SMOKE: "#8a6d00"}
MARK = {True: '<span style="color:#17702b">pass</span>', False: '<span style="color:#b3261e"><b>FAIL</b></span>',
        None: '<span style="color:#8a6d00">not judged</span>'}
_TABLE = 'style="border-collapse:collapse"'
_CELL = 'style="padding:2px 10px;text-align:{align};border-bottom:1px solid #ddd"'


def _row(cells, header: bool = False, aligns=None) -> str:
    tag = "th" if header else "td"
    aligns = aligns or ["left"] * len(cells)
    return "<tr>" + "".join(f"<{tag} {_CELL.format(align=a)}>{c}</{tag}>" for c, a in zip(cells, aligns)) + "</tr>"


def criteria_table(verdict) -> str:
    aligns = ["left", "right", "right", "center"]
    rows = [_row(["criterion", "measured", "needs", ""], header=True, aligns=aligns)]
    rows += [_row([escape(c.label), escape(c.measured), escape(c.threshold), MARK[c.passed]], aligns=aligns)
             for c in verdict.criteria]
    return f"<table {_TABLE}>{''.join(rows)}</table>"


def _status(verdict) -> str:
    colour = COLOUR.get(verdict.status, "#222")
    return f'<b style="color:{colour}">{escape(verdict.status)}</b>: {escape(verdict.message)}'


def _num(value, spec: str) -> str:
    return "-" if value is None else (format(value, spec) if isinstance(value, (int, float)) else escape(str(value)))


def check_html(result) -> str:
    r = result.report
    scope = lesson_name(result.lesson)
    rf = r["rf"]
    return (f"<div><p><b>course check</b> <code>{escape(str(r.get('file', '')))}</code> ({escape(scope)})</p>"
            f"<p>{r['params']:,} parameters; receptive field {escape(rf_text(rf))}</p>"
            f"{criteria_table(result.verdict)}{_warnings(result.verdict.warnings)}<p>{_status(result.verdict)}</p></div>")


def _warnings(warnings: list[str]) -> str:
    """The check's warnings (code the policy skipped, at file:line:col), escaped."""
    return "".join(f"<p style='color:#9a6700'>warning: {escape(w)}</p>" for w in warnings)


def epochs_table(record) -> str:
    heads = ["epoch", "train loss", "train acc %", "test loss", "test acc %", "lr", "time s"]
    rows = [_row(heads, header=True, aligns=["right"] * len(heads))]
    for e in record.epochs:
        rows.append(_row([str(e.epoch), _num(e.train_loss, ".4f"), _num(e.train_acc, ".2f"), _num(e.test_loss, ".4f"),
                          _num(e.test_acc, ".2f"), _num(e.lr, ".4g"), _num(e.seconds, ".1f")],
                         aligns=["right"] * len(heads)))
    return f"<table {_TABLE}>{''.join(rows)}</table>"


def record_html(record, plot: Path | None = None) -> str:
    scope = lesson_name(record.lesson)
    quick = " (--quick smoke run: never a pass)" if record.quick else ""
    parts = [f"<div><p><b>course grade</b> <code>{escape(record.file)}</code> ({escape(scope)}){quick}</p>"]
    if record.verdict is not None:
        parts += [criteria_table(record.verdict), f"<p>{_status(record.verdict)}</p>"]
    parts += [epochs_table(record),
              f"<p>seed {record.seed} on {escape(device_text(record.device_name))}, "
              f"torch {escape(str(record.versions.get('torch')))}, "
              f"{_num(record.duration, '.1f')} s; every test accuracy measured by the clean evaluator.</p>"]
    if plot is not None and Path(plot).is_file():
        data = base64.b64encode(Path(plot).read_bytes()).decode("ascii")
        parts.append(f'<img alt="loss and accuracy curves" src="data:image/png;base64,{data}" style="max-width:100%">')
    return "".join(parts) + "</div>"


def grade_html(result) -> str:
    return record_html(result.record, result.plot)
