"""grader.gradescope.results: criterion weights in lesson.toml and results.json against Gradescope's
specification (the autograder zip itself: tests/test_gradescope_autograder.py)."""


import pytest

from grader.course.lesson import Criteria, get_lesson, lesson_ids, parse_criteria
from grader.course.verdict import expected_rows, judge
from grader.errors import ManifestError
from grader.gradescope import results as gradescope
from tests.gradebook_records import report

# Gradescope's autograder specification, "Output format": the fields it reads, and their allowed words.
TOP_LEVEL = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
             "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
               "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def assert_gradescope_results(doc: dict) -> None:
    """results.json as Gradescope's specification has it: known fields, the right types and words."""
    assert set(doc) <= TOP_LEVEL, set(doc) - TOP_LEVEL
    assert isinstance(doc["score"], (int, float)) and not isinstance(doc["score"], bool)
    assert isinstance(doc.get("execution_time", 0), int)
    assert doc.get("visibility", "visible") in VISIBILITY and doc.get("stdout_visibility", "visible") in VISIBILITY
    assert doc.get("output_format", "text") in FORMATS
    assert isinstance(doc["tests"], list) and doc["tests"]
    for test in doc["tests"]:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in {"passed", "failed"} and test.get("visibility", "visible") in VISIBILITY
        assert (test["status"] == "passed") == (test["score"] == test["max_score"] > 0)
    assert doc["score"] == pytest.approx(sum(t["score"] for t in doc["tests"]))
    for entry in doc.get("leaderboard", []):
        assert set(entry) <= {"name", "value", "order"} and entry.get("order", "desc") in {"asc", "desc"}


# ------------------------------------------------------------------------------------------------ weights


def test_weights_default_to_one_so_old_manifests_load_as_before():
    criteria = parse_criteria({"max_params": 20000, "accuracy": {"target": 99.4}}, "old")
    assert criteria.weights == () and criteria.weight("max_params") == criteria.weight("accuracy") == 1.0
    verdict = judge(criteria, report(9_000), [99.5])
    assert [c.weight for c in verdict.criteria] == [1.0, 1.0]


def test_weights_are_validated_and_carried_by_the_verdict():
    criteria = parse_criteria({"max_params": 20000, "accuracy": {"target": 99.4},
                               "weights": {"accuracy": 4, "max_params": 0.5}}, "new")
    verdict = judge(criteria, report(9_000), [99.5])
    assert [(c.name, c.weight) for c in verdict.criteria] == [("max_params", 0.5), ("accuracy", 4.0)]
    assert verdict.to_dict()["criteria"][1]["weight"] == 4.0
    for bad, words in (({"acuracy": 1}, "not a criterion"), ({"accuracy": -1}, ">= 0"),
                       ({"accuracy": True}, "must be int or float"), ({"accuracy": "4"}, "must be int or float")):
        with pytest.raises(ManifestError, match=words):
            parse_criteria({"weights": bad}, "lesson.toml: criteria")


def test_verdicts_written_before_weights_read_back_with_weight_one():
    from grader.course.verdict import Verdict

    old = {"status": "passed", "criteria": [{"name": "max_params", "label": "Parameters", "measured": "9,000",
                                             "threshold": "< 20,000", "passed": True}]}
    assert Verdict.from_dict(old).criteria[0].weight == 1.0


def full_report(params: int = 9_000) -> dict:
    """A check report that passes every lesson's static criteria."""
    full = report(params)
    full["structure"].update(layer_types=["Conv2d", "MaxPool2d", "BatchNorm2d", "Dropout", "GlobalPool"],
                             bn_after_3x3=[True], max_dropout=0.05)
    return full


def test_expected_rows_match_the_rows_judge_produces_for_every_lesson():
    full = full_report()
    for lesson_id in lesson_ids():
        criteria = get_lesson(lesson_id).criteria
        assert [c.name for c in judge(criteria, full, [99.0]).criteria] == expected_rows(criteria), lesson_id
        assert criteria.weight("accuracy") >= 1  # every lesson weighs the trained result


# ----------------------------------------------------------------------------------------- results.json


def test_a_failed_grading_keeps_the_static_points():
    criteria = get_lesson("lesson6").criteria

    class Checked:  # what api.check returns, as far as scoring reads it
        verdict = judge(criteria, full_report())

    doc = gradescope.from_error("lesson6", "training diverged at epoch 3", Checked)
    assert_gradescope_results(doc)
    static = [t for t in doc["tests"] if t["name"] != "Grading"]
    assert [t["status"] for t in static] == ["passed"] * len(static) and doc["score"] == len(static)
    grading = doc["tests"][-1]
    assert grading["max_score"] == criteria.weight("accuracy") and "diverged" in grading["output"]
    assert sum(t["max_score"] for t in doc["tests"]) == doc["extra_data"]["max_score"]


def test_visibility_must_be_one_of_gradescopes_words():
    from grader.errors import UsageError

    with pytest.raises(UsageError, match="after_due_date"):
        gradescope.Visibility("students-only")


def test_criteria_class_default_has_no_weights():
    assert Criteria().weights == ()


def test_a_criterion_not_judged_says_so_once():
    """A --quick run's accuracy row: the threshold as the lesson sets it, then one note, not the verdict's as well."""
    row = {"name": "accuracy", "label": "Best test accuracy", "measured": "12.00 %",
           "threshold": ">= 97 % (not judged: --quick)", "passed": None}
    (test,) = gradescope.criterion_tests([row], None, gradescope.Visibility())
    assert test["output"] == "measured 12.00 % (needs >= 97 %); not judged: a --quick smoke run proves no accuracy"
    assert test["output"].count("not judged") == 1 and test["score"] == 0
