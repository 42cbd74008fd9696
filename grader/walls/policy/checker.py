"""The checker: the policy's entry points (check_source, check_file, screen_file) and the walk over a submission's
tree that refuses, with FILE:LINE:COL, what the tables do not allow."""

from __future__ import annotations

import ast
import hashlib
import io
import re
import string
import tokenize
from dataclasses import dataclass
from pathlib import Path

from grader.errors import PolicyError
from grader.walls.policy.names import (
    Facts,
    Imported,
    bound_names,
    dotted_name,
    folded_text,
    imported_names,
    is_dunder,
    params_of,
    resolve_path,
    root_of,
)
from grader.walls.policy.runnable import runnable_tree, skip_main_blocks, unused_tool_imports, unused_warning
from grader.walls.policy.tables import (
    ALLOWED_BUILTINS,
    ALLOWED_DUNDER_METHODS,
    ALLOWED_DUNDER_NAMES,
    BASE_IMPORTS,
    BUILTIN_NAMES,
    DENIED_ATTRIBUTES,
    DENIED_BUILTINS,
    EXAMPLES,
    FACTORY,
    HINTS,
    LAZY,
    MEMBERS,
    METHOD_DECORATORS,
    MODEL_METHODS,
    NN_BASES,
    NN_MODULE_METHODS,
    NN_MODULE_NAMES,
    REEXPORTED,
    REFUSED_MEMBERS,
    TENSOR_CLASSES,
    Allowlist,
    Limits,
    allowlist_with,
)

_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


@dataclass(frozen=True)
class Finding:
    line: int
    col: int  # 1-based, as editors count
    reason: str

    def format(self, name: str) -> str:
        return f"{name}:{self.line}:{self.col}: {self.reason}"


@dataclass(frozen=True)
class Screened:
    """A file the policy passed: the sha256 of the bytes it read, and its warnings as NAME:LINE:COL: what"""

    sha256: str
    warnings: list[str]


def check_file(path, allowed_imports=(), limits: Limits = Limits(), name: str | None = None) -> str:
    """Refuse `path` with a PolicyError listing each finding as NAME:LINE:COL: reason; return its sha256."""
    return screen_file(path, allowed_imports, limits, name).sha256


def screen_file(path, allowed_imports=(), limits: Limits = Limits(), name: str | None = None) -> Screened:
    """check_file, keeping the warnings (code the grader skips, such as an unused `import torchvision`)."""
    path = Path(path)
    raw = path.read_bytes()
    warnings: list[Finding] = []
    findings = check_source(raw, allowed_imports, limits, warnings=warnings)
    shown = name or display_name(path)
    if findings:
        lines = [f.format(shown) for f in findings[: limits.max_findings]]
        if len(findings) > limits.max_findings:
            lines.append(f"... and {len(findings) - limits.max_findings} more")
        raise PolicyError("\n".join(lines))
    return Screened(hashlib.sha256(raw).hexdigest(), [w.format(shown) for w in warnings])


def display_name(path: Path) -> str:
    """The path relative to the working directory when it is below it, as a compiler would print it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_source(raw: bytes, allowed_imports=(), limits: Limits = Limits(), *,
                 require_net: bool = True, warnings: list[Finding] | None = None) -> list[Finding]:
    """Every policy finding in a submission's bytes, in source order; [] when it may run.

    require_net=False checks a fragment that is not meant to be a whole submission (no Net needed). What the
    grader skips instead of refusing (unused imports of a student's tools) is appended to `warnings`.
    """
    if len(raw) > limits.max_file_bytes:
        return [Finding(1, 1, f"the file is {len(raw):,} bytes; the limit is {limits.max_file_bytes:,} "
                              "(a model is a few KB of code: do not embed data)")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return [Finding(line, col, f"byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8")]
    if not text.strip():
        return [Finding(1, 1, "the file is empty; it must define class Net(torch.nn.Module)")]
    for number, line in enumerate(raw.splitlines()[:2], start=1):
        m = _CODING.match(line)
        if m and m.group(1).decode("ascii", "replace").lower().replace("_", "-") not in ("utf-8", "utf8"):
            return [Finding(number, 1, f"coding declaration {m.group(1).decode('ascii', 'replace')!r}: "
                                       "Python would read this file differently; use UTF-8 and remove it")]
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        return [Finding(line, 1, "the file contains a NUL byte; save it as plain UTF-8 text")]
    try:
        tree = ast.parse(raw)  # bytes, exactly as the importer reads them
    except SyntaxError as exc:
        return [Finding(exc.lineno or 1, exc.offset or 1, f"syntax error: {exc.msg}")]
    except (RecursionError, MemoryError):  # CPython's parser gives up on a few thousand nested operators
        return [Finding(_busiest_line(text), 1, "this line nests expressions too deeply for Python to read; "
                                                "split it into several statements")]
    deep = _too_deep(tree, limits.max_depth)
    if deep:
        return [deep]  # everything below may recurse over the tree; a bounded depth keeps it safe
    allow = allowlist_with(allowed_imports)
    skip_main_blocks(tree)
    if warnings is not None:
        warnings += [Finding(node.lineno, node.col_offset + 1, unused_warning(node))
                     for node in unused_tool_imports(tree, allow)]
    tree = runnable_tree(tree, allow)  # what the worker runs: neither the skipped imports nor the __main__ blocks
    findings = _name_bindings(tree)
    facts = Facts(tree, tuple(allowed_imports))
    imported = imported_names(tree, limits.max_alias_passes, facts)
    checker = _Checker(allow, limits, imported, facts)
    checker.run(tree)
    findings += checker.findings
    if not imported.settled:
        findings.append(Finding(1, 1, f"imported objects pass through more than {limits.max_alias_passes} "
                                      "names in a row; use them directly (nn.Conv2d, torch.Tensor)"))
    if require_net:
        findings += _net_findings(facts)
    return sorted(findings, key=lambda f: (f.line, f.col))


def _name_bindings(tree: ast.AST) -> list[Finding]:
    """Refuse binding `__name__` anywhere: the module's name is what keeps `if __name__ == "__main__":` shut."""
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names = [node.id]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.alias):
            names = [node.asname or node.name.split(".")[0]]
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names = list(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            names = [node.name]
        elif isinstance(node, ast.MatchMapping):
            names = [node.rest]
        if "__name__" in names:
            found.append(Finding(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1,
                                 "__name__ is the module's own name, set by the grader; do not assign or rebind it "
                                 "(code under `if __name__ == \"__main__\":` is never run by the grader)"))
    return found


def _busiest_line(text: str) -> int:
    """The line with the most tokens: where a nesting too deep for the parser is (best effort)."""
    counts: dict[int, int] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            counts[tok.start[0]] = counts.get(tok.start[0], 0) + 1
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return max(counts, key=counts.get) if counts else 1


def _too_deep(tree: ast.AST, limit: int) -> Finding | None:
    """A finding at the first node nested deeper than `limit`, found without recursion; None if none is."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return Finding(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1,
                           f"code nested more than {limit} levels deep; split it into smaller statements "
                           "(a model's code nests a few levels)")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None


def _net_findings(facts: Facts) -> list[Finding]:
    """"Defines no Net" when nothing at module level binds the name, listing the classes the file has."""
    if facts.module_level("Net"):
        return []
    top = sorted((c for c in facts.classes
                  if any(b.node is c and b.scope == "module" for b in facts.bindings[c.name])), key=lambda c: c.lineno)
    models = [c for c in top if c.name in facts.model_classes]
    if not top:
        return [Finding(1, 1, "the file defines no Net and no class; add `class Net(nn.Module)` "
                              "with __init__ and forward")]
    listed = ", ".join(f"{c.name} (line {c.lineno})" for c in top)
    pick = (models or top)[-1].name
    return [Finding(1, 1, f"the file defines no Net; it defines {listed}. Add `Net = {pick}` after the class, "
                          "or name your model class Net")]


# ---------------------------------------------------------------------------------------------------- the walk
@dataclass
class _Frame:
    """A function being walked: the names it binds, and whether its `self` is surely its class's instance."""

    names: set[str]
    binds_self: bool
    trusted_self: bool
    fn: int  # id of the function node, for the taint of a `self` that is not its class's instance


class _Exit:
    """Marker on the walk's stack: leave the innermost function."""


_EXIT = _Exit()


class _Checker:
    """Walks the tree with an explicit stack (no recursion, whatever the nesting) and collects findings."""

    def __init__(self, allow: Allowlist, limits: Limits, imported: Imported, facts: Facts):
        self.allow, self.limits, self.imported, self.facts = allow, limits, imported, facts
        self.findings: list[Finding] = []
        self.frames: list[_Frame] = []  # enclosing functions, innermost last
        self.literal_bytes = 0
        self.name_bytes = 0
        self.names_seen: set[str] = set()
        self.numbers = 0
        self.sanctioned: set[int] = set()  # ids of nodes a parent's rule already approved

    def refuse(self, node: ast.AST, reason: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, reason))

    def run(self, tree: ast.AST) -> None:
        stack: list = [tree]
        while stack:
            item = stack.pop()
            if item is _EXIT:
                self.frames.pop()
                continue
            if isinstance(item, _Frame):
                self.frames.append(item)
                continue
            for name, where in _names_of(item):
                self._count_name(name, where)
            visit = getattr(self, f"visit_{type(item).__name__}", None)
            children = visit(item) if visit else None
            if children is None:
                children = list(ast.iter_child_nodes(item))
            stack.extend(reversed(children))

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.facts.parents.get(id(node))

    def shadowed(self, name: str) -> bool:
        return any(name in f.names for f in self.frames)

    # ---------------------------------------------------------------- imports
    def _in_class_body(self, node: ast.AST) -> bool:
        if id(node) in self.facts.class_scoped:
            self.refuse(node, "import at the top of the file: an import inside a class body makes the module an "
                              "attribute of the class, where it escapes the policy's tables")
            return True
        return False

    def visit_Import(self, node: ast.Import) -> list:
        if self._in_class_body(node):
            return []
        for alias in node.names:
            if not self.allow.allows(alias.name):
                self.refuse(node, f"import of {alias.name!r} is not allowed; a submission may import "
                                  f"{', '.join(sorted(m for m in BASE_IMPORTS if m != '__future__'))}")
        return []

    def visit_ImportFrom(self, node: ast.ImportFrom) -> list:
        module = node.module or ""
        if self._in_class_body(node):
            return []
        if node.level:
            self.refuse(node, "relative imports are not allowed: a submission is one file")
            return []
        if not self.allow.allows(module):
            self.refuse(node, f"import from {module!r} is not allowed; a submission may import "
                              f"{', '.join(sorted(m for m in BASE_IMPORTS if m != '__future__'))}")
            return []
        for alias in node.names:
            if alias.name == "*":
                self.refuse(node, f"`from {module} import *` is not allowed; import the names you use")
            elif alias.name.startswith("_") and module != "__future__":
                self.refuse(node, f"importing {module}.{alias.name}: names starting with an underscore are private")
            elif alias.name in DENIED_ATTRIBUTES:
                self.refuse(node, f"importing {module}.{alias.name} is not allowed: it {DENIED_ATTRIBUTES[alias.name]}")
            elif alias.name in DENIED_BUILTINS or alias.name in ("getattr", "setattr"):
                self.refuse(node, f"importing {alias.name} is not allowed")
            elif module in MEMBERS and alias.name not in MEMBERS[module]:
                self.refuse(node, f"importing {module}.{alias.name} is not allowed: "
                                  f"{_member_reason(module, alias.name)}")
        return []

    # ---------------------------------------------------------------- names
    def visit_Name(self, node: ast.Name) -> list:
        name = node.id
        if is_dunder(name):
            if name not in ALLOWED_DUNDER_NAMES:
                self.refuse(node, f"the name {name} is not allowed: dunder names reach Python's internals")
            return []
        if isinstance(node.ctx, ast.Load):
            self._check_module_use(node)
        if self.shadowed(name) or id(node) in self.sanctioned:
            return []  # a parameter or local of an enclosing function (`def forward(self, input)`)
        if name in DENIED_BUILTINS:
            self.refuse(node, DENIED_BUILTINS[name])
        elif name in ("getattr", "setattr", "hasattr"):
            self.refuse(node, f"{name} may only be called directly, as {name}(self, \"name\", ...)")
        elif name in BUILTIN_NAMES and name not in ALLOWED_BUILTINS and name not in self.facts.bindings:
            self.refuse(node, f"the builtin {name} is not allowed in a submission; a model needs only Python's "
                              "plain builtins (len, range, isinstance, super, print ...)")
        return []

    def _check_module_use(self, node: ast.AST) -> None:
        """A module may only be the start of an attribute chain or the value of a plain alias (F = nn.functional):
        passed, stored, returned or put in a container, it would carry its doors (torch.os ...) past the tables."""
        paths = self.facts.module_paths(node)
        if not paths:
            return
        parent = self.parent(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return
        if isinstance(parent, ast.Assign) and parent.value is node \
                and all(isinstance(t, ast.Name) for t in parent.targets) \
                and id(parent) not in self.facts.class_scoped:
            return
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) \
                and parent.func.id in ("getattr", "hasattr") and parent.args and parent.args[0] is node \
                and len(parent.args) >= 2 and folded_text(parent.args[1]) is not None:
            return  # getattr(nn, "ReLU"): checked as nn.ReLU in _check_dynamic_attribute
        path = sorted(paths)[0]
        example = f"{dotted_name(node)}.{EXAMPLES.get(path, 'name')}"
        self.refuse(node, f"{dotted_name(node)} is the module {path}: use the names in it directly ({example}); "
                          "a module may not be passed, stored, returned or compared")

    # ---------------------------------------------------------------- attributes
    def visit_Attribute(self, node: ast.Attribute) -> list:
        if isinstance(node.ctx, ast.Load):
            self._check_module_use(node)
        if id(node) not in self.sanctioned:
            reason = self._attribute_reason(node)
            if reason:
                self.refuse(node, f"{dotted_name(node)}: {reason}")
            else:
                self._check_member(node, node.value, node.attr)
        if not isinstance(node.ctx, ast.Load) and node.attr in NN_MODULE_METHODS:
            self.refuse(node, f"assigning {dotted_name(node)} replaces nn.Module's own {node.attr}(), which the grader "
                              "relies on; pick another name")
        self._check_unbound_method(node, node.value, node.attr)
        return [node.value]

    def _attribute_reason(self, node: ast.Attribute) -> str | None:
        attr = node.attr
        parent = self.parent(node)
        if attr == "__name__" and isinstance(node.ctx, ast.Load):
            return None  # a string: m.__class__.__name__, type(m).__name__, F.relu.__name__
        if attr == "__class__" and isinstance(parent, ast.Attribute) and parent.attr == "__name__" \
                and isinstance(parent.ctx, ast.Load) and isinstance(node.ctx, ast.Load):
            return None  # m.__class__.__name__ in an init loop
        if is_dunder(attr):
            return f"dunder attributes such as {attr} reach Python's internals (only super().__init__() is allowed)"
        if attr.startswith("_"):
            if self._own_private(node.value, attr):
                return None
            return f"attribute {attr} starts with an underscore: private internals are off limits " \
                   "(your own methods and attributes may start with one, used as self._name)"
        return _denied(attr)

    def _own_private(self, value: ast.AST, attr: str) -> bool:
        """self._helper where _helper is this file's own method or attribute and `self` surely the instance."""
        if not (isinstance(value, ast.Name) and value.id == "self" and attr in self.facts.own_private):
            return False
        for frame in reversed(self.frames):
            if frame.binds_self:
                return frame.trusted_self
        return False

    def _check_member(self, where: ast.AST, value: ast.AST, attr: str) -> None:
        """`module.name` must be on the module's list (the allowlist proper)."""
        for path in sorted(self.facts.module_paths(value)):
            if path in MEMBERS and attr not in MEMBERS[path]:
                written, full = f"{dotted_name(value)}.{attr}", f"{path}.{attr}"
                subject = written if written == full else f"{written} ({full})"
                self.refuse(where, f"{subject} is not allowed: {_member_reason(path, attr)}")
                return

    def _check_unbound_method(self, node: ast.AST, value: ast.AST, attr: str) -> None:
        """MyClass.method(x) would run the method with any object as self; only MyClass.method(self, ...) is."""
        if not (isinstance(value, ast.Name) and value.id in self.facts.own_classes and attr in self.facts.methods):
            return
        call = self.parent(node)
        if isinstance(call, ast.Call) and call.func is node and call.args \
                and isinstance(call.args[0], ast.Name) and call.args[0].id == "self" and self._trusted_self():
            return
        self.refuse(node, f"{dotted_name(node)}: call a method on its object (self.{attr}(...)), not through its "
                          "class with another first argument")

    def _trusted_self(self) -> bool:
        for frame in reversed(self.frames):
            if frame.binds_self:
                return frame.trusted_self
        return False

    def _self_scope(self) -> int | None:
        """The function whose `self` the name means here (None: the module's), as _Flow.self_scope says it."""
        for frame in reversed(self.frames):
            if frame.binds_self:
                return frame.fn
        return None

    # ---------------------------------------------------------------- calls
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "__init__":
            self.sanctioned.add(id(func))  # super().__init__() and nn.Module.__init__(self)
        if isinstance(func, ast.Attribute) and func.attr in ("format", "format_map"):
            self._check_format(node, func)
        if isinstance(func, ast.Name) and not self.shadowed(func.id):
            if func.id in ("getattr", "setattr", "hasattr"):
                self._check_dynamic_attribute(node, func.id)
            elif func.id == "type":
                self._check_type_call(node)
        return None

    def _check_format(self, node: ast.Call, func: ast.Attribute) -> None:
        """"{0.__globals__}".format(f) walks attributes inside a string, where no rule sees them."""
        template = func.value
        if not (isinstance(template, ast.Constant) and isinstance(template.value, str)):
            self.refuse(node, f".{func.attr}() is only allowed on a string literal (\"conv{{}}\".format(i)); "
                              "use an f-string")
            return
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template.value) if f]
        except ValueError:
            return  # Python raises the same error when the line runs: a clear message of its own
        if any("." in f or "[" in f for f in fields):
            self.refuse(node, "a format field that reads attributes or items ({0.name}, {0[key]}) reaches what "
                              "the policy cannot check; use an f-string")

    def _check_type_call(self, node: ast.Call) -> None:
        if len(node.args) + len(node.keywords) == 3:
            self.sanctioned.add(id(node.func))
            self.refuse(node, f"type() with three arguments is not allowed: {FACTORY}")
            return
        parent = self.parent(node)
        if len(node.args) == 1 and not node.keywords and (
                isinstance(parent, ast.Compare)
                or (isinstance(parent, ast.Attribute) and parent.attr == "__name__" and parent.value is node)):
            self.sanctioned.add(id(node.func))  # type(m) == nn.Conv2d, type(m) is nn.Linear, type(m).__name__

    def _check_dynamic_attribute(self, node: ast.Call, fn: str) -> None:
        self.sanctioned.add(id(node.func))
        if len(node.args) < 2:
            self.refuse(node, f"{fn}() needs an object and an attribute name")
            return
        target, name = node.args[0], node.args[1]
        on_self = self._is_own_self(target)
        if fn == "setattr" and not on_self:
            self.refuse(node, "setattr() is only allowed on self, the first parameter of a method "
                              "(setattr(self, f\"conv{i}\", layer)); setting attributes elsewhere can patch torch")
            return
        attr = folded_text(name)
        if attr is not None:  # a literal, or an f-string of literals only: the name it spells is checked
            self._check_named_attribute(node, fn, target, attr)
            return
        if isinstance(name, ast.JoinedStr):
            spelled = "".join(v.value for v in name.values if isinstance(v, ast.Constant))
            reason = _denied(spelled) or (f"it replaces nn.Module's own {spelled}(); pick another name"
                                          if fn == "setattr" and spelled in NN_MODULE_METHODS else None)
            if reason:  # the computed parts may be empty: f"from{x}_file" is from_file when x == ""
                self.refuse(node, f"{fn}(..., f\"...\"): its literal text spells {spelled!r}: {reason}")
                return
        prefix = name.values[0] if isinstance(name, ast.JoinedStr) and name.values else None
        if on_self and isinstance(prefix, ast.Constant) and isinstance(prefix.value, str) \
                and prefix.value and not prefix.value.startswith("_"):
            return  # getattr(self, f"conv{i}"): the submission's own layers
        self.refuse(node, f"{fn}() with a computed attribute name is only allowed on self, the first parameter "
                          f"of a method, with a literal prefix (getattr(self, f\"conv{{i}}\")); use nn.ModuleList "
                          "for numbered layers")

    def _is_own_self(self, target: ast.AST) -> bool:
        """`self` as the first parameter of a method of a class in this file, never passed or reassigned."""
        return isinstance(target, ast.Name) and target.id == "self" and self._trusted_self()

    def _check_named_attribute(self, node: ast.Call, fn: str, target: ast.AST, attr: str) -> None:
        reason = self._named_attribute_reason(fn, target, attr)
        if reason:
            self.refuse(node, f"{fn}(..., {attr!r}): {reason}")
            return
        self._check_member(node, target, attr)
        if fn == "setattr" and attr in NN_MODULE_METHODS:
            self.refuse(node, f"setattr(self, {attr!r}, ...) replaces nn.Module's own {attr}(); pick another name")
        if isinstance(target, ast.Name) and target.id in self.facts.own_classes and attr in self.facts.methods:
            self.refuse(node, f"{fn}({target.id}, {attr!r}): call a method on its object (self.{attr}(...))")

    def _named_attribute_reason(self, fn: str, target: ast.AST, attr: str) -> str | None:
        """Why a getattr/setattr/hasattr of this attribute name is refused, or None."""
        if is_dunder(attr):
            return f"dunder attributes such as {attr} reach Python's internals"
        if attr.startswith("_") and not self._own_private(target, attr):
            return f"attribute {attr} starts with an underscore: private internals are off limits"
        return _denied(attr)

    # ---------------------------------------------------------------- assignments: no monkeypatching
    def _check_target(self, target: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._check_target(t, verb)
            return
        if isinstance(target, ast.Starred):
            self._check_target(target.value, verb)
            return
        if not isinstance(target, (ast.Attribute, ast.Subscript)):
            return
        root = root_of(target)
        inner = target.value  # what the attribute or item is set on: torch.Tensor in torch.Tensor.eq = ...
        through = []
        while isinstance(inner, (ast.Attribute, ast.Subscript, ast.Starred)):
            through += [inner.attr] if isinstance(inner, ast.Attribute) else []
            inner = inner.value
        if (isinstance(root, ast.Name) and self._holds_import(root.id)) \
                or any(self.imported.stored(a) for a in through):
            self.refuse(target, f"{verb} {dotted_name(target)} changes an imported module or class (monkeypatching); "
                                "torch must stay as the grader has it")
        elif isinstance(root, ast.Call) and isinstance(target, ast.Attribute):
            self.refuse(target, f"{verb} an attribute of a call's result ({dotted_name(target)}) can patch classes; "
                                "assign to self.<name> instead")

    def _holds_import(self, name: str) -> bool:
        if name == "self":  # one function's self is not another's: a method's own never holds one
            return self._self_scope() in self.imported.self_holders
        return name in self.imported.names

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._check_target(t, "assigning to")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target, "assigning to")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_target(node.target, "assigning to")
        self._check_annotation(node.annotation)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._check_target(t, "deleting")

    # ---------------------------------------------------------------- definitions
    def _check_annotation(self, annotation: ast.AST | None) -> None:
        """No string in an annotation: typing tools evaluate it as code (get_type_hints, singledispatch)."""
        if annotation is None:
            return
        for n in ast.walk(annotation):
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                self.refuse(n, "a string in an annotation is code that typing tools evaluate later; write the "
                               "type itself (x: torch.Tensor) or leave the annotation out")

    def visit_FunctionDef(self, node) -> list:
        if is_dunder(node.name) and node.name not in ALLOWED_DUNDER_METHODS:
            self.refuse(node, f"defining {node.name} is not allowed: it changes how torch or the grader see "
                              f"your objects (allowed: {', '.join(sorted(ALLOWED_DUNDER_METHODS))})")
        args = node.args
        for a in params_of(args):
            self._check_annotation(a.annotation)
        self._check_annotation(node.returns)
        outer = [*node.decorator_list, *args.defaults, *[d for d in args.kw_defaults if d is not None],
                 *[a.annotation for a in params_of(args) if a.annotation is not None]]
        if node.returns is not None:
            outer.append(node.returns)
        # Defaults, decorators and annotations are evaluated outside the function, in the enclosing scope.
        return [*outer, self._frame(node), *node.body, _EXIT]

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> list:
        args = node.args
        outer = [*args.defaults, *[d for d in args.kw_defaults if d is not None]]
        return [*outer, self._frame(node), node.body, _EXIT]

    def _frame(self, fn) -> _Frame:
        names, stored = bound_names(fn)
        binds_self = "self" in names
        trusted = False
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and binds_self and "self" not in stored:
            positional = [*fn.args.posonlyargs, *fn.args.args]
            trusted = bool(positional) and positional[0].arg == "self" and \
                self.facts.instance_method(fn, METHOD_DECORATORS)
        return _Frame(names, binds_self, trusted, id(fn))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            self._check_base(node, base)
        for kw in node.keywords:
            self.refuse(kw, f"class keyword {kw.arg}= is not allowed (metaclasses change class creation)")
        if node.name in self.facts.checked_classes:
            self._check_overrides(node)
        return None

    def _check_base(self, cls: ast.ClassDef, base: ast.AST) -> None:
        if not isinstance(base, (ast.Name, ast.Attribute)):
            self.refuse(base, "a class may only derive from named classes (e.g. nn.Module), not from a call, "
                              "subscript or condition")
            return
        paths = self.facts.value_paths(base)
        if paths and any(p.rsplit(".", 1)[-1] in TENSOR_CLASSES for p in paths) or \
                (paths is None and resolve_path(base, self.imported.names).rsplit(".", 1)[-1] in TENSOR_CLASSES):
            self.refuse(base, f"subclassing {dotted_name(base)} is not allowed: a tensor subclass can change how "
                              "the grader compares predictions with labels")
            return
        if paths and paths <= NN_BASES:
            return
        if isinstance(base, ast.Name):
            if base.id in self.facts.own_classes:
                if self.facts.first_line(base.id) < cls.lineno:
                    return
                self.refuse(base, f"class {cls.name} derives from {base.id}, which is defined later in the file; "
                                  f"define {base.id} first")
                return
            if base.id == "object" and base.id not in self.facts.bindings:
                return
        self.refuse(base, f"class {cls.name} may not derive from {dotted_name(base)}: a class may derive only from "
                          "nn.Module, a torch.nn layer (nn.Sequential, nn.Conv2d ...) or a class defined earlier "
                          "in this file")

    def _check_overrides(self, cls: ast.ClassDef) -> None:
        """A model class defines forward, __init__, extra_repr and names of its own, never nn.Module's."""
        stack = list(cls.body)  # the class's own scope, `if`/`try` blocks included, not nested functions
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._check_override(cls, node, node.name)
                stack.extend(node.decorator_list)
                continue
            if isinstance(node, ast.Lambda):
                continue
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self._check_override(cls, node, node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    self._check_override(cls, node, a.asname or a.name.split(".")[0])
            stack.extend(ast.iter_child_nodes(node))

    def _check_override(self, cls: ast.ClassDef, where: ast.AST, name: str) -> None:
        if name in NN_MODULE_NAMES and name not in MODEL_METHODS:
            self.refuse(where, f"{cls.name}.{name}: a model class may not redefine nn.Module's own {name} "
                               "(the grader relies on it); define forward, __init__, extra_repr and names of "
                               f"your own (rename it, e.g. my_{name.strip('_')})")

    # ---------------------------------------------------------------- literals and names: no embedded data
    def _count_name(self, name: str, where: ast.AST) -> None:
        """Each distinct identifier's bytes join the literals' total: names reach the program at run time
        (**kwargs keys, __name__, state_dict keys) and carried 18 KB of weights in keyword names."""
        if name in self.names_seen:
            return
        self.names_seen.add(name)
        if len(name) > self.limits.max_name_chars:
            self.refuse(where, f"a name of {len(name):,} characters ({name[:16]}...; limit "
                               f"{self.limits.max_name_chars}): long names carry data as string literals do; "
                               "use a shorter name")
        size = len(name.encode("utf-8"))
        self.name_bytes += size
        self._check_embedded_total(where, size)

    def _check_embedded_total(self, node: ast.AST, size: int) -> None:
        """One finding, where string literals and names together first exceed the total."""
        total = self.literal_bytes + self.name_bytes
        if total > self.limits.max_literal_total >= total - size:
            self.refuse(node, f"string literals and names add up to more than {self.limits.max_literal_total:,} "
                              f"bytes ({self.literal_bytes:,} in literals, {self.name_bytes:,} in distinct names): "
                              "embedded data such as trained weights is not allowed")

    def visit_Constant(self, node: ast.Constant) -> list:
        value = node.value
        if isinstance(value, (str, bytes)):
            size = len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else len(value)
            if size > self.limits.max_literal_bytes:
                self.refuse(node, f"a {type(value).__name__} literal of {size:,} bytes (limit "
                                  f"{self.limits.max_literal_bytes:,}): embedded data such as trained weights "
                                  "is not allowed")
            self.literal_bytes += size
            self._check_embedded_total(node, size)
        elif isinstance(value, (int, float, complex)) and not isinstance(value, bool):
            self.numbers += 1
            if self.numbers == self.limits.max_numbers + 1:
                self.refuse(node, f"more than {self.limits.max_numbers:,} numeric literals: a table of numbers "
                                  "is embedded weights, not a model definition")
            if isinstance(value, int) and value.bit_length() > self.limits.max_int_bits:
                self.refuse(node, f"an integer literal of {value.bit_length()} bits "
                                  f"(limit {self.limits.max_int_bits}): packed data is not allowed")
        return []


def _names_of(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """The identifiers a node writes itself (not its children's), each with the node to point at."""
    if isinstance(node, ast.Name):
        return [(node.id, node)]
    if isinstance(node, ast.Attribute):
        return [(node.attr, node)]
    if isinstance(node, ast.keyword):
        return [(node.arg, node)] if node.arg else []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        own = [] if isinstance(node, ast.Lambda) else [(node.name, node)]
        return own + [(a.arg, a) for a in params_of(node.args)]  # the walk does not visit the ast.arg nodes
    if isinstance(node, ast.ClassDef):
        return [(node.name, node)]
    if isinstance(node, (ast.Import, ast.ImportFrom)):  # the walk does not visit the aliases
        module = (node.module or "").split(".") if isinstance(node, ast.ImportFrom) else []
        parts = [*module, *(p for a in node.names for p in [*a.name.split("."), a.asname] if p)]
        return [(p, node) for p in parts if p]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return [(n, node) for n in node.names]
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return [(node.name, node)] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [(node.rest, node)] if node.rest else []
    if isinstance(node, ast.MatchClass):
        return [(n, node) for n in node.kwd_attrs]
    return []


def _denied(attr: str) -> str | None:
    return f"{attr} is not allowed: it {DENIED_ATTRIBUTES[attr]}" if attr in DENIED_ATTRIBUTES else None


def _member_reason(module: str, name: str) -> str:
    """Why `module.name` is refused, and what to use instead (a clause to follow "X is not allowed: ")."""
    hint = HINTS.get(module) or f"allowed from {module}: {', '.join(sorted(MEMBERS[module]))}"
    if name in REFUSED_MEMBERS:
        return REFUSED_MEMBERS[name]
    if name.startswith("Lazy"):
        return LAZY
    if name in REEXPORTED:
        return f"it is the {name} module, which {module} imports for its own use; a module reached through " \
               f"another is refused ({hint})"
    return f"it is not on the course's list of {module} names; {hint}"


