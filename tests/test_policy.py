"""The static policy: every rule refuses what it should with file:line:col, and no honest file is refused."""

import pytest

from grader.course.lesson import parse_allowed_imports
from grader.errors import ManifestError, PolicyError
from grader.walls.policy import (
    ALLOWED_DUNDER_METHODS,
    MEMBERS,
    MODEL_METHODS,
    MODULES,
    NN_BASES,
    NN_MODULE_METHODS,
    NN_MODULE_NAMES,
    Limits,
    check_file,
    check_source,
    screen_file,
)
from tests.conftest import ROOT, SUBMISSIONS

# Every file a student or author is meant to be able to run: solutions, stubs, lesson examples, seed models.
HONEST = sorted(
    [*ROOT.glob("solutions/*/*.py"), *ROOT.glob("lessons/*/*.py"), *ROOT.glob("lessons/*/examples/*.py"),
     *ROOT.glob("tests/models/*.py")]
)
# Fixtures that exist to exercise the worker at run time (tests/test_runner.py calls it directly), each with
# the rule that refuses it when it comes through `course check` / `course grade`.
REFUSED_FIXTURES = {
    "exits": "import of 'sys' is not allowed",
    "sleeps": "import of 'time' is not allowed",
    "prints_fake_result": "import of 'json' is not allowed",
    "empty": "the file is empty",
    "syntax_error": "syntax error: expected ':'",
    "net_not_module": "defining __call__ is not allowed",
    "import_error": "importing torch.nn.NotALayer is not allowed",
    "no_net": "the file defines no Net; it defines Model (line 4). Add `Net = Model` after the class",
}


def reasons(source: str, **kw) -> list[str]:
    """The findings of a fragment (no Net needed) as their reasons."""
    return [f.reason for f in check_source(source.encode(), require_net=False, **kw)]


def refused(source: str, fragment: str, **kw) -> None:
    found = reasons(source, **kw)
    assert any(fragment in r for r in found), found


@pytest.mark.parametrize("path", HONEST, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_false_alarm_on_solutions_stubs_and_examples(path):
    assert check_source(path.read_bytes()) == []


def test_the_honest_set_is_not_empty():
    assert len([p for p in HONEST if "solutions" in p.parts]) >= 1
    assert len([p for p in HONEST if "lessons" in p.parts]) >= 1


@pytest.mark.parametrize("path", sorted(SUBMISSIONS.glob("*.py")), ids=lambda p: p.stem)
def test_fixture_submissions(path):
    found = [f.reason for f in check_source(path.read_bytes())]
    if path.stem in REFUSED_FIXTURES:
        assert any(REFUSED_FIXTURES[path.stem] in r for r in found), found
    else:
        assert found == [], found


def test_findings_are_file_line_col_reason_and_a_policy_error(tmp_path):
    bad = tmp_path / "model.py"
    bad.write_text("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def f(self):\n        return open('x')\n")
    with pytest.raises(PolicyError) as info:
        check_file(bad, name="model.py")
    assert str(info.value) == "model.py:6:16: open() reads and writes files; the grader supplies the data"
    assert info.value.exit_code == 2 and info.value.kind == "policy"


def test_many_findings_are_capped_with_a_count(tmp_path):
    bad = tmp_path / "model.py"
    bad.write_text("".join(f"import os{i}\n" for i in range(14)) + "Net = None\n")
    with pytest.raises(PolicyError) as info:
        check_file(bad, name="model.py")
    lines = str(info.value).splitlines()
    assert len(lines) == 11 and lines[-1] == "... and 4 more" and lines[0].startswith("model.py:1:1: import of 'os0'")


def test_a_passing_file_returns_its_sha256(tmp_path):
    good = tmp_path / "model.py"
    good.write_bytes((SUBMISSIONS / "tiny.py").read_bytes())
    import hashlib

    assert check_file(good) == hashlib.sha256(good.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------ imports


@pytest.mark.parametrize("line", [
    "import torch", "import torch.nn as nn", "import torch.nn.functional as F", "from torch import nn, optim",
    "from torch.optim.lr_scheduler import OneCycleLR", "import math", "from collections import OrderedDict",
    "from functools import partial", "from dataclasses import dataclass", "from typing import Optional",
    "from __future__ import annotations", "import torch.nn.init as init",
])
def test_allowed_imports(line):
    assert reasons(line) == []


@pytest.mark.parametrize("line, fragment", [
    ("import os", "import of 'os' is not allowed"),
    ("import torch.utils.data", "import of 'torch.utils.data' is not allowed"),
    ("from importlib import import_module", "import from 'importlib' is not allowed"),
    ("from torch import load", "importing torch.load is not allowed: it reads or writes files"),
    ("from torch import _C", "names starting with an underscore are private"),
    ("from torch import hub", "downloads code and weights"),
    ("from math import *", "`from math import *` is not allowed"),
    ("from . import helper", "relative imports are not allowed"),
    ("import numpy", "import of 'numpy' is not allowed"),
])
def test_refused_imports(line, fragment):
    refused(line, fragment)


def test_a_lesson_can_widen_the_allowlist_with_submodules():
    assert reasons("import einops.layers.torch", allowed_imports=("einops",)) == []
    refused("import einopsx", "not allowed", allowed_imports=("einops",))
    refused("import numpy as np\nnp.load('x')", "load is not allowed", allowed_imports=("numpy",))


def test_lesson_allowed_imports_are_validated():
    assert parse_allowed_imports(["einops", "torchvision.ops"], "lesson.toml: allowed_imports") == \
        ("einops", "torchvision.ops")
    for bad, fragment in ((["os"], "no lesson may allow it"), (["torch.utils.data"], "no lesson may allow it"),
                          (["not a module"], "dotted module name"), (["torch._C"], "dotted module name"),
                          ([3], "must be str"), ("einops", "must be list")):
        with pytest.raises(ManifestError, match=fragment):
            parse_allowed_imports(bad, "lesson.toml: allowed_imports")


# ------------------------------------------------------------------------------------------ names and calls


@pytest.mark.parametrize("source, fragment", [
    ("open('labels')", "open() reads and writes files"),
    ("exec('1')", "exec() runs code"),
    ("eval('1')", "eval() runs code"),
    ("compile('1', 'f', 'exec')", "compile() builds code"),
    ("__import__('os')", "the name __import__ is not allowed"),
    ("globals()", "globals() exposes"),
    ("vars()", "vars() exposes"),
    ("breakpoint()", "breakpoint() stops the grader"),
    ("input()", "input() waits"),
    ("raise SystemExit(0)", "SystemExit leaves"),
    ("x = type(3)", "type() reaches"),
    ("f = open", "open() reads and writes files"),
    ("print(__builtins__)", "the name __builtins__ is not allowed"),
    ("def f(o=open):\n    return o", "open() reads"),
])
def test_refused_builtins(source, fragment):
    refused(source, fragment)


def test_a_parameter_may_shadow_a_builtin_name():
    assert reasons("def forward(self, input):\n    return input * 2\n") == []
    assert reasons("if __name__ == '__main__':\n    print('hi')\n") == []


@pytest.mark.parametrize("source", [
    "import torch.nn as nn\nclass N(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        for i in range(3):\n            setattr(self, f'conv{i}', nn.Conv2d(1, 1, 3))\n"
    "    def forward(self, x):\n        return getattr(self, 'conv0')(x) + getattr(self, f'conv{1}')(x)\n",
    "import torch.nn as nn\nclass N(nn.Module):\n    def __init__(self):\n        nn.Module.__init__(self)\n",
    "import torch.nn as nn\nclass N(nn.Module):\n    def __init__(self):\n        super(N, self).__init__()\n",
    "x = hasattr(3, 'real')",
])
def test_allowed_dynamic_attribute_patterns(source):
    assert reasons(source) == []


@pytest.mark.parametrize("source, fragment", [
    ("import torch\nf = getattr(torch, 'lo' + 'ad')", "computed attribute name"),
    ("import torch\nf = getattr(torch, 'load')", "load is not allowed"),
    ("g = getattr", "getattr may only be called directly"),
    ("import torch\nsetattr(torch, 'x', 1)", "setattr() is only allowed on self"),
    ("class A:\n    def f(self, n):\n        return getattr(self, n)", "computed attribute name"),
    ("class A:\n    def f(self, n):\n        return getattr(self, f'_{n}')", "computed attribute name"),
    ("x = (1).__class__", "dunder attributes such as __class__"),
    ("x = super().__init__", "dunder attributes such as __init__"),
    ("class A:\n    def f(self):\n        return self._parameters", "attribute _parameters starts with an underscore"),
    ("import torch\nx = torch.tensor(1).numpy()", "numpy is not allowed"),
    ("def g():\n    yield\nx = g().gi_frame", "gi_frame is not allowed"),
    ("import torch\ntorch.backends.cudnn.benchmark = True", "monkeypatching"),
])
def test_refused_attributes_and_calls(source, fragment):
    refused(source, fragment)


@pytest.mark.parametrize("name", ["hub", "utils", "jit", "ops", "library", "classes", "multiprocessing",
                                  "distributed", "load", "save", "from_file", "overrides", "compile", "_C"])
def test_torchs_doors_to_files_processes_and_native_code(name):
    found = reasons(f"import torch\nx = torch.{name}")
    assert found and f"torch.{name}" in found[0], found


# ------------------------------------------------------------------------------------------ monkeypatching


@pytest.mark.parametrize("source", [
    "import torch\ntorch.Tensor.eq = lambda a, b: True",
    "import torch.nn.functional as F\nF.cross_entropy = None",
    "import torch.nn.functional as F\nF.cross_entropy += 1",
    "import torch.nn.functional as F\ndel F.relu",
    "from torch import Tensor\nTensor.argmax = None",
    "import torch\nT = torch.Tensor\nT.argmax = None",
    "import torch\nT = torch.Tensor\nU = T\nU.argmax = None",
    "import torch\nthings = [torch.Tensor]\nthings[0].argmax = None",
    "import math\nmath.pi = 3",
    "import torch\ndef f():\n    T = torch.Tensor\n    T.eq = None",
    "import torch\nfor T in [torch.Tensor]:\n    T.eq = None",
    "import torch\nfor T in (lambda: [torch.Tensor])():\n    T.eq = None",
    "import torch\ndef get():\n    return torch.Tensor\nT = get()\nT.eq = None",
    "import torch\ndef patch(T):\n    T.eq = None\npatch(torch.Tensor)",
    "import torch\nclass A:\n    def patch(self, T):\n        T.eq = None\n    def go(self):\n"
    "        self.patch(torch.Tensor)",
    "import torch\nimport functools\ndef patch(T):\n    T.eq = None\nfunctools.partial(patch, torch.Tensor)()",
    "import torch\ndef patch(T=torch.Tensor):\n    T.eq = None",
    # through containers, attributes, wrappers and constructors
    "import torch\nx = []\nx.append(torch.Tensor)\nx[0].eq = None",
    "import torch\nx = []\nx.append(torch.Tensor)\ny = x.pop()\ny.eq = None",
    "import torch\nL = list([torch.Tensor])\nL[0].eq = None",
    "import torch\nclass A:\n    def __init__(self):\n        self.T = torch.Tensor\n        self.T.eq = None",
    "import torch\nclass A:\n    def __init__(self):\n        self.acts = []\n        self.acts.append(torch.Tensor)\n"
    "        self.acts[0].eq = None",
    "import torch\nclass A:\n    def __init__(self):\n        setattr(self, 'T', torch.Tensor)\n"
    "        self.T.eq = None",
    "import torch\nimport functools\np = functools.partial(torch.Tensor)\np.func.eq = None",
    "import torch\nclass Holder:\n    def __init__(self, c):\n        self.c = c\n"
    "h = Holder(torch.Tensor)\nh.c.eq = None",
    "import torch\nimport dataclasses\n@dataclasses.dataclass\nclass Holder:\n    c: object = None\n"
    "h = Holder(torch.Tensor)\nh.c.eq = None",
    "import torch\nG = []\nclass Grab:\n    def __contains__(self, item):\n        G.append(item)\n"
    "        return True\nx = torch.Tensor in Grab()\nG[0].eq = None",
])
def test_monkeypatching_is_refused(source):
    refused(source, "monkeypatching")


def test_passing_layers_and_activations_around_is_fine():
    source = ("import torch.nn as nn\nimport torch.nn.functional as F\n"
              "def block(c, act=nn.ReLU):\n    layer = nn.Conv2d(c, c, 3)\n    layer.weight.requires_grad = False\n"
              "    return nn.Sequential(layer, act())\n"
              "class N(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
              "        self.b = block(3, act=nn.GELU)\n        self.act = F.relu\n"
              "        for m in self.modules():\n            if isinstance(m, nn.Conv2d):\n"
              "                nn.init.kaiming_normal_(m.weight)\n")
    assert reasons(source) == []


def test_assigning_to_own_objects_is_fine():
    source = ("import torch\nimport torch.nn as nn\nclass N(nn.Module):\n    def __init__(self):\n"
              "        super().__init__()\n        self.fc = nn.Linear(2, 2)\n        self.fc.bias = None\n"
              "        layer = nn.Linear(2, 2)\n        layer.weight.requires_grad = False\n"
              "def make_optimizer(model, steps, epochs):\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
              "    opt.param_groups[0]['lr'] = 0.2\n    return opt\n")
    assert reasons(source) == []


def test_assigning_through_a_call_result_is_refused():
    refused("import torch\ntorch.zeros(1).foo = 1", "attribute of a call's result")


# ------------------------------------------------------------------------------------------ definitions


@pytest.mark.parametrize("source, fragment", [
    ("import torch\nclass T(torch.Tensor):\n    pass", "subclassing torch.Tensor is not allowed"),
    ("from torch import Tensor as X\nclass T(X):\n    pass", "subclassing X is not allowed"),
    ("import torch.nn as nn\nclass P(nn.Parameter):\n    pass", "subclassing nn.Parameter"),
    ("class A:\n    def __torch_function__(self):\n        pass", "defining __torch_function__ is not allowed"),
    ("class A:\n    def __eq__(self, o):\n        return True", "defining __eq__ is not allowed"),
    ("def __getattr__(name):\n    return 1", "defining __getattr__ is not allowed"),
    ("class A:\n    __torch_function__ = None", "the name __torch_function__ is not allowed"),
    ("class M:\n    pass\nclass A(metaclass=M):\n    pass", "class keyword metaclass="),
    ("def base():\n    return object\nclass A(base()):\n    pass", "only derive from named classes"),
])
def test_refused_definitions(source, fragment):
    refused(source, fragment)


# ------------------------------------------------------------------------------------------ a method's own self
M = "import torch\nimport torch.nn as nn\n"


@pytest.mark.parametrize("source, fragment", [
    # a parameter merely named self: a module-level function, a nested one, a lambda, a staticmethod
    (M + "def grab(self):\n    return getattr(self, f'x{1 + 1}')\nx = grab(torch.zeros(1))",
     "computed attribute name is only allowed on self, the first parameter of a method"),
    (M + "def patch(self, f):\n    setattr(self, f'sum', f)\npatch(torch.Tensor, abs)",
     "setattr() is only allowed on self, the first parameter of a method"),
    (M + "class A(nn.Module):\n    def f(self):\n        def g(self, n):\n            return getattr(self, f'a{n}')\n"
     "        return g", "computed attribute name"),
    (M + "class A(nn.Module):\n    def f(self):\n        return lambda self: getattr(self, f'a{len(self)}')",
     "computed attribute name"),
    (M + "class A(nn.Module):\n    @staticmethod\n    def f(self):\n        setattr(self, f'a{1}', 1)",
     "setattr() is only allowed on self"),
    # a self that is not the instance: rebound in the method, or the method rebound in its class
    (M + "class A(nn.Module):\n    def f(self):\n        self = torch.Tensor\n        setattr(self, f'a{1}', 1)",
     "setattr() is only allowed on self"),
    (M + "class A(nn.Module):\n    def f(self):\n        try:\n            pass\n        except Exception as self:\n"
     "            setattr(self, f'a{1}', 1)", "setattr() is only allowed on self"),
    (M + "class A(nn.Module):\n    def f(self, v):\n        setattr(self, f'sum{v}', abs)\n    f = staticmethod(f)",
     "setattr() is only allowed on self"),
    # assignments through a self that was handed torch's objects
    (M + "def patch(self, f):\n    self.sum = f\npatch(torch.Tensor, abs)", "assigning to self.sum changes"),
    (M + "def patch(self=torch.Tensor):\n    self.eq = abs", "assigning to self.eq changes an imported"),
    (M + "self = torch.Tensor\nself.eq = abs", "assigning to self.eq changes an imported"),
    (M + "class A(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
     "        setattr(self, f't{0}', torch.Tensor)\n        self.t0.eq = abs", "assigning to self.t0.eq changes"),
])
def test_computed_names_and_patches_need_a_methods_own_self(source, fragment):
    refused(source, fragment)


@pytest.mark.parametrize("source", [
    M + "class A(nn.Module):\n    def __init__(self):\n        super().__init__()\n        for i in range(2):\n"
    "            setattr(self, f'conv{i}', nn.Conv2d(1, 1, 3))\n    @torch.no_grad()\n    def forward(self, x):\n"
    "        for i in range(2):\n            x = getattr(self, f'conv{i}')(x)\n        return x",
    M + "class A(nn.Module):\n    def forward(self, x):\n        def inner(i):\n"
    "            return getattr(self, f'c{i}')\n        return inner(0)",  # a closure reads its method's own self
    M + "def make(cls, n):\n    return cls(n, n)\nlayer = make(nn.Linear, 3)",
    M + "class A(nn.Module):\n    def __init__(self, act=nn.ReLU):\n        super().__init__()\n"
    "        self.act = act()",
])
def test_a_methods_own_self_keeps_its_idioms(source):
    assert reasons(source) == []


@pytest.mark.parametrize("source, fragment", [
    (M + "x = getattr(torch, f'from_file')", "getattr(..., 'from_file'): from_file is not allowed"),
    (M + "x = getattr(torch, f\"{''}load\")", "getattr(..., 'load'): load is not allowed"),
    (M + "x = getattr(torch, f\"{'lo'}{'ad'!s}\")", "load is not allowed"),
    (M + "x = getattr(torch.zeros(1), f'{f\"num\"}py')", "numpy is not allowed"),
    (M + "x = hasattr(torch, f'_{\"C\"}')", "attribute _C starts with an underscore"),
    (M + "x = getattr(nn, f'__{\"dict\"}__')", "dunder attributes such as __dict__"),
    (M + "class A(nn.Module):\n    def f(self, e):\n        return getattr(self, f'compi{e}le')",
     "its literal text spells 'compile': compile is not allowed"),
    (M + "class A(nn.Module):\n    def f(self, e):\n        setattr(self, f'tra{e}in', None)",
     "its literal text spells 'train': it replaces nn.Module's own train()"),
    (M + "class A(nn.Module):\n    def f(self):\n        setattr(self, f'ev{\"al\"}', None)",
     "setattr(self, 'eval', ...) replaces nn.Module's own eval()"),
    (M + "x = getattr(torch, f'{\"lo\":>4}')", "computed attribute name"),  # a format spec is never folded
])
def test_fstrings_are_checked_as_the_names_they_spell(source, fragment):
    refused(source, fragment)


def test_an_fstring_of_literals_is_a_literal_name():
    assert reasons(M + "relu = getattr(nn, f'Re{\"LU\"}')\nx = getattr(torch.zeros(1), f'{\"sum\"}')") == []


# ------------------------------------------------------------------------------------------ embedded data


def test_long_literals_and_packed_data_are_refused():
    limits = Limits()
    refused(f"W = '{'a' * (limits.max_literal_bytes + 1)}'", "a str literal of 4,097 bytes")
    refused(f"W = b'{'a' * (limits.max_literal_bytes + 1)}'", "a bytes literal of 4,097 bytes")
    many = "\n".join(f"W{i} = '{'a' * 4000}'" for i in range(5))
    refused(many, "string literals and names add up to more than 16,384 bytes")
    refused(f"W = {2 ** 70}", "an integer literal of 71 bits")
    table = "W = [" + ", ".join("0.5" for _ in range(limits.max_numbers + 1)) + "]"
    refused(table, "more than 1,000 numeric literals")
    assert reasons(f"W = '{'a' * limits.max_literal_bytes}'\nX = {2 ** 63}") == []


def test_names_count_as_embedded_data():
    limits = Limits()
    long = "w" * (limits.max_name_chars + 1)
    for source in (f"{long} = 1", f"x = dict({long}=1)", f"def f({long}):\n    pass", f"class {long}:\n    pass",
                   f"x = abs.{long}", f"import torch.nn as {long}"):
        refused(source, f"a name of 65 characters ({long[:16]}...; limit 64)")
    assert reasons(f"{'w' * limits.max_name_chars} = 1") == []
    # 18 KB of data as keyword names, each under the length limit: refused where the total is crossed
    source = "def f(**kw):\n    return kw\nx = f(" + ", ".join(f"w{i:060d}=0" for i in range(300)) + ")\n"
    (finding,) = check_source(source.encode(), require_net=False)
    assert finding.line == 3 and "string literals and names add up to more than 16,384 bytes" in finding.reason
    assert "in distinct names" in finding.reason
    # names count once however often they are used, and together with literals
    assert reasons("\n".join(f"x{i} = x{i}" for i in range(1000))) == []
    refused(f"W = '{'a' * 4000}'\n" * 3 + f"W = '{'a' * 3000}'\n" + "\n".join(f"n{i:040d} = 1" for i in range(40)),
            "string literals and names add up to more than 16,384 bytes")


def test_honest_files_are_far_below_the_name_limits():
    """The limits leave room: honest files' longest name is under half the limit, their names under 1 KB."""
    import ast

    for path in HONEST:
        tree = ast.parse(path.read_bytes())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
            {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert max(map(len, names)) <= Limits().max_name_chars // 2, path
        assert sum(len(n) for n in names) < 1024, path


def test_files_over_64_kb_are_refused():
    found = check_source(b"#" * (64 * 1024 + 1))
    assert found[0].reason.startswith("the file is 65,537 bytes; the limit is 65,536")


@pytest.mark.parametrize("raw, where, fragment", [
    (b"x = 1\ny = '\xff'\n", (2, 6), "byte 0xff is not UTF-8"),
    (b"   \n\n", (1, 1), "the file is empty"),
    (b"x = 1\ny = 2\x00\n", (2, 1), "NUL byte"),
    (b"# -*- coding: latin-1 -*-\nx = 1\n", (1, 1), "coding declaration 'latin-1'"),
    (b"x = (\n", (1, 5), "syntax error"),
])
def test_unreadable_files_are_clear_errors(raw, where, fragment):
    found = check_source(raw)
    assert (found[0].line, found[0].col) == where and fragment in found[0].reason, found


def test_a_utf8_coding_declaration_is_fine():
    assert check_source(b"# -*- coding: utf-8 -*-\nimport math\n", require_net=False) == []


# ------------------------------------------------------------------------------------------ the allowlist tables


def _resolve_member(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("module", sorted(MEMBERS))
def test_every_allowlisted_chain_is_a_value_or_a_listed_module(module):
    """Resolved against the installed torch and stdlib: each name is a function, class, dtype or constant,
    and the only modules are the ones that have a table of their own (so the lists cannot drift)."""
    import types

    import torch

    for name in sorted(MEMBERS[module]):
        obj = _resolve_member(module, name)
        path = f"{module}.{name}"
        if isinstance(obj, types.ModuleType):
            assert path in MODULES and obj.__name__ == path, f"{path} is a module without a table"
            continue
        assert path not in MODULES, f"{path} has a table but is not a module"
        assert callable(obj) or isinstance(obj, (torch.dtype, torch.memory_format, int, float, bool)) \
            or type(obj).__module__ == "typing", f"{path} is {type(obj).__name__}"
        for attr in dir(obj):  # a class or function that hands out a module would reopen the door
            if not attr.startswith("_"):
                try:
                    value = getattr(obj, attr)
                except Exception:
                    continue
                assert not isinstance(value, types.ModuleType), f"{path}.{attr} is a module"


def test_the_doors_the_issue_names_are_in_no_table():
    """The re-exported modules and the string-evaluating or class-building helpers exist in the installed
    versions (so the test means something) and are in no table."""
    import types

    modules = [("torch", "os"), ("torch", "sys"), ("torch", "builtins"), ("torch", "importlib"),
               ("torch.cuda", "os"), ("typing", "sys"), ("dataclasses", "builtins"), ("torch.nn.functional", "torch")]
    helpers = [("functools", "singledispatch"), ("functools", "wraps"), ("dataclasses", "make_dataclass"),
               ("collections", "namedtuple"), ("typing", "NamedTuple"), ("typing", "get_type_hints")]
    for module, name in modules + helpers:
        assert name not in MEMBERS[module], f"{module}.{name}"
        _resolve_member(module, name)  # raises if the installed version lacks it
    assert all(isinstance(_resolve_member(m, n), types.ModuleType) for m, n in modules)


def test_nn_bases_are_module_classes_and_tensor_classes_are_not_among_them():
    import torch

    for path in NN_BASES:
        cls = _resolve_member(*path.rsplit(".", 1))
        assert isinstance(cls, type) and issubclass(cls, torch.nn.Module), path
    assert not {"torch.nn.Parameter", "torch.nn.Buffer", "torch.Tensor"} & NN_BASES


def test_nn_module_names_cover_the_installed_nn_module():
    """Every name nn.Module has (class and instance) is either a model's to define or in the reserved table."""
    import torch

    names = set(dir(torch.nn.Module)) | set(vars(torch.nn.Module()))
    reserved = {n for n in names if not (n.startswith("__") and n.endswith("__")) or n in ALLOWED_DUNDER_METHODS}
    assert reserved - set(MODEL_METHODS) == NN_MODULE_NAMES
    methods = {n for n in names if not n.startswith("_") and callable(getattr(torch.nn.Module, n, None))}
    assert methods - set(MODEL_METHODS) == NN_MODULE_METHODS


def test_no_public_attribute_of_a_models_objects_is_a_module():
    """What an honest model, its optimizer, scheduler and tensors expose (two attributes deep) holds no module:
    the policy follows modules only as chains from imports, so a value must never hand one out."""
    import types
    import warnings

    import torch

    from grader.worker.submission import build, load

    sub = load(ROOT / "solutions" / "lesson6" / "model.py")
    model = build(sub)
    optimizer, scheduler = sub.module.make_optimizer(model, 10, 2)
    x = torch.randn(2, 1, 28, 28, requires_grad=True)
    y = model(x)
    roots = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "output": y, "input": x,
             "parameter": next(model.parameters()), "grad_fn": y.grad_fn, "dtype": torch.float32,
             "device": torch.device("cpu"), "size": y.shape, "finfo": torch.finfo(torch.float32)}
    found, seen = [], set()
    stack = [(name, obj, 0) for name, obj in roots.items()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while stack:
            name, obj, depth = stack.pop()
            if depth > 2 or id(obj) in seen:
                continue
            seen.add(id(obj))
            for attr in dir(obj):
                if attr.startswith("_"):
                    continue
                try:
                    value = getattr(obj, attr)
                except Exception:
                    continue
                if isinstance(value, types.ModuleType):
                    found.append(f"{name}.{attr}")
                else:
                    stack.append((f"{name}.{attr}", value, depth + 1))
    assert found == [] and len(seen) > 500


# ------------------------------------------------------------------------------------------ chains from modules

H = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport typing\nimport dataclasses\n"


@pytest.mark.parametrize("source, fragment", [
    (H + "x = torch.os", "torch.os is not allowed: it is the os module, which torch imports for its own use"),
    (H + "x = torch.sys.modules", "torch.sys is not allowed"),
    (H + "x = torch.builtins.open", "torch.builtins is not allowed"),
    (H + "x = torch.importlib", "torch.importlib is not allowed"),
    (H + "x = torch.cuda.os", "torch.cuda.os is not allowed: it is the os module, which torch.cuda imports"),
    (H + "x = torch.cuda.memory_allocated()", "only torch.cuda.is_available() is allowed"),
    (H + "x = typing.sys", "typing.sys is not allowed"),
    (H + "x = dataclasses.builtins", "dataclasses.builtins is not allowed"),
    (H + "x = F.torch", "F.torch (torch.nn.functional.torch) is not allowed"),
    (H + "x = nn.modules.conv.Conv2d", "nn.modules (torch.nn.modules) is not allowed"),
    (H + "x = torch.functional", "torch.functional is not allowed: it is not on the course's list of torch names; use"),
    ("from torch import nn\nx = nn.os", "nn.os (torch.nn.os) is not allowed"),
    (H + "t = torch\nx = t.os", "t.os (torch.os) is not allowed"),
    (H + "G = torch.nn.functional\nH2 = G\nx = H2.math", "H2.math (torch.nn.functional.math) is not allowed"),
    (H + "def f():\n    o = torch.optim\n    return o.swa_utils", "o.swa_utils (torch.optim.swa_utils) is not"),
    (H + "x = getattr(torch, 'os')", "torch.os is not allowed"),
    ("from torch import os", "importing torch.os is not allowed: it is the os module"),
    ("from typing import sys", "importing typing.sys is not allowed"),
    ("from torch.nn import LazyLinear", "lazy modules have no parameters until the first batch"),
    (H + "torch.manual_seed(0)", "torch.manual_seed is not allowed: the grader seeds every run itself"),
    (H + "x = torch.optim.LBFGS", "needs a closure"),
    ("import functools\n@functools.singledispatch\ndef f(x):\n    pass", "evaluates string annotations as code"),
    ("import functools\n@functools.wraps(print)\ndef f():\n    pass", "functools.wraps is not allowed"),
])
def test_chains_that_leave_the_tables_are_refused(source, fragment):
    refused(source, fragment)


@pytest.mark.parametrize("source", [
    H + "x = torch.zeros(2, dtype=torch.float32).view(1, 2)\ny = torch.cat([x, x]).flatten()\n"
        "z = torch.relu(y).sum()\nisinstance(z, torch.Tensor)\nwith torch.no_grad():\n    pass",
    H + "p = nn.Parameter(torch.zeros(3))\nm = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU())\n"
        "nn.init.kaiming_normal_(m[0].weight)\ny = F.log_softmax(F.max_pool2d(torch.zeros(1, 1, 4, 4), 2), 1)",
    H + "o = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)\n"
        "s = torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1, total_steps=10)",
    "from torch import nn\nfrom torch.nn import functional as F\nfrom torch.optim import lr_scheduler\n"
    "x = nn.Linear(2, 2)\ny = F.relu\nz = lr_scheduler.StepLR",
    "import torch\nF = torch.nn.functional\nt = torch\nx = F.gelu(t.ones(2))\nd = 'cuda' if t.cuda.is_available() "
    "else 'cpu'",
    "import math\nimport functools\nimport collections\nimport dataclasses\nfrom typing import Optional, List\n"
    "x = math.sqrt(2) * math.pi\np = functools.partial(max, 3)\nd = collections.OrderedDict()\n"
    "@dataclasses.dataclass\nclass C:\n    width: int = dataclasses.field(default=8)\ny: Optional[List[int]] = None",
    "import torch.nn as nn\na = getattr(nn, 'ReLU')\nb = hasattr(nn, 'GELU')",
])
def test_chains_a_model_needs_are_allowed(source):
    assert reasons(source) == []


@pytest.mark.parametrize("source, where", [
    (H + "mods = [torch, nn]", (6, 9)),
    (H + "print(torch)", (6, 7)),
    (H + "def f():\n    return torch", (7, 12)),
    (H + "def f(m=torch):\n    return m", (6, 9)),
    (H + "m = torch if True else nn", (6, 5)),
    (H + "class A:\n    T = torch", (7, 9)),
    (H + "class A(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.F = F", (9, 18)),
    (H + "x = (t := torch)", (6, 11)),
    (H + "tools = {'t': torch}", (6, 15)),
    (H + "for m in (torch,):\n    pass", (6, 11)),
    (H + "f = lambda: torch", (6, 13)),
])
def test_a_module_may_only_start_a_chain_or_be_aliased(source, where):
    found = check_source(source.encode(), require_net=False)
    assert any((f.line, f.col) == where and "a module may not be passed, stored, returned or compared" in f.reason
               for f in found), found


def test_an_import_inside_a_class_body_is_refused():
    refused("class Tools:\n    import torch as lib", "an import inside a class body")
    refused("class Tools:\n    if True:\n        from torch import nn", "an import inside a class body")
    assert reasons("def f():\n    import torch\n    return torch.zeros(1)") == []


# ----------------------------------------------------------------------------------------- class factories, annotations


@pytest.mark.parametrize("source, fragment", [
    ("C = type('C', (), {})", "type() with three arguments is not allowed: it builds a class at run time"),
    ("import dataclasses\nC = dataclasses.make_dataclass('C', [])", "dataclasses.make_dataclass is not allowed"),
    ("import collections\nP = collections.namedtuple('P', 'x y')", "builds a class from strings"),
    ("from typing import NamedTuple", "importing typing.NamedTuple is not allowed: it builds a class at run time"),
    ("import typing\nT = typing.TypedDict('T', {})", "typing.TypedDict is not allowed"),
    ("import types", "import of 'types' is not allowed"),
])
def test_class_factories_are_refused(source, fragment):
    refused(source, fragment)


@pytest.mark.parametrize("source, where", [
    ("x: 'int' = 3", (1, 4)),
    ("def f(x: 'torch.Tensor'):\n    pass", (1, 10)),
    ("def f() -> 'int':\n    pass", (1, 12)),
    ("import typing\ndef f(x: typing.List['int']):\n    pass", (2, 22)),
    ("class C:\n    width: 'print(1) or int' = 3", (2, 12)),
    ("from __future__ import annotations\nclass C:\n    width: 'int' = 3", (3, 12)),
])
def test_string_annotations_are_refused(source, where):
    found = check_source(source.encode(), require_net=False)
    assert any((f.line, f.col) == where and "a string in an annotation is code" in f.reason for f in found), found


def test_future_annotations_are_allowed_and_their_text_is_checked_as_code():
    """Under `from __future__ import annotations` every annotation is kept as text. The policy checks that
    text like any other code and refuses strings in it, so even a tool that evaluated annotations would run
    only checked expressions (and typing.get_type_hints, singledispatch are refused anyway)."""
    future = "from __future__ import annotations\nimport torch\n"
    assert reasons(future + "def f(x: torch.Tensor) -> torch.Tensor:\n    return x") == []
    refused(future + "def f(x: torch.os):\n    pass", "torch.os is not allowed")
    refused(future + "def f(x: open('labels')):\n    pass", "open() reads and writes files")
    refused(future + "def f(x: torch.load):\n    pass", "load is not allowed")


def test_the_grader_never_evaluates_a_models_annotations(tmp_path):
    """idioms_future_annotations.py calls seen() in every annotation: loading, building, checking, training
    and exporting it as the grader does leaves seen() uncalled, while typing.get_type_hints (refused in
    submissions) would call it, so the probe itself works."""
    import typing

    import torch

    from grader.mnist import Split
    from grader.trainer.recipe import Recipe
    from grader.trainer.train import fit
    from grader.worker.report import examine
    from grader.worker.submission import load

    path = ROOT / "tests" / "models" / "idioms_future_annotations.py"
    assert check_source(path.read_bytes()) == []
    sub = load(path)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (320, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (320,), generator=g)
    model, report, exported = examine(sub, Split(images, labels), 0, tmp_path)  # build, check, export
    fit(model, Recipe(epochs=1, batch_size=64, optimizer={"name": "SGD", "lr": 0.01}), Split(images, labels),
        torch.device("cpu"), seed=0)
    assert exported.graph.nodes and report["torchsummary"]["total"]
    assert sub.module.EVALUATED == []
    typing.get_type_hints(sub.module.Net.forward)
    assert sub.module.EVALUATED == [5, 6]


# ------------------------------------------------------------------------------------------ class bases


@pytest.mark.parametrize("source, fragment", [
    (H + "def b():\n    return nn.Module\nclass A(b()):\n    pass", "only derive from named classes"),
    (H + "L = [nn.Module]\nclass A(L[0]):\n    pass", "not from a call, subscript or condition"),
    (H + "class A(nn.Module if True else nn.Linear):\n    pass", "not from a call, subscript or condition"),
    ("class A(Exception):\n    pass", "class A may not derive from Exception"),
    (H + "class A(typing.Generic):\n    pass", "class A may not derive from typing.Generic"),
    (H + "class A(torch.optim.SGD):\n    pass", "class A may not derive from torch.optim.SGD"),
    (H + "class A(B):\n    pass\nclass B(nn.Module):\n    pass", "derives from B, which is defined later"),
    (H + "class B(nn.Module):\n    pass\nB = torch.Tensor\nclass A(B):\n    pass", "subclassing B is not allowed"),
    (H + "M = nn.Module\nM = torch.Tensor\nclass A(M):\n    pass", "subclassing M is not allowed"),
    (H + "for T in [nn.Module]:\n    class A(T):\n        pass", "class A may not derive from T"),
])
def test_class_bases_come_from_an_allowed_set(source, fragment):
    refused(source, fragment)


@pytest.mark.parametrize("source", [
    H + "class A(nn.Module):\n    pass\nclass B(A):\n    pass\nclass C(nn.Sequential):\n    pass",
    H + "M = nn.Module\nclass A(M):\n    pass\nclass B(torch.nn.ModuleList):\n    pass",
    "from torch.nn import Module, Conv2d\nclass A(Module):\n    pass\nclass B(Conv2d):\n    pass",
    "class Config(object):\n    pass\nclass Plain:\n    pass",
    H + "class MyModel(nn.Module):\n    pass\nNet = MyModel\nclass Bigger(Net):\n    pass",
])
def test_allowed_class_bases(source):
    assert reasons(source) == []


# ------------------------------------------------------------------------------------------ nn.Module's own API


@pytest.mark.parametrize("source, fragment", [
    (H + "class Net(nn.Module):\n    def parameters(self, recurse=True):\n        return iter([])",
     "Net.parameters: a model class may not redefine nn.Module's own parameters"),
    (H + "class Net(nn.Module):\n    state_dict = None", "Net.state_dict: a model class may not redefine"),
    (H + "class Net(nn.Module):\n    if True:\n        def to(self, *a):\n            return self", "Net.to: a model"),
    (H + "class A(nn.Module):\n    pass\nclass Net(A):\n    def train(self, mode=True):\n        return self",
     "Net.train: a model class may not redefine"),
    (H + "class Quiet:\n    def named_parameters(self):\n        return iter([])\nclass Net(Quiet, nn.Module):\n"
         "    pass", "Quiet.named_parameters: a model class may not redefine"),
    (H + "class Net(nn.Module):\n    def __repr__(self):\n        return 'x'", "Net.__repr__: a model class"),
    (H + "class Net(nn.Module):\n    def _apply(self, fn):\n        return self", "Net._apply: a model class"),
    (H + "class Net(nn.Module):\n    def register_buffer(self, *a):\n        pass", "Net.register_buffer"),
    (H + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
         "        self.parameters = lambda: iter([])", "assigning self.parameters replaces nn.Module's own"),
    (H + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
         "        setattr(self, 'eval', None)", "setattr(self, 'eval', ...) replaces nn.Module's own eval()"),
])
def test_model_classes_may_not_override_nn_modules_api(source, fragment):
    refused(source, fragment)


def test_a_plain_class_may_use_nn_module_names_and_a_model_its_own():
    assert reasons("class Config:\n    def parameters(self):\n        return 3\n    train = True") == []
    assert reasons(H + "class Net(nn.Module):\n    def extra_repr(self):\n        return 'x'\n"
                       "    def forward(self, x):\n        return x\n"
                       "    def features(self, x):\n        return x") == []


# ------------------------------------------------------------------------------------------ what students write


@pytest.mark.parametrize("source", [
    H + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self._stem = self._block()\n        self._init_weights()\n"
        "    def _block(self):\n        return nn.Linear(2, 2)\n"
        "    def _init_weights(self):\n        for m in self.modules():\n"
        "            if m.__class__.__name__ == 'Linear':\n                nn.init.zeros_(m.bias)\n"
        "    def _make_layer(self):\n        return self._stem",
    H + "class Net(nn.Module):\n    @torch.no_grad()\n    def _reset(self):\n        pass\n"
        "    def forward(self, x):\n        self._reset()\n        return x",
    H + "def f(m):\n    return type(m) == nn.Conv2d or type(m) is nn.Linear or type(m) in (nn.ReLU,)\n"
        "name = type(f).__name__",
    H + "class MyModel(nn.Module):\n    pass\nNet = MyModel",
    H + "class B(nn.Module):\n    def g(self):\n        return 1\nclass Net(B):\n    def g(self):\n"
        "        return B.g(self) + super().g()",
])
def test_student_idioms_are_accepted(source):
    assert reasons(source) == []


@pytest.mark.parametrize("source, fragment", [
    (H + "class Net(nn.Module):\n    def f(self):\n        return self._modules", "attribute _modules starts with"),
    (H + "class Net(nn.Module):\n    def _h(self):\n        pass\n    def f(self, m):\n        return m._h()",
     "m._h: attribute _h starts with an underscore"),
    (H + "class Net(nn.Module):\n    def _h(self):\n        pass\n    @staticmethod\n    def f(self):\n"
         "        return self._h()", "self._h: attribute _h starts with an underscore"),
    (H + "class Net(nn.Module):\n    def _h(self):\n        pass\n    def f(self):\n        self = torch.zeros(1)\n"
         "        return self._h()", "self._h: attribute _h starts with an underscore"),
    (H + "def _h(self):\n    return self._h\nclass A:\n    _h = _h", "self._h: attribute _h starts with"),
    (H + "class Net(nn.Module):\n    def g(self):\n        return 1\nx = Net.g(torch.zeros(1))",
     "Net.g: call a method on its object"),
    (H + "class Net(nn.Module):\n    def g(self):\n        return 1\nf = getattr(Net, 'g')", "call a method on its"),
    ("x = type(3)", "type() reaches and can patch torch's classes"),
    ("x = (1).__class__", "dunder attributes such as __class__"),
    ("x = (1).__class__.__dict__", "dunder attributes such as __dict__"),
])
def test_what_the_idioms_do_not_open(source, fragment):
    refused(source, fragment)


def test_format_strings_may_not_walk_attributes():
    refused("def f():\n    pass\nx = '{0.__globals__}'.format(f)", "a format field that reads attributes or items")
    refused("x = '{0[key]}'.format({})", "a format field that reads attributes or items")
    refused("fmt = '{}'\nx = fmt.format(1)", ".format() is only allowed on a string literal")
    assert reasons("x = 'conv{}_{name}'.format(1, name=2)\ny = '{:.2f} {:>{w}}'.format(3.0, 'a', w=4)") == []


@pytest.mark.parametrize("source, fragment", [
    ("license()", "license() opens a pager"),
    ("x = dir(3)", "dir() lists internals"),
    ("x = memoryview(b'')", "memoryview() exposes raw memory"),
])
def test_builtins_outside_the_list_are_refused(source, fragment):
    refused(source, fragment)


def test_plain_builtins_and_exceptions_are_allowed():
    assert reasons("x = sorted(zip(range(3), map(abs, [1, 2, 3])))\nraise NotImplementedError('TODO')\n"
                   "try:\n    pass\nexcept (ValueError, RuntimeError) as e:\n    print(e, len(str(e)), id(e))") == []


# ------------------------------------------------------------------------------------------ Net must exist


def test_a_file_without_net_lists_its_classes_and_suggests_an_alias():
    source = H + "class Block(nn.Module):\n    pass\nclass MyModel(nn.Module):\n    pass\nclass Config:\n    pass\n"
    found = check_source(source.encode())
    assert [(f.line, f.col) for f in found] == [(1, 1)]
    assert found[0].reason == ("the file defines no Net; it defines Block (line 6), MyModel (line 8), "
                               "Config (line 10). Add `Net = MyModel` after the class, or name your model class Net")
    assert check_source((source + "Net = MyModel\n").encode()) == []
    assert check_source((source + "def build():\n    Net = MyModel\n").encode())[0].reason.startswith(
        "the file defines no Net")
    assert "defines no Net and no class" in check_source(b"import torch\nx = 1\n")[0].reason


# ------------------------------------------------------------------------------------------ robustness


@pytest.mark.parametrize("body, fragment", [
    ("(" * 10_000 + "1" + ")" * 10_000, "syntax error: too many nested parentheses"),
    ("-(" * 10_000 + "1" + ")" * 10_000, "syntax error: too many nested parentheses"),
    ("-" * 2_000 + "1", "code nested more than 100 levels deep"),
    ("-" * 30_000 + "1", "this line nests expressions too deeply for Python to read"),
    ("+".join(["a"] * 10_000), "this line nests expressions too deeply for Python to read"),
    ("a" + ".b" * 10_000, "this line nests expressions too deeply for Python to read"),
    ("f" + "()" * 300, "code nested more than 100 levels deep"),
    ("not " * 500 + "1", "code nested more than 100 levels deep"),
], ids=["parentheses", "minus-parentheses", "minus-2000", "minus-30000", "plus-chain", "attribute-chain", "calls",
        "not-500"])
def test_deep_nesting_is_a_clean_finding_never_a_traceback(body, fragment, tmp_path):
    source = "import torch.nn as nn\n\nDEPTH = " + body + "\n\nNet = nn.Linear\n"
    found = check_source(source.encode())
    assert len(found) == 1 and found[0].line == 3 and fragment in found[0].reason, found
    path = tmp_path / "model.py"
    path.write_text(source)
    with pytest.raises(PolicyError, match=r"^model\.py:3:\d+: "):
        check_file(path, name="model.py")


def test_a_long_chain_of_aliases_is_cut_short_with_a_finding():
    chain = "\n".join(f"a{i + 1} = a{i}" for i in reversed(range(500)))
    found = reasons("import torch\n" + chain + "\na0 = torch.Tensor\na500.eq = None\n")
    assert any("pass through more than 8 names in a row" in r for r in found), found


# ------------------------------------------------------------------------------------------ the attack corpus

ATTACKS = ROOT / "tests" / "attacks"
# Attacks the static policy refuses for the allowlist's (and the taint tracking's) reasons: file -> (line, col,
# fragment of the first finding). tests/test_anticheat.py runs the whole corpus through `course grade`.
ALLOWLIST_ATTACKS = {
    "torch_os_read": (5, 6, "torch.os is not allowed: it is the os module, which torch imports for its own use"),
    "torch_sys_modules": (5, 15, "torch.sys is not allowed: it is the sys module"),
    "torch_builtins_open": (5, 10, "torch.builtins is not allowed: it is the builtins module"),
    "torch_importlib": (5, 13, "torch.importlib is not allowed: it is the importlib module"),
    "cuda_os": (5, 1, "torch.cuda.os is not allowed: it is the os module, which torch.cuda imports"),
    "typing_sys": (6, 18, "typing.sys is not allowed: it is the sys module, which typing imports"),
    "dataclasses_builtins": (6, 10, "dataclasses.builtins is not allowed: it is the builtins module"),
    "module_in_container": (5, 15, "torch is the module torch: use the names in it directly"),
    "class_body_import": (6, 5, "import at the top of the file: an import inside a class body"),
    "wraps_module_dict": (8, 2, "functools.wraps is not allowed: it copies one object's attributes onto another"),
    "singledispatch_annotation": (8, 2, "functools.singledispatch is not allowed: it evaluates string annotations"),
    "make_dataclass_tensor": (8, 13, "dataclasses.make_dataclass is not allowed: it builds a class at run time"),
    "type_three_args": (5, 13, "type() with three arguments is not allowed: it builds a class at run time"),
    "base_expression_subclass": (10, 17, "a class may only derive from named classes"),
    "overrides_parameters": (11, 5, "Net.parameters: a model class may not redefine nn.Module's own parameters"),
    "mixin_overrides": (6, 5, "Quiet.named_parameters: a model class may not redefine nn.Module's own"),
    "patches_through_container": (7, 1, "assigning to things[...].eq changes an imported module or class"),
    "assigns_state_dict": (9, 9, "assigning self.state_dict replaces nn.Module's own state_dict()"),
    "deep_nesting": (4, 108, "code nested more than 100 levels deep"),
    "deep_nesting_parser": (4, 1, "this line nests expressions too deeply for Python to read"),
    "type_hints_eval": (8, 8, "a string in an annotation is code that typing tools evaluate later"),
}


@pytest.mark.parametrize("name", sorted(ALLOWLIST_ATTACKS))
def test_allowlist_attacks_are_refused_statically_with_their_own_message(name):
    line, col, fragment = ALLOWLIST_ATTACKS[name]
    source = (ATTACKS / f"{name}.py").read_bytes()
    assert source.startswith(b'"""') or source.startswith(b"#"), "each attack says what it tries"
    first = check_source(source)[0]
    assert (first.line, first.col) == (line, col) and fragment in first.reason, first


def test_every_attack_in_the_corpus_defines_net():
    """Each attack is a complete submission, so the refusal is for the cheat, never for a missing Net."""
    for path in sorted(ATTACKS.glob("*.py")):
        assert not any("defines no Net" in f.reason for f in check_source(path.read_bytes())), path.name


# ------------------------------------------------------------------ students' files as they write them (issue 29)
SOLUTION = (ROOT / "solutions" / "lesson1" / "model.py").read_text()
MAIN = 'if __name__ == "__main__":\n'

# The kinds of code real students' files hold around their model, each refused before: now skipped, with a
# warning at file:line:col when it is an import the grader drops, silently when it sits under `__main__`.
STUDENT_HABITS = {
    "summary_under_main": ("", MAIN + "    from torchsummary import summary\n    summary(Net(), (1, 28, 28))\n", None),
    "transforms_unused": ("from torchvision import transforms\n", "", "from torchvision import transforms"),
    "datasets_unused": ("from torchvision import datasets, transforms\n", "", "from torchvision import datasets"),
    "tqdm_unused": ("from tqdm import tqdm\n", "", "from tqdm import tqdm"),
    "matplotlib_unused": ("import matplotlib.pyplot as plt\n", "", "import matplotlib.pyplot as plt"),
    "logging_unused": ("import logging\n", "", "import logging"),
    "dataloader_unused": ("from torch.utils.data import DataLoader\n", "", "from torch.utils.data import DataLoader"),
    "summary_used_under_main": ("from torchsummary import summary\n", MAIN + "    summary(Net(), (1, 28, 28))\n",
                                "from torchsummary import summary"),
}


def _screen(source: str, **kw):
    warnings = []
    return check_source(source.encode(), warnings=warnings, **kw), warnings


@pytest.mark.parametrize("name", STUDENT_HABITS)
def test_code_around_the_model_is_a_warning_not_a_refusal(name):
    head, tail, warned = STUDENT_HABITS[name]
    findings, warnings = _screen(head + SOLUTION + "\n\n" + tail)
    assert findings == []
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and (warnings[0].line, warnings[0].col) == (1, 1)
        assert warned in warnings[0].reason and "the grader skips it" in warnings[0].reason


def test_a_warning_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("import torch\nimport logging\n" + SOLUTION)
    screened = screen_file(path, name="model.py")
    assert screened.sha256 == check_file(path) and screened.warnings[0].startswith("model.py:2:1: `import logging`")


@pytest.mark.parametrize("source, fragment", [
    ("from torchvision import transforms\nt = transforms.ToTensor()\n", "import from 'torchvision' is not allowed"),
    ("from torchvision import datasets, transforms\nd = datasets\n", "import from 'torchvision' is not allowed"),
    ("import tqdm\ndef f(tqdm):\n    return tqdm\n", "import of 'tqdm' is not allowed"),  # the name is used again
    ("import torch.utils.data\nimport torch\n", "import of 'torch.utils.data' is not allowed"),  # binds torch
    ("from torchvision import *\n", "import from 'torchvision' is not allowed"),
    ("def f():\n    import logging\n", "import of 'logging' is not allowed"),  # only module-level imports
    ("import logging, os\n", "import of 'os' is not allowed"),  # one statement, all of it a tool or none
    ("import numpy\n", "import of 'numpy' is not allowed"),
])
def test_a_tool_import_that_is_used_is_still_refused(source, fragment):
    findings, warnings = _screen(source, require_net=False)
    assert any(fragment in f.reason for f in findings) and warnings == [], (findings, warnings)


def test_a_lesson_that_allows_a_tool_gets_no_warning():
    findings, warnings = _screen("import tqdm\n", require_net=False, allowed_imports=("tqdm",))
    assert findings == [] and warnings == []


@pytest.mark.parametrize("source", [
    MAIN + "    import os\n    open('/etc/passwd')\n    exec('1')\n",
    "if '__main__' == __name__:\n    import os\n",
    MAIN + "    import os\nelse:\n    pass\n",
])
def test_code_under_main_is_not_checked(source):
    assert reasons(source) == []


@pytest.mark.parametrize("source, fragment", [
    ('if __name__ == "__main__" or True:\n    import os\n', "import of 'os'"),  # merely contains the test
    ('if not __name__ == "__main__":\n    import os\n', "import of 'os'"),
    ('if __name__ != "__main__":\n    import os\n', "import of 'os'"),
    ('if __name__ is "__main__":\n    import os\n', "import of 'os'"),
    ('if __name__ == "__main__ ":\n    import os\n', "import of 'os'"),
    ('if __name__ == "__main__" == __name__:\n    import os\n', "import of 'os'"),
    (MAIN + "    pass\nelse:\n    import os\n", "import of 'os'"),  # the else branch is what runs
    (MAIN + "    pass\nelif True:\n    import os\n", "import of 'os'"),
    ("def f():\n    " + MAIN + "        import os\n", "import of 'os'"),  # only at module level
    ("class A:\n    " + MAIN + "        open('x')\n", "open() reads"),
    ("while __name__ == '__main__':\n    import os\n", "import of 'os'"),
])
def test_only_an_exact_top_level_main_block_is_skipped(source, fragment):
    refused(source, fragment)


@pytest.mark.parametrize("source", [
    '__name__ = "__main__"\n' + MAIN + "    import os\n",
    "def f():\n    global __name__\n    __name__ = '__main__'\n",
    "(__name__ := '__main__')\n",
    "for __name__ in ['__main__']:\n    pass\n",
    "import torch as __name__\n",
    "from torch import nn as __name__\n",
    "def __name__():\n    pass\n",
    "def f(__name__):\n    return __name__\n",
    "try:\n    pass\nexcept Exception as __name__:\n    pass\n",
    "del __name__\n",
    "__name__ += 'x'\n",
])
def test_nothing_may_rebind_the_module_s_name(source):
    refused(source, "__name__ is the module's own name")


def test_the_worker_runs_the_file_without_what_the_policy_skipped(tmp_path):
    """The worker compiles the same tree the policy passed: the skipped import of a package that is not even
    installed here (tqdm) is never imported, the `__main__` block never runs (its else does), and the module's name
    is never __main__."""
    from grader.worker.submission import load

    path = tmp_path / "model.py"
    path.write_text("from tqdm import tqdm\nimport logging\n" + SOLUTION + "\nNAME = __name__\n" + MAIN +
                    "    raise SystemExit('ran')\nelse:\n    RAN_ELSE = True\n")
    findings, warnings = _screen(path.read_text())
    assert findings == [] and len(warnings) == 2
    module = load(path).module
    assert module.NAME != "__main__" and module.RAN_ELSE and "tqdm" not in vars(module)
    assert "logging" not in vars(module)
