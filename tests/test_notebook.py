"""notebooks/course.ipynb executed end to end with nbclient on the CPU (the install cell left out), and the
Python API it shows (grader.notebook) rendering as HTML."""

import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, SUBMISSIONS

pytestmark = pytest.mark.slow  # the slow tier (pyproject.toml): an end-to-end run of another tool

NOTEBOOK = ROOT / "notebooks" / "course.ipynb"


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        for value in (out.get("data") or {}).values():
            parts.append(value if isinstance(value, str) else "")
        if out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("colab")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    install = [c for c in nb.cells if "install" in c.metadata.get("tags", [])]
    assert len(install) == 1 and "pip install" in install[0].source  # the cell Colab runs first
    nb.cells = [c for c in nb.cells if c not in install]  # the test uses this checkout instead of installing
    bin_dir = folder / "bin"  # `!course` is this checkout, as the install cell's `pip install` would make it
    bin_dir.mkdir()
    (bin_dir / "course").write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'course.py'} \"$@\"\n")
    (bin_dir / "course").chmod(0o755)
    saved = dict(os.environ)
    os.environ.update(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT),
                      CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    try:
        client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb, folder


def test_every_cell_runs_and_nothing_is_an_escape_code(executed):
    nb, folder = executed
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.output_type == "error"], _outputs_text(cell)
        assert "\x1b" not in _outputs_text(cell), cell.source[:40]  # plain lines outside a terminal
    assert (folder / "model.py").read_text().strip() == (SUBMISSIONS / "tiny.py").read_text().split('"""', 2)[2].strip()


def test_the_cells_show_the_check_the_grade_and_the_curves(executed):
    nb, _ = executed
    by_source = {c.source.splitlines()[0]: c for c in nb.cells if c.cell_type == "code"}
    checked = _outputs_text(by_source["!course check model.py --lesson lesson6"])
    assert "Static checks pass for lesson 6" in checked and "3,818" in checked
    graded = _outputs_text(by_source["!course grade model.py --lesson lesson6 --quick --device cpu"])
    assert "epoch 1/1: step" in graded and "SMOKE RUN" in graded  # progress as plain lines, then the verdict
    image = by_source["from IPython.display import Image"].outputs[0]
    assert "image/png" in image.data
    api_check = by_source["import grader.notebook as course"].outputs[-1].data
    assert "<table" in api_check["text/html"] and "Parameters" in api_check["text/html"]
    api_grade = by_source['graded = course.grade("model.py", lesson="lesson6", quick=True, device="cpu")']
    assert "epoch 1/1: step" in _outputs_text(api_grade)
    html = api_grade.outputs[-1].data["text/html"]
    assert "smoke" in html and "data:image/png;base64," in html and "<td" in html
    summary = _outputs_text(by_source["record = graded.record"])
    assert summary.startswith("3,818 parameters, best test accuracy") and "status smoke" in summary


def test_results_render_as_html_tables_outside_jupyter_too():
    from grader.api import CheckResult
    from grader.course.lesson import get_lesson
    from grader.course.verdict import judge
    from grader.record import RunRecord
    from tests.gradebook_records import make_record, report

    record = RunRecord.from_dict(make_record("x", accs=(98.0, 99.45)))
    html = record._repr_html_()
    assert html.count("<tr>") == 1 + 2 + 1 + 2  # criteria header + 2 rows, epochs header + 2 epochs
    verdict = judge(get_lesson("lesson1").criteria, report(150_000), None)
    shown = CheckResult({**report(150_000), "file": "m<odel>.py"}, verdict, "lesson1")._repr_html_()
    assert "m&lt;odel&gt;.py" in shown and "FAIL" in shown and "150,000" in shown
