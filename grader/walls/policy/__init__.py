"""The static policy: read a submission's source, never run it, and refuse what could escape or fake a grading.

It runs in the parent process before any worker starts, so a refused file never executes. Every finding is
`FILE:LINE:COL: reason`. The policy is an allowlist: the modules a submission may import, the names it may
use from each of them (tables.py, which tests/test_policy.py checks against the installed torch), the
builtins it may call and the classes it may derive from. It is the first of three walls (docs/security.md):
the worker's OS limits and the clean evaluator catch what a static reading cannot. It imports no torch, so
`course check` stays fast.

- tables.py    the allowlist and the limits, as data
- names.py     what each name in the file stands for: its bindings and where imported objects flow (no findings)
- runnable.py  the code the grader never runs: `__main__` blocks and unused imports of a student's tools
- checker.py   the entry points and the walk that turns the tables and the name analysis into findings
"""

from grader.walls.policy.checker import Finding, Screened, check_file, check_source, display_name, screen_file
from grader.walls.policy.runnable import runnable_tree
from grader.walls.policy.tables import (
    ALLOWED_BUILTINS,
    ALLOWED_DUNDER_METHODS,
    ALLOWED_DUNDER_NAMES,
    BASE_IMPORTS,
    DENIED_ATTRIBUTES,
    DENIED_BUILTINS,
    MEMBERS,
    MODEL_METHODS,
    MODULES,
    NN_BASES,
    NN_MODULE_METHODS,
    NN_MODULE_NAMES,
    REFUSED_MEMBERS,
    TENSOR_CLASSES,
    TOOL_IMPORTS,
    Limits,
)

__all__ = [
    "ALLOWED_BUILTINS", "ALLOWED_DUNDER_METHODS", "ALLOWED_DUNDER_NAMES", "BASE_IMPORTS", "DENIED_ATTRIBUTES",
    "DENIED_BUILTINS", "MEMBERS", "MODEL_METHODS", "MODULES", "NN_BASES", "NN_MODULE_METHODS", "NN_MODULE_NAMES",
    "REFUSED_MEMBERS", "TENSOR_CLASSES", "TOOL_IMPORTS", "Finding", "Limits", "Screened", "check_file",
    "check_source", "display_name", "runnable_tree", "screen_file",
]
