"""The static policy: read a submission's source, never run it, and refuse what could escape or fake a grading.

It runs in the parent process before any worker starts, so a refused file never executes. Every finding is
`FILE:LINE:COL: reason`. The policy is the first of three walls (docs/security.md): it stops the obvious and
most of the clever; the worker's OS limits and the clean evaluator catch what a static reading cannot.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from grader.errors import PolicyError


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 64 * 1024  # a tiny CNN is a few KB of code; a bigger file is carrying data
    max_literal_bytes: int = 4 * 1024  # one string or bytes literal: longer ones are how weights get smuggled in
    max_literal_total: int = 16 * 1024  # all literals together, so weights cannot be split across many
    max_numbers: int = 1000  # numeric literals: an honest model has dozens, a weight table thousands
    max_int_bits: int = 64  # a bigger integer literal is packed data, not a hyperparameter
    max_findings: int = 10  # reported at once: enough to fix a file in one go, short enough to read


# Modules a submission may import: torch's model-building parts and a few pure-Python helpers.
BASE_IMPORTS = frozenset({
    "__future__", "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.optim",
    "torch.optim.lr_scheduler", "math", "typing", "collections", "functools", "dataclasses",
})

# Attribute names refused anywhere (on torch or on anything else), with the reason a student sees.
_FILES = "reads or writes files"
DENIED_ATTRIBUTES = {
    "load": _FILES, "save": _FILES, "from_file": _FILES, "fromfile": _FILES, "tofile": _FILES, "dump": _FILES,
    "serialization": _FILES, "onnx": _FILES, "profiler": _FILES, "package": "imports code from archives",
    "hub": "downloads code and weights", "utils": "torch.utils builds native code and starts processes",
    "jit": "TorchScript compiles and loads code", "compile": "compiles code", "compiler": "compiles code",
    "export": "is the grader's own tool", "fx": "generates and runs code",
    "ops": "loads native operators", "library": "defines native operators", "classes": "loads native classes",
    "multiprocessing": "starts processes", "distributed": "opens sockets and starts processes",
    "overrides": "intercepts every torch function", "cudart": "calls the CUDA runtime directly",
    "jiterator": "compiles CUDA code", "compile_shader": "compiles GPU code",
    "CUDAPluggableAllocator": "loads a native library", "change_current_allocator": "loads a native library",
    "get_type_hints": "evaluates strings as code", "ForwardRef": "evaluates strings as code",
    "numpy": "numpy arrays can write files", "mro": "reaches classes the grader uses",
    **{name: "reaches the grader's frames and memory" for name in (
        "gi_frame", "gi_code", "cr_frame", "ag_frame", "f_globals", "f_locals", "f_builtins", "f_back",
        "tb_frame", "tb_next", "co_code")},
}

# Builtins a submission may not call: files, code from strings, introspection, the terminal, leaving.
DENIED_BUILTINS = {
    "open": "open() reads and writes files; the grader supplies the data",
    "exec": "exec() runs code from a string", "eval": "eval() runs code from a string",
    "compile": "compile() builds code from a string", "globals": "globals() exposes the module's internals",
    "locals": "locals() exposes frames", "vars": "vars() exposes internals",
    "breakpoint": "breakpoint() stops the grader",
    "input": "input() waits for a keyboard the grader does not have", "delattr": "delattr() removes attributes",
    "type": "type() reaches and can patch torch's classes; use isinstance()",
    "exit": "exit() leaves the grader's process", "quit": "quit() leaves the grader's process",
    "help": "help() opens a pager", "SystemExit": "SystemExit leaves the grader's process",
    "KeyboardInterrupt": "KeyboardInterrupt stops the grader",
}

ALLOWED_DUNDER_NAMES = {"__name__", "__all__"}  # `if __name__ == "__main__":` and export lists are harmless
# Special methods a submission may define; others (__torch_function__, __getattr__, __eq__ ...) change
# how torch or the grader see its objects.
ALLOWED_DUNDER_METHODS = {
    "__init__", "__repr__", "__str__", "__len__", "__getitem__", "__iter__", "__contains__", "__post_init__",
}
TENSOR_CLASSES = {"Tensor", "Parameter", "Buffer"}  # a subclass can redefine argmax, ==, sum for the grader

_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


@dataclass(frozen=True)
class Finding:
    line: int
    col: int  # 1-based, as editors count
    reason: str

    def format(self, name: str) -> str:
        return f"{name}:{self.line}:{self.col}: {self.reason}"


def check_file(path, allowed_imports=(), limits: Limits = Limits(), name: str | None = None) -> str:
    """Refuse `path` with a PolicyError listing each finding as NAME:LINE:COL: reason; return its sha256."""
    path = Path(path)
    raw = path.read_bytes()
    findings = check_source(raw, allowed_imports, limits)
    if findings:
        shown = name or display_name(path)
        lines = [f.format(shown) for f in findings[: limits.max_findings]]
        if len(findings) > limits.max_findings:
            lines.append(f"... and {len(findings) - limits.max_findings} more")
        raise PolicyError("\n".join(lines))
    return hashlib.sha256(raw).hexdigest()


def display_name(path: Path) -> str:
    """The path relative to the working directory when it is below it, as a compiler would print it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_source(raw: bytes, allowed_imports=(), limits: Limits = Limits()) -> list[Finding]:
    """Every policy finding in a submission's bytes, in source order; [] when it may run."""
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
    checker = _Checker(_allowlist(allowed_imports), limits, _imported_names(tree))
    checker.visit(tree)
    return sorted(checker.findings, key=lambda f: (f.line, f.col))


@dataclass(frozen=True)
class _Allowlist:
    exact: frozenset
    prefixes: tuple  # a lesson's extra modules count with their submodules

    def allows(self, module: str) -> bool:
        return module in self.exact or any(module == p or module.startswith(p + ".") for p in self.prefixes)


def _allowlist(extra) -> _Allowlist:
    return _Allowlist(BASE_IMPORTS, tuple(extra))


def _imported_names(tree: ast.AST) -> dict[str, str]:
    """Names that may hold an imported module, class or function: name -> dotted path ("?" when unknown).

    Imports, then what they flow into: aliases (T = torch.Tensor), loop and `with` targets, parameters that
    receive them (as defaults or as arguments at a call site), and results of functions that return them.
    A static reading cannot follow every flow; the evaluator is there for the rest (docs/security.md).
    """
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            names.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    functions: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(node)
    flow = _Flow(names, functions)
    while flow.changed:  # until nothing new flows: aliases of aliases, parameters of parameters
        flow.changed = False
        for node in ast.walk(tree):
            flow.visit(node)
    return names


class _Flow:
    """One pass of taint propagation over the tree; `changed` says whether another pass is needed."""

    def __init__(self, names: dict[str, str], functions: dict[str, list]):
        self.names, self.functions = names, functions
        self.returning: set[str] = set()  # in-file functions that return an imported object
        self.changed = True

    def holds(self, expr) -> bool:
        if isinstance(expr, ast.Call):  # get() where get returns torch.Tensor; (lambda: torch.Tensor)()
            func = expr.func
            return (isinstance(func, ast.Name) and func.id in self.returning) or \
                (isinstance(func, ast.Lambda) and self.holds(func.body))
        return _references(expr, self.names, self.holds)

    def taint(self, target, value) -> None:
        for n in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
            if isinstance(n, ast.Starred):
                n = n.value
            if isinstance(n, ast.Name) and n.id not in self.names and n.id != "self":
                self.names[n.id] = _resolve(value, self.names) if value is not None else "?"
                self.changed = True

    def visit(self, node) -> None:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            if self.holds(node.value):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    self.taint(t, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and self.holds(node.iter):
            self.taint(node.target, None)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None and self.holds(node.context_expr):
            self.taint(node.optional_vars, None)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self._visit_function(node)
        elif isinstance(node, ast.Call):
            self._visit_call(node)

    def _visit_function(self, fn) -> None:
        args = fn.args
        positional = [*args.posonlyargs, *args.args]
        for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
            if self.holds(default):
                self.taint(ast.Name(arg.arg), None)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            if default is not None and self.holds(default):
                self.taint(ast.Name(arg.arg), None)
        if isinstance(fn, ast.Lambda) or fn.name in self.returning:
            return
        stack = list(fn.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.Return, ast.Yield)) and node.value is not None and self.holds(node.value):
                self.returning.add(fn.name)
                self.changed = True
                return
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.extend(ast.iter_child_nodes(node))

    def _visit_call(self, call: ast.Call) -> None:
        values = [*call.args, *(k.value for k in call.keywords)]
        if not any(self.holds(v) for v in values):
            return
        # Every in-file function this call may hand the imported object to: the one called, and any passed
        # along (functools.partial(patch, torch.Tensor), map(patch, [torch.Tensor])).
        called = [call.func, *values]
        for f in called:
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            for fn in self.functions.get(name, []):
                for arg in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs, fn.args.vararg, fn.args.kwarg]:
                    if arg is not None and arg.arg not in ("self", "cls"):
                        self.taint(ast.Name(arg.arg), None)


def _resolve(expr: ast.AST, names: dict[str, str]) -> str:
    """The dotted path an alias stands for, through earlier aliases; "?" when it is not a plain chain."""
    if isinstance(expr, ast.Attribute):
        return f"{_resolve(expr.value, names)}.{expr.attr}"
    if isinstance(expr, ast.Name):
        return names.get(expr.id, expr.id)
    return "?"


def _references(expr: ast.AST, names, holds=None) -> bool:
    """Whether `expr` holds an imported object itself (torch.Tensor, [nn.Module]), not the result of a call."""
    holds = holds or (lambda e: _references(e, names))
    if isinstance(expr, ast.Name):
        return expr.id in names
    if isinstance(expr, (ast.Attribute, ast.Subscript, ast.Starred)):
        return holds(expr.value)
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        return any(holds(e) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return any(holds(e) for e in expr.values if e is not None)
    if isinstance(expr, ast.IfExp):
        return holds(expr.body) or holds(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return any(holds(e) for e in expr.values)
    if isinstance(expr, ast.Lambda):
        return holds(expr.body)
    return False


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


def _dotted(node: ast.AST) -> str:
    """Source-like text of an attribute chain: torch.zeros(...).numpy(...).tofile."""
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}(...)"
    if isinstance(node, ast.Subscript):
        return f"{_dotted(node.value)}[...]"
    return node.id if isinstance(node, ast.Name) else "(...)"


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class _Checker(ast.NodeVisitor):
    def __init__(self, allow: _Allowlist, limits: Limits, imported: dict[str, str]):
        self.allow, self.limits, self.imported = allow, limits, imported
        self.findings: list[Finding] = []
        self.scopes: list[set[str]] = []  # names bound in each enclosing function
        self.literal_bytes = 0
        self.numbers = 0
        self.sanctioned: set[int] = set()  # ids of nodes a call-site rule already approved

    def refuse(self, node: ast.AST, reason: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, reason))

    # ---------------------------------------------------------------- imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not self.allow.allows(alias.name):
                self.refuse(node, f"import of {alias.name!r} is not allowed; a submission may import "
                                  f"{', '.join(sorted(m for m in BASE_IMPORTS if m != '__future__'))}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            self.refuse(node, "relative imports are not allowed: a submission is one file")
            return
        if not self.allow.allows(module):
            self.refuse(node, f"import from {module!r} is not allowed; a submission may import "
                              f"{', '.join(sorted(m for m in BASE_IMPORTS if m != '__future__'))}")
            return
        for alias in node.names:
            if alias.name == "*":
                self.refuse(node, f"`from {module} import *` is not allowed; import the names you use")
            elif alias.name.startswith("_") and module != "__future__":
                self.refuse(node, f"importing {module}.{alias.name}: names starting with an underscore are private")
            elif alias.name in DENIED_ATTRIBUTES:
                self.refuse(node, f"importing {module}.{alias.name} is not allowed: it {DENIED_ATTRIBUTES[alias.name]}")
            elif alias.name in DENIED_BUILTINS or alias.name in ("getattr", "setattr"):
                self.refuse(node, f"importing {alias.name} is not allowed")

    # ---------------------------------------------------------------- names and attributes
    def visit_Name(self, node: ast.Name) -> None:
        if _is_dunder(node.id):
            if node.id not in ALLOWED_DUNDER_NAMES:
                self.refuse(node, f"the name {node.id} is not allowed: dunder names reach Python's internals")
            return
        if any(node.id in scope for scope in self.scopes):
            return  # a parameter or local of an enclosing function (`def forward(self, input)`)
        if node.id in DENIED_BUILTINS:
            self.refuse(node, DENIED_BUILTINS[node.id])
        elif node.id in ("getattr", "setattr", "hasattr") and id(node) not in self.sanctioned:
            self.refuse(node, f"{node.id} may only be called directly, as {node.id}(self, \"name\", ...)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) not in self.sanctioned:
            reason = self._attribute_reason(node.attr)
            if reason:
                self.refuse(node, f"{_dotted(node)}: {reason}")
        self.generic_visit(node)

    def _attribute_reason(self, attr: str) -> str | None:
        if _is_dunder(attr):
            return f"dunder attributes such as {attr} reach Python's internals (only super().__init__() is allowed)"
        if attr.startswith("_"):
            return f"attribute {attr} starts with an underscore: private internals are off limits " \
                   "(name your own attributes without a leading underscore)"
        if attr in DENIED_ATTRIBUTES:
            return f"{attr} is not allowed: it {DENIED_ATTRIBUTES[attr]}"
        return None

    # ---------------------------------------------------------------- calls
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "__init__":
            self.sanctioned.add(id(func))  # super().__init__() and nn.Module.__init__(self)
        if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "hasattr") \
                and not any(func.id in s for s in self.scopes):
            self._check_dynamic_attribute(node, func.id)
        self.generic_visit(node)

    def _check_dynamic_attribute(self, node: ast.Call, fn: str) -> None:
        self.sanctioned.add(id(node.func))
        if len(node.args) < 2:
            self.refuse(node, f"{fn}() needs an object and an attribute name")
            return
        target, name = node.args[0], node.args[1]
        on_self = isinstance(target, ast.Name) and target.id == "self"
        if fn == "setattr" and not on_self:
            self.refuse(node, "setattr() is only allowed on self (setattr(self, f\"conv{i}\", layer)); "
                              "setting attributes elsewhere can patch torch")
            return
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            reason = self._attribute_reason(name.value)
            if reason:
                self.refuse(node, f"{fn}(..., {name.value!r}): {reason}")
            return
        prefix = name.values[0] if isinstance(name, ast.JoinedStr) and name.values else None
        if on_self and isinstance(prefix, ast.Constant) and isinstance(prefix.value, str) \
                and prefix.value and not prefix.value.startswith("_"):
            return  # getattr(self, f"conv{i}"): the submission's own layers
        self.refuse(node, f"{fn}() with a computed attribute name is only allowed on self with a literal prefix "
                          f"(getattr(self, f\"conv{{i}}\")); use nn.ModuleList for numbered layers")

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
        root = _root(target)
        if isinstance(root, ast.Name) and root.id in self.imported:
            self.refuse(target, f"{verb} {_dotted(target)} changes an imported module or class (monkeypatching); "
                                "torch must stay as the grader has it")
        elif isinstance(root, ast.Call) and isinstance(target, ast.Attribute):
            self.refuse(target, f"{verb} an attribute of a call's result ({_dotted(target)}) can patch classes; "
                                "assign to self.<name> instead")

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._check_target(t, "assigning to")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target, "assigning to")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_target(node.target, "assigning to")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._check_target(t, "deleting")
        self.generic_visit(node)

    # ---------------------------------------------------------------- definitions
    def visit_FunctionDef(self, node) -> None:
        if _is_dunder(node.name) and node.name not in ALLOWED_DUNDER_METHODS:
            self.refuse(node, f"defining {node.name} is not allowed: it changes how torch or the grader see "
                              f"your objects (allowed: {', '.join(sorted(ALLOWED_DUNDER_METHODS))})")
        for d in node.decorator_list:
            self.visit(d)
        self._visit_arguments(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self.scopes.append(_bound_names(node))
        for stmt in node.body:
            self.visit(stmt)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_arguments(node.args)
        self.scopes.append(_bound_names(node))
        self.visit(node.body)
        self.scopes.pop()

    def _visit_arguments(self, args: ast.arguments) -> None:
        # Defaults and annotations are evaluated outside the function, in the enclosing scope.
        for default in [*args.defaults, *[d for d in args.kw_defaults if d is not None]]:
            self.visit(default)
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None and a.annotation is not None:
                self.visit(a.annotation)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            if not isinstance(base, (ast.Name, ast.Attribute)):
                self.refuse(base, "a class may only derive from named classes (e.g. nn.Module)")
            elif _resolve(base, self.imported).rsplit(".", 1)[-1] in TENSOR_CLASSES:
                self.refuse(base, f"subclassing {_dotted(base)} is not allowed: a tensor subclass can change how "
                                  "the grader compares predictions with labels")
        for kw in node.keywords:
            self.refuse(kw, f"class keyword {kw.arg}= is not allowed (metaclasses change class creation)")
        self.generic_visit(node)

    # ---------------------------------------------------------------- literals: no embedded data
    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, (str, bytes)):
            size = len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else len(value)
            if size > self.limits.max_literal_bytes:
                self.refuse(node, f"a {type(value).__name__} literal of {size:,} bytes (limit "
                                  f"{self.limits.max_literal_bytes:,}): embedded data such as trained weights "
                                  "is not allowed")
            self.literal_bytes += size
            if self.literal_bytes > self.limits.max_literal_total >= self.literal_bytes - size:
                self.refuse(node, f"string literals add up to more than {self.limits.max_literal_total:,} bytes: "
                                  "embedded data such as trained weights is not allowed")
        elif isinstance(value, (int, float, complex)) and not isinstance(value, bool):
            self.numbers += 1
            if self.numbers == self.limits.max_numbers + 1:
                self.refuse(node, f"more than {self.limits.max_numbers:,} numeric literals: a table of numbers "
                                  "is embedded weights, not a model definition")
            if isinstance(value, int) and value.bit_length() > self.limits.max_int_bits:
                self.refuse(node, f"an integer literal of {value.bit_length()} bits "
                                  f"(limit {self.limits.max_int_bits}): packed data is not allowed")


def _bound_names(fn) -> set[str]:
    """Parameters and names assigned in a function's own body (not in nested functions or classes)."""
    args = fn.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}
    stack = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return names
