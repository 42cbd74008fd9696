"""The notebook's HTML for a check result: escaped, and saying where the receptive field is measured."""

from types import SimpleNamespace

from grader.course.verdict import FAILED, CriterionResult, Verdict
from grader.views.html import check_html


def _result(rf: dict):
    verdict = Verdict(FAILED, [CriterionResult("max_params", "Parameters", "23,860", "< 20,000", False)],
                      message="failed: <b>Parameters</b>")
    return SimpleNamespace(report={"file": "model.py", "params": 23_860, "rf": rf}, lesson="lesson1", verdict=verdict)


def test_a_model_without_global_pooling_has_its_receptive_field_at_the_output():
    rf = {"rf_before_global_pool": 6, "rf_final": 6, "where": "at the output (no global pooling)"}
    page = check_html(_result(rf))
    assert "receptive field 6 at the output (no global pooling)</p>" in page
    assert "before global pooling" not in page and "(lesson 1)" in page and "<b>Parameters</b>" not in page


def test_a_model_with_global_pooling_gives_both_figures():
    page = check_html(_result({"rf_before_global_pool": 22, "rf_final": 32, "where": "before global pooling"}))
    assert "receptive field 22 before global pooling, 32 at the output</p>" in page
