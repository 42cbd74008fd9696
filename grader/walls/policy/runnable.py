"""The code the grader never runs: top-level `if __name__ == "__main__":` blocks and module-level imports of a
student's tools (tables.TOOL_IMPORTS) from which the model uses nothing."""

from __future__ import annotations

import ast

from grader.walls.policy.tables import TOOL_IMPORTS, Allowlist, allowlist_with


def _is_main_guard(node: ast.AST) -> bool:
    """`if __name__ == "__main__":` (either way round), exactly: nothing else in the test, nothing after it."""
    if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1
            and isinstance(node.test.ops[0], ast.Eq)):
        return False
    sides = [node.test.left, node.test.comparators[0]]
    names = [x for x in sides if isinstance(x, ast.Name) and x.id == "__name__"]
    texts = [x for x in sides if isinstance(x, ast.Constant) and x.value == "__main__" and type(x.value) is str]
    return len(names) == 1 and len(texts) == 1


def skip_main_blocks(tree: ast.Module) -> None:
    """Empty the body of each top-level `if __name__ == "__main__":`. The grader imports the file under a private
    module name, so that body never runs (its `else:` does, and stays checked)."""
    for node in tree.body:
        if _is_main_guard(node):
            node.body = [ast.copy_location(ast.Pass(), node.body[0])]


def _is_tool(module: str) -> bool:
    return any(module == t or module.startswith(t + ".") for t in TOOL_IMPORTS)


def _import_binds(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.asname or a.name.split(".")[0] for a in node.names]
    return [a.asname or a.name for a in node.names]


def _used_names(tree: ast.AST, skip: ast.AST) -> set[str]:
    """Every identifier the file names anywhere, outside the statement `skip` (attributes and keywords aside)."""
    used: set[str] = set()
    for node in ast.walk(tree):
        if node is skip:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            used.update(_import_binds(node))
        elif isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.arg):
            used.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            used.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            used.update(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            used.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            used.add(node.rest)
    return used


def unused_tool_imports(tree: ast.Module, allow: Allowlist) -> list[ast.stmt]:
    """Module-level imports of TOOL_IMPORTS the allowlist refuses and from which the file uses no name."""
    unused = []
    for node in tree.body:
        if isinstance(node, ast.Import):  # what the name binds: `import torch.utils.data` binds torch, no tool
            modules = [a.name if a.asname else a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module]
        else:
            continue
        if not all(_is_tool(m) and not allow.allows(m) for m in modules):
            continue
        if any(a.name == "*" for a in node.names):
            continue  # a star import binds names nobody can see: refused as ever
        if not set(_import_binds(node)) & _used_names(tree, node):
            unused.append(node)
    return unused


def unused_warning(node: ast.stmt) -> str:
    what = ast.unparse(node)
    return (f"`{what[:80]}` is not used by the model, so the grader skips it (nothing of it runs); "
            "delete it, or keep such code under `if __name__ == \"__main__\":`")


def runnable_tree(tree: ast.Module, allow: Allowlist | None = None) -> ast.Module:
    """The module as the grader runs it: top-level `__main__` blocks emptied and unused tool imports dropped.

    The worker compiles this tree instead of the raw file (grader.worker.submission.load), so what the policy skips
    with a warning is never imported, even where the package is installed."""
    allow = allow or allowlist_with(())
    skip_main_blocks(tree)
    dropped = {id(node) for node in unused_tool_imports(tree, allow)}
    tree.body = [ast.copy_location(ast.Pass(), n) if id(n) in dropped else n for n in tree.body]
    return tree


