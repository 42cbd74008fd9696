"""The package's shape: no import cycle anywhere in grader/ (imports inside functions count), and the boundaries
the folders name hold: what runs in the parent never needs torch, and only the worker imports a submission (the
trainer and the evaluator run its exported program, never its code)."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "grader"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "_assets" not in p.parts}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every grader module `path` imports, at the top or inside a function."""
    found = set()
    this = _module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("grader"):
                    found.add(_longest_known(alias.name, known))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("grader") and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else _longest_known(node.module, known))
    found.discard(this)
    return {m for m in found if m}


def _longest_known(name: str, known: set[str]) -> str:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    # importing a package runs its __init__, so a submodule import depends on its packages' __init__ too
    return {name: _imports(path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each a cycle to report."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_in_grader():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    return seen


def test_only_the_worker_imports_a_submission():
    importers = {name for name, path in _modules().items()
                 if "spec_from_file_location" in path.read_text(encoding="utf-8")}
    assert importers == {"grader.worker.submission"}
    graph = _graph()
    for side in ("grader.host.grading", "grader.evaluator.main", "grader.trainer.main", "grader.api",
                 "grader.batch.head"):
        assert "grader.worker.submission" not in _reaches(graph, side), side


def test_the_parent_side_needs_no_torch():
    """The CLI's process must answer `course list` fast and never hold torch: nothing it imports at module level
    imports torch at module level (torch-needing modules are imported inside the functions that need them)."""
    modules = _modules()
    top_level = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = set()
        for node in tree.body:  # module level only
            if isinstance(node, ast.Import):
                imports |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imports |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        top_level[name] = imports
    known = set(modules)

    def needs_torch(name, seen=()):
        if name in seen:
            return False
        direct = top_level.get(name, set())
        if any(i == "torch" or i.startswith("torch.") for i in direct):
            return True
        return any(needs_torch(_longest_known(i, known), (*seen, name)) for i in direct if i.startswith("grader"))

    for side in ("grader.api", "grader.workflow", "grader.host.grading", "grader.channel", "grader.program",
                 "grader.record", "grader.batch.head", "grader.batch.local_pool", "grader.course.lesson",
                 "grader.walls.policy", "grader.mnist", "grader.course.options", "grader.gradescope.autograder"):
        assert not needs_torch(side), side
