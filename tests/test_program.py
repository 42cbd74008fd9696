"""grader.program and the evaluator's interpreter: the exported program is counted by hand-worked rules, carries
no code, runs only ATen's core operations, and measures an honest model as the model measures itself."""

import json
import struct

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader import program
from grader.evaluator.interpret import Program, resolve_op, tensors_from_file
from grader.evaluator.main import evaluate
from grader.mnist import normalize
from grader.program import ProgramError
from grader.trainer.recipe import Recipe
from grader.trainer.train import fit
from grader.worker.export import export_program, write_state

TOLERANCE = 0.05  # percentage points: 5 images in 10,000; kernels may differ by a rounding, never by more


class _Small(nn.Module):
    """conv 1->4 (3x3, 36 + 4), BatchNorm(4) (8 parameters + statistics), head Linear 4->10 (40 + 10)."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.head = nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 10)

    def forward(self, x):
        return self.head(F.relu(self.bn(self.conv(x))).mean((2, 3)))


def _export(model, tmp_path, batch=8):
    return export_program(model, torch.zeros(batch, 1, 28, 28), tmp_path)


def test_parameters_are_counted_by_hand_worked_rules(tmp_path):
    count = program.count_parameters(_export(_Small(), tmp_path).graph)
    assert count.parameters == 36 + 4 + 4 + 4 + 40 + 10
    assert count.norm_statistics == 4 + 4 + 1  # running mean, var and the step counter: free for a used BatchNorm
    assert count.buffers == count.constants == 0 and count.total == 98


class _Holds(_Small):
    """Plus a learning buffer (10) and a tensor kept in a list (10): both count."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.zeros(10))
        self.kept = [torch.zeros(10)]

    def forward(self, x):
        return super().forward(x) + self.shift + self.kept[0]


def test_buffers_and_held_tensors_are_parameters(tmp_path):
    count = program.count_parameters(_export(_Holds(), tmp_path).graph)
    assert (count.buffers, count.constants, count.total) == (10, 10, 98 + 20)


class _UnusedNorm(_Small):
    def __init__(self):
        super().__init__()
        self.spare = nn.BatchNorm2d(6)  # never called: its statistics are not the program's


def test_statistics_of_a_norm_the_program_does_not_use_count(tmp_path):
    count = program.count_parameters(_export(_UnusedNorm(), tmp_path).graph)
    assert count.total == 98 + 6 + 6 + 6 + 6 + 1  # its weight and bias, and its buffers, all counted


def test_a_graph_file_is_validated_before_anything_reads_it(tmp_path):
    exported = _export(_Small(), tmp_path)
    raw = json.loads((tmp_path / "graph.json").read_text())
    raw["nodes"][0]["args"][0] = {"node": "not_yet_computed"}
    with pytest.raises(ProgramError, match="not computed before it"):
        program.graph_from_dict(raw)
    with pytest.raises(ProgramError, match="not a course-graph/1 graph"):
        program.graph_from_dict({"format": "pickle"})
    assert program.read_graph(tmp_path / "graph.json").ops == exported.graph.ops


def test_tensor_files_are_checked_against_their_declared_sizes(tmp_path):
    path = tmp_path / "t.bin"
    program.write_tensors(path, [("w", "float32", (2, 2), bytes(16))])
    entries, _ = program.read_tensors(path)
    assert entries["w"][0].shape == (2, 2)
    header = json.dumps({"tensors": [{"name": "w", "dtype": "float32", "shape": [1000, 1000], "offset": 0,
                                      "nbytes": 4_000_000}]}).encode()
    path.write_bytes(program.TENSOR_MAGIC + struct.pack("<Q", len(header)) + header + bytes(16))
    with pytest.raises(ProgramError, match="does not match its declared size"):
        program.read_tensors(path)


def test_only_core_aten_operations_run():
    assert resolve_op("aten.convolution.default") is torch.ops.aten.convolution.default
    for name in ("aten.from_file.default", "aten.add_.Tensor", "os.system", "builtins.eval", "aten.nope.default"):
        with pytest.raises(ProgramError):
            resolve_op(name)


def test_a_state_of_another_shape_is_refused(tmp_path):
    model = _Small()
    exported = _export(model, tmp_path)
    prog = Program(exported.graph, tensors_from_file(tmp_path / "constants.bin", "cpu"), torch.device("cpu"))
    model.head = nn.Linear(4, 10)  # same shape: fine
    write_state(model, exported.graph, tmp_path / "state.bin", 1)
    tensors_from_file(tmp_path / "state.bin", "cpu")
    model.head = nn.Linear(4, 12)
    with pytest.raises(Exception, match="changed shape"):
        write_state(model, exported.graph, tmp_path / "state.bin", 1)
    del prog


def test_the_evaluator_measures_an_honest_model_as_the_model_measures_itself(tmp_path, train_split, test_split):
    """The proof that moving evaluation out of the worker changes no figure: same seed, CPU, within 0.05 %."""
    from grader.worker.submission import build, load
    from tests.conftest import SUBMISSIONS

    torch.manual_seed(0)
    model = build(load(SUBMISSIONS / "tiny.py"))  # 3,818 parameters with BatchNorm: a real small model
    example = normalize(train_split.images[:1000])
    exported = export_program(model, example, tmp_path)
    fit(model, Recipe(epochs=1, batch_size=128, optimizer={"name": "SGD", "lr": 0.05, "momentum": 0.9}),
        train_split.subset(6000), torch.device("cpu"), 0)
    write_state(model, exported.graph, tmp_path / "state-001.bin", 1)
    split = test_split.subset(3000)
    images = normalize(split.images)
    model.eval()
    with torch.no_grad():
        own = 100.0 * (model(images).argmax(1) == split.labels).float().mean().item()
    prog = Program(program.read_graph(tmp_path / "graph.json"), tensors_from_file(tmp_path / "constants.bin", "cpu"),
                   torch.device("cpu"))
    _, measured = evaluate(prog, tensors_from_file(tmp_path / "state-001.bin", "cpu"), images, split.labels)
    assert 80 < own < 100 and abs(measured - own) <= TOLERANCE, (own, measured)
