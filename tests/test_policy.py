"""The static policy: every rule refuses what it should with file:line:col, and no honest file is refused."""

from pathlib import Path

import pytest

from grader.errors import ManifestError, PolicyError
from grader.course.lesson import parse_allowed_imports
from grader.walls.policy import Limits, check_file, check_source
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
}


def reasons(source: str, **kw) -> list[str]:
    return [f.reason for f in check_source(source.encode(), **kw)]


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
    bad.write_text("".join(f"import os{i}\n" for i in range(14)))
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


# ------------------------------------------------------------------------------------------ embedded data


def test_long_literals_and_packed_data_are_refused():
    limits = Limits()
    refused(f"W = '{'a' * (limits.max_literal_bytes + 1)}'", "a str literal of 4,097 bytes")
    refused(f"W = b'{'a' * (limits.max_literal_bytes + 1)}'", "a bytes literal of 4,097 bytes")
    many = "\n".join(f"W{i} = '{'a' * 4000}'" for i in range(5))
    refused(many, "string literals add up to more than 16,384 bytes")
    refused(f"W = {2 ** 70}", "an integer literal of 71 bits")
    table = "W = [" + ", ".join("0.5" for _ in range(limits.max_numbers + 1)) + "]"
    refused(table, "more than 1,000 numeric literals")
    assert reasons(f"W = '{'a' * limits.max_literal_bytes}'\nX = {2 ** 63}") == []


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
    assert check_source(b"# -*- coding: utf-8 -*-\nimport math\n") == []
