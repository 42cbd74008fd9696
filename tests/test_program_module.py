"""grader.trainer.program_module: the exported training program, run as the grader's own module, computes what the
submission's module computed (outputs, gradients, BatchNorm's statistics), and the program the parent derives
for evaluation computes what the module computes in eval mode."""

import importlib.util

import pytest
import torch
from torch import nn

from grader import program
from grader.interpret import Program, tensors_from_file
from grader.trainer import speed
from grader.trainer.program_module import ProgramModule
from grader.worker.export import export_program
from tests.conftest import ROOT

SOLUTIONS = ["lesson1", "lesson4", "lesson6", "lesson7"]


def _load(path):
    spec = importlib.util.spec_from_file_location("program_module_case", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exported(net: nn.Module, tmp_path, **options):
    export_program(net, torch.zeros(8, 1, 28, 28), tmp_path)
    graph = program.read_graph(tmp_path / "graph.json")
    constants = tensors_from_file(tmp_path / "constants.bin", "cpu")
    state = tensors_from_file(tmp_path / "initial.bin", "cpu")
    return graph, constants, ProgramModule(graph, constants, state, **options)


@pytest.mark.parametrize("lesson", SOLUTIONS)
def test_the_program_trains_as_the_module_does(lesson, tmp_path):
    torch.manual_seed(0)
    net = _load(ROOT / "solutions" / lesson / "model.py").Net()
    graph, constants, module = _exported(net, tmp_path)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    torch.manual_seed(1)  # the same dropout masks on both sides
    expected = net.train()(x)
    torch.manual_seed(1)
    got = module.train()(x)
    assert torch.equal(expected, got)
    nn.functional.cross_entropy(expected, y).backward()
    nn.functional.cross_entropy(got, y).backward()
    ours = module.named_by_target()
    for name, p in net.named_parameters():
        assert torch.equal(p.grad, ours[name].grad), name
    for spec in graph.inputs:  # BatchNorm's running statistics moved the same way
        if spec.kind == "buffer":
            assert torch.equal(net.get_buffer(spec.target), getattr(module, spec.name)), spec.target
    derived = Program(program.derive_eval(graph), constants, torch.device("cpu"))
    with torch.no_grad():
        measured = derived.run(dict(module.state_for_graph()), x)
        assert torch.equal(net.eval()(x), measured)


def test_eval_mode_changes_no_statistic(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(10))
    net(torch.zeros(2, 1, 28, 28))
    _, _, module = _exported(net, tmp_path)
    before = {n: t.clone() for n, t in module.state_for_graph()}
    module.eval()(torch.randn(16, 1, 28, 28))
    assert all(torch.equal(before[n], t) for n, t in module.state_for_graph())


def test_the_cheaper_dropout_draw_is_the_module_s_own(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Dropout(0.1), nn.Linear(64, 10))
    tally = speed.DropoutTally()
    _, _, module = _exported(net, tmp_path, fast_dropout=True, tally=tally)
    x = torch.ones(256, 1, 28, 28)
    module.train()(x)
    assert tally.drawn == 1 and not tally.left_to_torch
    module.eval()(x)  # the program is a training program: its eval-mode calls still draw, and are counted
    assert tally.drawn == 2


def test_a_parameter_through_dropout_goes_to_torch_s_kernel_and_is_counted(tmp_path):
    net = _load(ROOT / "tests" / "submissions" / "dropconnect.py").Net()
    tally = speed.DropoutTally()
    _, _, module = _exported(net, tmp_path, fast_dropout=True, tally=tally)
    module.train()(torch.randn(8, 1, 28, 28))
    assert tally.drawn + sum(tally.left_to_torch.values()) >= 1
