import pytest
import torch

from grader.errors import SubmissionError
from grader.mnist import load_split, normalize
from grader.worker.submission import build, check_contract, check_tree, load, materialize


def contract_images():
    """The two digits the worker checks the contract with (the first of the training split it is handed)."""
    return normalize(load_split(train=True).images[:2])


def _contract(path):
    """What the worker does before anything else: import, build, give lazy modules their shapes, the contract."""
    sub = load(path)
    model = build(sub)
    materialize(model, contract_images(), sub.path)
    check_contract(model, contract_images(), sub.path)
    return model


@pytest.mark.parametrize(
    "name, message",
    [
        ("no_net", "no_net.py defines no Net; it defines Model. Add `Net = Model` after the class"),
        ("net_not_module", "Net must be a class derived from torch.nn.Module"),
        ("net_needs_args", "Net() must build with no arguments"),
        ("wrong_shape", "returned shape (2, 10, 26, 26) in train mode; expected (2, 10)"),
        ("returns_tuple", "returned a tuple in train mode"),
        ("nan_output", "returned NaN or inf"),
        ("syntax_error", "syntax_error.py:4:21: syntax error"),
        ("import_error", "raised ImportError while being imported (line 2"),
        ("empty", "is empty"),
        ("forward_raises", "forward() raised RuntimeError in train mode"),
        ("no_params", "no trainable parameters"),
    ],
)
def test_contract_errors_say_what_is_wrong(submission, name, message):
    with pytest.raises(SubmissionError) as err:
        _contract(submission(name))
    assert message in str(err.value)


def test_no_net_and_no_class_says_what_to_write(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("import torch.nn as nn\nfrom torch.nn import Linear\nWIDTH = 8\n")
    with pytest.raises(SubmissionError, match=r"model\.py defines no Net and no class; add `class Net\(nn\.Module\)`"):
        load(path)


def test_net_may_be_an_alias_of_the_model_class(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("import torch.nn as nn\nclass MyModel(nn.Linear):\n    def __init__(self):\n"
                    "        super().__init__(784, 10)\nNet = MyModel\n")
    assert load(path).net_class.__name__ == "MyModel"


def test_non_utf8_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_bytes(b"# \xff\xfe latin-1 junk\nclass Net: pass\n")
    with pytest.raises(SubmissionError, match="not UTF-8"):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(SubmissionError, match="does not exist"):
        load(tmp_path / "model.py")


def test_good_submission_passes_and_keeps_batchnorm_fresh(submission):
    sub = load(submission("tiny"))
    model = build(sub)
    check_contract(model, contract_images(), sub.path)
    # the contract's train-mode pass ran on a copy: the real model's statistics are untouched
    assert torch.equal(model.bn1.running_mean, torch.zeros(8))
    assert model.training


def test_sha256_and_recipe_overrides(submission):
    sub = load(submission("tiny"))
    assert len(sub.sha256) == 64
    assert set(sub.recipe_overrides()) == {"BATCH_SIZE", "make_optimizer"}


def _wrapped(body, levels):
    for _ in range(levels):
        body = torch.nn.Sequential(body)
    return body


@pytest.mark.parametrize("make, message", [
    (lambda: _wrapped(torch.nn.Linear(1, 1), 50_000), "the model nests modules 50,000 levels deep (Net.0.0.0...); "
                                                      "the grader reads at most 32 levels"),
    (lambda: _wrapped(torch.nn.Linear(1, 1), 33), "nests modules 33 levels deep"),
    (lambda: torch.nn.ModuleDict({"b" * 129: torch.nn.ReLU()}),
     "a layer's name is 129 characters ('bbbbbbbbbbbbbbbb'... in Net); names may be at most 128 characters"),
    (lambda: torch.nn.Sequential(torch.nn.ParameterDict({"p" * 200: torch.nn.Parameter(torch.zeros(1))})),
     "a parameter's name is 200 characters"),
])
def test_a_module_tree_the_grader_cannot_walk_is_refused_quickly(make, message):
    with pytest.raises(SubmissionError) as err:
        check_tree(make())
    assert message in str(err.value)


def test_a_model_that_contains_itself_or_multiplies_a_walk_is_refused():
    loop = torch.nn.Sequential(torch.nn.Linear(1, 1))
    loop.add_module("again", torch.nn.Sequential(loop))
    with pytest.raises(SubmissionError, match=r"contains itself: Net\.again\.0 is the Sequential that encloses it"):
        check_tree(loop)
    shared = torch.nn.Linear(1, 1)
    for _ in range(15):  # 15 levels, each meeting the level below twice: 2**15 modules for Module.train()
        shared = torch.nn.Sequential(torch.nn.Sequential(shared), torch.nn.Sequential(shared))
    with pytest.raises(SubmissionError, match="shared so that a walk over them meets more than 10,000"):
        check_tree(shared)


def test_honest_trees_and_shared_layers_pass():
    check_tree(_wrapped(torch.nn.Linear(1, 1), 32))  # the limit itself
    act = torch.nn.ReLU()
    check_tree(torch.nn.Sequential(torch.nn.Linear(1, 1), act, torch.nn.Linear(1, 1), act))
    check_tree(torch.nn.ModuleDict({"b" * 128: torch.nn.ReLU()}))


def test_build_checks_the_tree_before_anything_recurses(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                    "        super().__init__()\n        self.fc = nn.Linear(784, 10)\n"
                    "        self.add_module('a' * 20_000_000, nn.Linear(1, 1))\n")
    with pytest.raises(SubmissionError, match="a layer's name is 20,000,000 characters"):
        build(load(path))
