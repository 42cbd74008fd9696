"""What a submission's names stand for, read off its tree without running it: every binding (the facts) and
where each imported object flows through names, attributes and calls (the taint)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from grader.walls.policy.tables import INSTANCE_DECORATORS, MEMBERS, MODULES, NN_BASES, NN_MODULE_NAMES


@dataclass
class _Binding:
    kind: str  # "import", "assign" (name = value), "class", "def", "other" (loop target, parameter ...)
    node: ast.AST  # the statement or node that binds
    value: ast.AST | None = None  # the assigned expression for "assign"
    path: str | None = None  # the dotted import path for "import"
    scope: str = "module"  # "module", "class" or "function": where the binding happens


class Facts:
    """What the whole file binds, read once before the walk: names, aliases, classes and their methods."""

    def __init__(self, tree: ast.Module, extras: tuple[str, ...]):
        self.extras = extras
        self.parents: dict[int, ast.AST] = {}
        self.bindings: dict[str, list[_Binding]] = {}
        self.classes: list[ast.ClassDef] = []
        self.methods: set[str] = set()  # functions defined directly in a class body
        self.self_stores: set[str] = set()  # attributes assigned as self.<name> = ...
        self.class_attrs: set[str] = set()  # names bound directly in a class body
        self.extra_modules: set[str] = set()  # lesson-allowed modules bound by import statements
        self.class_scoped: set[int] = set()  # ids of statements whose names become class attributes
        self._scope_names: dict[int, set[str]] = {}  # class id -> names in its own scope (instance_method)
        self._collect(tree)
        self.paths = self._resolve_paths()
        self.own_classes = self._own_classes()
        self.model_classes = self._model_classes()
        self.checked_classes = self._mixed_into_models()
        self.own_private = {n for n in self.methods | self.self_stores | self.class_attrs
                            if n.startswith("_") and not is_dunder(n)} - NN_MODULE_NAMES

    def _bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)

    def _collect(self, tree: ast.Module) -> None:
        stack: list[tuple[ast.AST, str]] = [(tree, "module")]
        while stack:
            node, scope = stack.pop()
            children_scope = scope
            if scope == "class" and isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign)):
                self.class_scoped.add(id(node))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._bind(node.name, _Binding("def", node, scope=scope))
                if scope == "class":
                    self.methods.add(node.name)
                for a in params_of(node.args):
                    self._bind(a.arg, _Binding("other", a, scope="function"))
            elif isinstance(node, ast.Lambda):
                for a in params_of(node.args):
                    self._bind(a.arg, _Binding("other", a, scope="function"))
            elif isinstance(node, ast.ClassDef):
                self._bind(node.name, _Binding("class", node, scope=scope))
                self.classes.append(node)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    name = a.asname or a.name.split(".")[0]
                    path = a.name if a.asname else a.name.split(".")[0]
                    self._bind(name, _Binding("import", node, path=path, scope=scope))
                    if not self._in_tables(path):
                        self.extra_modules.add(path)
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    self._bind(a.asname or a.name, _Binding("import", node, path=f"{node.module}.{a.name}",
                                                              scope=scope))
            elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                for t in node.targets:
                    self._bind(t.id, _Binding("assign", node, value=node.value, scope=scope))
                    self.parents[id(t)] = node
                    if scope == "class":
                        self.class_attrs.add(t.id)
                stack.append((node.value, scope))
                self.parents[id(node.value)] = node
                continue
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                if isinstance(node.ctx, ast.Store):
                    self._bind(node.id, _Binding("other", node, scope=scope))
                    if scope == "class":
                        self.class_attrs.add(node.id)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self._bind(node.name, _Binding("other", node, scope=scope))
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                self._bind(node.name, _Binding("other", node, scope=scope))
            elif isinstance(node, ast.MatchMapping) and node.rest:
                self._bind(node.rest, _Binding("other", node, scope=scope))
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:  # bound elsewhere, but from a function: never a plain alias
                    self._bind(name, _Binding("other", node, scope="module"))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                self.self_stores.add(node.attr)
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
                if isinstance(node, ast.ClassDef) and child in node.body:
                    stack.append((child, "class"))
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and (
                        child in (node.body if isinstance(node.body, list) else [node.body])):
                    stack.append((child, "function"))
                elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                    stack.append((child, "function"))
                else:
                    stack.append((child, children_scope))

    def _in_tables(self, path: str) -> bool:
        return path in MODULES or path.split(".")[0] in ("torch", "math", "typing", "collections", "functools",
                                                          "dataclasses", "__future__")

    # -------------------------------------------------------------------- what names may hold
    def _resolve_paths(self) -> dict[str, set[str]]:
        """name -> the module paths and module members it may hold, through imports and plain aliases.

        Only paths in the tables (a module, or a module's member) are kept, so the set of possible paths is
        finite and the propagation ends; a chain that leaves the tables is refused where it is written.
        """
        paths: dict[str, set[str]] = {}
        dependents: dict[str, list[tuple[str, str, list[str]]]] = {}  # root -> (target, root, attrs)
        work: list[str] = []
        for name, bindings in self.bindings.items():
            for b in bindings:
                if b.kind == "import":
                    p = self._known(b.path)
                    if p:
                        paths.setdefault(name, set()).add(p)
                        work.append(name)
                elif b.kind == "assign":
                    chain = _chain(b.value)
                    if chain:
                        dependents.setdefault(chain[0], []).append((name, chain[0], chain[1:]))
        while work:
            root = work.pop()
            for target, _, attrs in dependents.get(root, ()):
                for p in list(paths.get(root, ())):
                    q = self._extend(p, attrs)
                    if q and q not in paths.setdefault(target, set()):
                        paths[target].add(q)
                        work.append(target)
        return paths

    def _known(self, path: str) -> str | None:
        if path in MODULES or path in self.extra_modules:
            return path
        module, _, name = path.rpartition(".")
        return path if module in MODULES and name in MEMBERS[module] else None

    def _extend(self, path: str, attrs: list[str]) -> str | None:
        for attr in attrs:
            if path not in MODULES or attr not in MEMBERS[path]:
                return None  # a value's attribute, or a name the chain check refuses where it is written
            path = f"{path}.{attr}"
        return path

    def module_paths(self, node: ast.AST) -> set[str]:
        """The modules (in the tables, or a lesson's extra ones) that `node` may evaluate to."""
        chain = _chain(node)
        if not chain:
            return set()
        found = set()
        for p in self.paths.get(chain[0], ()):
            q = self._extend(p, chain[1:]) if p in MODULES else (p if len(chain) == 1 else None)
            if q and (q in MODULES or q in self.extra_modules):
                found.add(q)
        return found

    def value_paths(self, node: ast.AST) -> set[str] | None:
        """Every path a base-class expression may hold, or None when some binding of its name is not an
        import or a plain alias (then the policy cannot know what it is)."""
        chain = _chain(node)
        if not chain or chain[0] not in self.bindings:
            return None
        if any(b.kind not in ("import", "assign") for b in self.bindings[chain[0]]):
            return None
        if any(b.kind == "assign" and not _chain(b.value) for b in self.bindings[chain[0]]):
            return None
        found = set()
        for p in self.paths.get(chain[0], ()):
            q = self._extend(p, chain[1:])
            if q is None:
                return None
            found.add(q)
        return found or None

    # -------------------------------------------------------------------- classes of the file
    def _own_classes(self) -> set[str]:
        """Names that only ever hold a class this file defines (class statements and `Net = MyModel`)."""
        candidates = {n for n, bs in self.bindings.items()
                      if any(b.kind == "class" for b in bs) or all(b.kind == "assign" for b in bs)}
        dependents: dict[str, set[str]] = {}
        for n in candidates:
            for b in self.bindings[n]:
                if b.kind == "assign" and isinstance(b.value, ast.Name):
                    dependents.setdefault(b.value.id, set()).add(n)
        own = set(candidates)
        work = list(candidates)
        while work:
            n = work.pop()
            if n not in own:
                continue
            ok = all(b.kind == "class" or (b.kind == "assign" and isinstance(b.value, ast.Name)
                                           and b.value.id in own) for b in self.bindings[n])
            if not ok:
                own.discard(n)
                work.extend(dependents.get(n, ()))
        return own

    def first_line(self, name: str) -> int:
        return min(b.node.lineno for b in self.bindings.get(name, ()) if hasattr(b.node, "lineno"))

    def _model_classes(self) -> set[str]:
        """In-file classes that derive, directly or through each other, from a torch.nn class."""
        models: set[str] = set()
        changed = True
        rounds = 0
        while changed and rounds <= len(self.classes):
            changed, rounds = False, rounds + 1
            for cls in self.classes:
                if cls.name in models:
                    continue
                for base in cls.bases:
                    paths = self.value_paths(base) or set()
                    if (paths and paths <= NN_BASES) or (isinstance(base, ast.Name) and base.id in models):
                        models.add(cls.name)
                        changed = True
                        break
            for n in self.own_classes - models:  # Net = MyModel
                if all(b.kind == "assign" and b.value.id in models for b in self.bindings[n]
                       if b.kind != "class") and not any(b.kind == "class" for b in self.bindings[n]):
                    models.add(n)
                    changed = True
        return models

    def _mixed_into_models(self) -> set[str]:
        """Model classes and every in-file class they derive from: a mixin's methods end up on the model."""
        by_name = {c.name: c for c in self.classes}
        checked, work = set(), list(self.model_classes)
        while work:
            name = work.pop()
            if name in checked:
                continue
            checked.add(name)
            for b in self.bindings.get(name, ()):
                if b.kind == "assign" and isinstance(b.value, ast.Name):
                    work.append(b.value.id)
            cls = by_name.get(name)
            for base in cls.bases if cls else ():
                if isinstance(base, ast.Name) and base.id in self.own_classes:
                    work.append(base.id)
        return checked

    def module_level(self, name: str) -> list[_Binding]:
        return [b for b in self.bindings.get(name, ()) if b.scope == "module"]

    def instance_method(self, fn: ast.AST, decorators: set[str]) -> bool:
        """Whether `fn` surely receives its class's instance (or class) as first argument: defined directly in a
        class body, every decorator in `decorators`, and never named again in the class's own scope."""
        cls = self.parents.get(id(fn))
        if not (isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and isinstance(cls, ast.ClassDef)
                and fn in cls.body and all(_decorator_path(d, self) in decorators for d in fn.decorator_list)):
            return False
        if id(cls) not in self._scope_names:
            self._scope_names[id(cls)] = _class_scope_names(cls)
        return fn.name not in self._scope_names[id(cls)]


def _class_scope_names(cls: ast.ClassDef) -> set[str]:
    """Names read or written in a class's own scope, not inside its methods: there `f = staticmethod(f)` or
    `g = partial(f, torch.Tensor)` hands a method's first parameter whatever its caller passes."""
    found: set[str] = set()
    stack: list[ast.AST] = list(cls.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            stack.extend([*getattr(node, "decorator_list", []), *args.defaults,
                          *[d for d in args.kw_defaults if d is not None]])
            continue  # a body is its own scope: a bare name there is a global, not the class's method
        if isinstance(node, ast.ClassDef):
            stack.extend([*node.decorator_list, *node.bases, *node.keywords])
            continue
        if isinstance(node, ast.Name):
            found.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return found




def params_of(args: ast.arguments) -> list[ast.arg]:
    return [a for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a]


def _chain(node: ast.AST) -> list[str] | None:
    """[root, attr, attr ...] of a plain attribute chain `a.b.c`; None for anything else."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(attrs)]


# ---------------------------------------------------------------------------------------------------- taint
@dataclass
class Imported:
    """What the monkeypatching rule follows: names and attribute names that may hold an imported object."""

    names: dict[str, str]  # name -> dotted path ("?" when it came through a container, a call or a parameter)
    attrs: set[str]  # attribute names an imported object was stored under (self.T = torch.Tensor)
    prefixes: set[str]  # literal prefixes of computed names one was stored under (setattr(self, f"T{i}", ...))
    self_holders: set[int | None]  # functions (None: the module) whose `self` may hold one: def patch(self)
    settled: bool  # whether the propagation ended within the pass limit

    def stored(self, attr: str) -> bool:
        return attr in self.attrs or any(attr.startswith(p) for p in self.prefixes)


def imported_names(tree: ast.AST, max_passes: int, facts: Facts) -> Imported:
    """Names that may hold an imported module, class or function, and whether the propagation settled.

    Imports, then what they flow into: aliases (T = torch.Tensor), loop and `with` targets, parameters that
    receive them (as defaults, as arguments at a call site, through `in` and `[]`), results of functions that
    return them, containers they are added to (things.append(torch.Tensor)) and attributes they are stored in.
    A static reading cannot follow every flow; the evaluator is there for the rest (docs/security.md).
    """
    names: dict[str, str] = {}
    nodes = list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            names.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    functions: dict[str, list] = {}
    classes: dict[str, list] = {}
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            classes.setdefault(node.name, []).append(node)
    relevant = [n for n in nodes if isinstance(n, (
        ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.AsyncFor, ast.comprehension, ast.withitem,
        ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Call, ast.Compare, ast.Subscript))]
    flow = _Flow(names, functions, classes, facts)
    passes = 0
    while flow.changed:  # until nothing new flows: aliases of aliases, parameters of parameters
        if passes == max_passes:
            break
        passes += 1
        flow.changed = False
        for node in relevant:
            flow.visit(node)
    return Imported(names, flow.attrs, flow.prefixes, flow.self_holders, not flow.changed)


# Builtins whose result may be (or contain) one of their arguments: list([torch.Tensor])[0] is torch.Tensor.
_PASS_THROUGH = frozenset({
    "list", "tuple", "dict", "set", "frozenset", "iter", "next", "reversed", "sorted", "min", "max", "filter",
    "map", "zip", "enumerate", "getattr", "super", "property", "staticmethod", "classmethod"})


class _Flow:
    """One pass of taint propagation over the tree; `changed` says whether another pass is needed."""

    def __init__(self, names: dict[str, str], functions: dict[str, list], classes: dict[str, list],
                 facts: Facts):
        self.names, self.functions, self.classes, self.facts = names, functions, classes, facts
        self.returning: set[str] = set()  # in-file functions that return an imported object
        self.attrs: set[str] = set()
        self.prefixes: set[str] = set()
        self.self_holders: set[int | None] = set()
        self.binders: dict[int, bool] = {}  # function id -> whether it binds the name self itself
        # Methods whose first parameter is surely their instance or class: the only parameters a call's
        # arguments never reach. Any other `self` is a parameter like the rest (def patch(self): ...).
        self.instance_methods = {id(f) for fs in functions.values() for f in fs
                                 if facts.instance_method(f, INSTANCE_DECORATORS)}
        self.changed = True
        self.memo: dict[int, bool] = {}  # holds() per node until the next taint: keeps a pass linear in the file
        self.parameters_done: set[str | None] = set()  # functions whose parameters are all tainted already

    def _changed(self) -> None:
        self.changed = True
        self.memo.clear()

    def holds(self, expr) -> bool:
        key = id(expr)
        if key not in self.memo:
            self.memo[key] = self._holds(expr)
        return self.memo[key]

    def _holds(self, expr) -> bool:
        if isinstance(expr, ast.Call):
            func = expr.func
            if isinstance(func, ast.Name) and func.id in self.returning:
                return True  # get() where get returns torch.Tensor
            if isinstance(func, ast.Lambda) and self.holds(func.body):
                return True  # (lambda: torch.Tensor)()
            arguments = [*expr.args, *(k.value for k in expr.keywords)]
            if self._passes_through(func) and any(self.holds(a) for a in arguments):
                return True  # list([torch.Tensor])[0], functools.partial(torch.Tensor).func
            if isinstance(func, ast.Attribute):  # things.pop() where things.append(torch.Tensor) came first
                owner = func.value
                return (isinstance(owner, ast.Name) and self.names.get(owner.id) == "?") or \
                    (isinstance(owner, ast.Attribute) and self._stored(owner.attr))
            return False
        if isinstance(expr, ast.Attribute) and self._stored(expr.attr):
            return True  # self.T where self.T = torch.Tensor
        if isinstance(expr, ast.Name) and expr.id == "self":
            return self.self_scope(expr) in self.self_holders
        return _references(expr, self.names, self.holds)

    def _stored(self, attr: str) -> bool:
        return attr in self.attrs or any(attr.startswith(p) for p in self.prefixes)

    def self_scope(self, node: ast.AST) -> int | None:
        """The function whose `self` a name `self` here is (None: the module's)."""
        node = self.facts.parents.get(id(node))
        while node is not None:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if id(node) not in self.binders:
                    self.binders[id(node)] = "self" in bound_names(node)[0]
                if self.binders[id(node)]:
                    return id(node)
            node = self.facts.parents.get(id(node))
        return None

    def _taint_self(self, scope: int | None) -> None:
        if scope not in self.self_holders:
            self.self_holders.add(scope)
            self._changed()

    def _passes_through(self, func: ast.AST) -> bool:
        if isinstance(func, ast.Name) and func.id in _PASS_THROUGH and func.id not in self.names:
            return True
        chain = _chain(func)
        return bool(chain) and self.names.get(chain[0], "").split(".")[0] in (
            "functools", "collections", "typing", "dataclasses")

    def taint(self, target, value) -> None:
        for n in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
            if isinstance(n, ast.Starred):
                n = n.value
            while isinstance(n, ast.Subscript):  # things[0] = torch.Tensor taints things
                n, value = n.value, None
            if isinstance(n, ast.Attribute):
                if n.attr not in self.attrs:
                    self.attrs.add(n.attr)
                    self._changed()
            elif isinstance(n, ast.Name) and n.id == "self":
                self._taint_self(self.self_scope(n))  # self = torch.Tensor, for self in [torch.Tensor]
            elif isinstance(n, ast.Name) and n.id not in self.names:
                self.names[n.id] = resolve_path(value, self.names) if value is not None else "?"
                self._changed()

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
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            if any(self.holds(e) for e in [node.left, *node.comparators]):  # `x in mine` calls mine.__contains__
                self._taint_parameters("__contains__")
        elif isinstance(node, ast.Subscript) and self.holds(node.slice):  # mine[x] calls mine.__getitem__
            self._taint_parameters("__getitem__")

    def _visit_function(self, fn) -> None:
        args = fn.args
        positional = [*args.posonlyargs, *args.args]
        for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
            if self.holds(default):
                self._taint_parameter(fn, arg)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            if default is not None and self.holds(default):
                self._taint_parameter(fn, arg)
        if isinstance(fn, ast.Lambda) or fn.name in self.returning:
            return
        stack = list(fn.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.Return, ast.Yield)) and node.value is not None and self.holds(node.value):
                self.returning.add(fn.name)
                self._changed()
                return
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.extend(ast.iter_child_nodes(node))

    def _visit_call(self, call: ast.Call) -> None:
        values = [*call.args, *(k.value for k in call.keywords)]
        if not any(self.holds(v) for v in values):
            return
        func = call.func
        if isinstance(func, ast.Attribute) and not isinstance(func.value, ast.Call):
            self.taint(func.value, None)  # things.append(torch.Tensor), self.acts.append(nn.ReLU)
        if isinstance(func, ast.Name) and func.id == "setattr" and len(call.args) >= 3 and self.holds(call.args[2]):
            self._taint_setattr(call.args[1])
        # Every in-file function this call may hand the imported object to: the one called, and any passed
        # along (functools.partial(patch, torch.Tensor), map(patch, [torch.Tensor])); a class's __init__.
        for f in [func, *values]:
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            self._taint_parameters(name)
            for cls in self.classes.get(name, []):
                self._taint_parameters("__init__")
                self._taint_parameters("__post_init__")
                for stmt in cls.body:  # dataclass fields are set from the constructor's arguments
                    if isinstance(stmt, ast.AnnAssign):
                        self.taint(ast.Attribute(ast.Name("self"), getattr(stmt.target, "id", "?"), ast.Store()),
                                   None)

    def _taint_setattr(self, name: ast.AST) -> None:
        """setattr(self, NAME, torch.Tensor): the attribute NAME spells, or every name its literal prefix begins."""
        attr = folded_text(name)
        if attr is None:
            first = name.values[0] if isinstance(name, ast.JoinedStr) and name.values else None
            prefix = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
            if prefix not in self.prefixes:
                self.prefixes.add(prefix)
                self._changed()
        elif attr not in self.attrs:
            self.attrs.add(attr)
            self._changed()

    def _taint_parameters(self, name: str | None) -> None:
        if name in self.parameters_done:
            return
        self.parameters_done.add(name)
        for fn in self.functions.get(name, []):
            positional = [*fn.args.posonlyargs, *fn.args.args]
            instance = positional[0] if positional and id(fn) in self.instance_methods else None
            for arg in params_of(fn.args):
                if arg is not instance:
                    self._taint_parameter(fn, arg)

    def _taint_parameter(self, fn: ast.AST, arg: ast.arg) -> None:
        if arg.arg == "self":
            self._taint_self(id(fn))  # only this function's self: every method has one of that name
        elif arg.arg not in self.names:
            self.names[arg.arg] = "?"
            self._changed()


def resolve_path(expr: ast.AST, names: dict[str, str]) -> str:
    """The dotted path an alias stands for, through earlier aliases; "?" when it is not a plain chain."""
    chain = _chain(expr)
    if not chain:
        return "?"
    return ".".join([names.get(chain[0], chain[0]), *chain[1:]])


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


def root_of(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


def dotted_name(node: ast.AST) -> str:
    """Source-like text of an attribute chain: torch.zeros(...).numpy(...).tofile."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(f".{node.attr}")
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("(...)")
            node = node.func
        elif isinstance(node, ast.Subscript):
            parts.append("[...]")
            node = node.value
        else:
            parts.append(node.id if isinstance(node, ast.Name) else "(...)")
            return "".join(reversed(parts))


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")



def folded_text(node: ast.AST) -> str | None:
    """The text of a str literal, or of an f-string whose parts are all literals (f"from_file", f"{'s'}um");
    None when some part is computed. A format spec is never folded: f"{'a':>99999999}" would build the text."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if not isinstance(node, ast.JoinedStr):
        return None
    parts = []
    for v in node.values:
        if isinstance(v, ast.Constant):
            parts.append(str(v.value))
            continue
        if not isinstance(v, ast.FormattedValue) or v.format_spec is not None:
            return None
        inner = v.value.value if isinstance(v.value, ast.Constant) else folded_text(v.value)
        if inner is None and not isinstance(v.value, ast.Constant):
            return None
        convert = {ord("r"): repr, ord("a"): ascii}.get(v.conversion, str)
        try:
            parts.append(convert(inner))
        except ValueError:  # an int too long to print: Python refuses it too
            return None
    return "".join(parts)




def _decorator_path(node: ast.AST, facts: Facts) -> str:
    """property, torch.no_grad ... for a method's decorator (a call counts as what it calls)."""
    if isinstance(node, ast.Call):
        node = node.func
    chain = _chain(node)
    if not chain:
        return "?"
    if len(chain) == 1 and chain[0] in ("property", "classmethod") and chain[0] not in facts.bindings:
        return chain[0]
    for p in facts.paths.get(chain[0], ()):
        q = facts._extend(p, chain[1:])
        if q:
            return q
    return "?"


def bound_names(fn) -> tuple[set[str], set[str]]:
    """Parameters and names assigned in a function's own body (not in nested functions or classes), and the
    assigned ones alone."""
    params = {a.arg for a in params_of(fn.args)}
    stored: set[str] = set()
    stack = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            stored.add(node.id)
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            stored.update(node.names)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            stored.update(a.asname or a.name.split(".")[0] for a in node.names)
        if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            stored.add(node.name)  # `except E as self`, `case self`
        if isinstance(node, ast.MatchMapping) and node.rest:
            stored.add(node.rest)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return params | stored, stored
