"""The sha256 of a file's bytes: how a submission is identified everywhere (records, resume keys, caches); and of
a Python file's code alone: whether trained numbers still describe a solution whose comments were edited."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path


def file_sha256(path) -> str:
    """Hex sha256 of the file's content; raises OSError when it cannot be read."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sha256_if_readable(path) -> str | None:
    """file_sha256, or None when the file is gone or unreadable (a student's state then shows it as changed)."""
    try:
        return file_sha256(path)
    except OSError:
        return None


def code_sha256(source: str) -> str | None:
    """Hex sha256 of Python source's syntax tree without docstrings: comments, docstrings and layout do not count.

    None when the source does not parse. The tree is written out field by field, leaving out empty ones, so that a
    field a later Python adds (3.12's type_params) or a change in ast.dump's format does not change the digest."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                node.body = node.body[1:]
    return hashlib.sha256(_canonical(tree).encode()).hexdigest()


def _canonical(node) -> str:
    if isinstance(node, ast.AST):
        fields = [f"{name}={_canonical(value)}" for name, value in ast.iter_fields(node)
                  if value is not None and value != []]
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(_canonical(v) for v in node) + "]"
    return repr(node)
