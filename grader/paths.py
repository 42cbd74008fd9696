"""Where the course's own files live, in a source checkout and in an installed (non-editable) copy."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _asset(name: str) -> Path:
    # A checkout (or editable install) has lessons/ solutions/ data/ beside grader/; `pip install .`
    # copies them into grader/_assets/ (see setup.py).
    # pyproject.toml marks a checkout: site-packages may hold an unrelated top-level "data" folder.
    root = _PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / name).is_dir():
        return root / name
    return _PACKAGE / "_assets" / name


def lessons_dir() -> Path:
    return _asset("lessons")


def solutions_dir() -> Path:
    return _asset("solutions")


def bundled_data_dir() -> Path:
    return _asset("data") / "MNIST" / "raw"
