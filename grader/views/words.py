"""Plain-text phrases every view words the same way: terminal, GitHub summary, notebook HTML, exports.

No rich here: the GitHub and HTML views import it without the terminal's dependencies.
"""

from __future__ import annotations

import re


def lesson_name(lesson: str | None) -> str:
    """'lesson1' -> 'lesson 1', as a sentence says it; no lesson is the course target."""
    if not lesson:
        return "the course target"
    m = re.fullmatch(r"lesson(\d+[a-z]?)", lesson)
    return f"lesson {m.group(1)}" if m else lesson


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 thread', '2 threads'."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"


def device_text(name: str | None) -> str:
    """A recorded device name as a sentence says it: 'CPU (x86_64, 1 thread)'.

    Records keep torch's '1 threads' as written (RESULTS.md rows and the autograder's fit table match on it).
    """
    return "-" if not name else re.sub(r"\b1 threads\b", "1 thread", name)


def rf_text(rf: dict, final: bool = True) -> str:
    """'22 before global pooling, 32 at the output', or '6 at the output (no global pooling)' when there is none.

    `where` says what the first figure is measured before; a model with no global pooling has only the output's.
    """
    where = rf.get("where") or "before global pooling"
    text = f"{rf['rf_before_global_pool']} {where}"
    if final and not where.startswith("at the output") and rf.get("rf_final") is not None:
        text += f", {rf['rf_final']} at the output"
    return text


def batchnorm_text(after_conv: list[bool]) -> str:
    """'after all 3 convs', or 'after 2 of 3 convs (not after conv 3)': which conv lacks one, by number."""
    missing = [str(i) for i, has in enumerate(after_conv, start=1) if not has]
    total = len(after_conv)
    if not total:
        return "no convs"
    if not missing:
        return f"after all {plural(total, 'conv')}" if total != 1 else "after the conv"
    have = total - len(missing)
    if not have:
        return f"none (after none of the {plural(total, 'conv')})" if total > 1 else "none (not after the conv)"
    return f"after {have} of {plural(total, 'conv')} (not after conv {', '.join(missing)})"
