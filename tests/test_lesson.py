import pytest

from grader.course.lesson import AccuracyRule, get_lesson, lesson_ids, load_lesson, parse_criteria
from grader.errors import ManifestError, UsageError

GOOD = """
title = "T"
[criteria]
max_params = 8000
accuracy = { target = 99.4, rule = "last-3" }
max_epochs = 15
[recipe]
epochs = 15
optimizer = { name = "SGD", lr = 0.01 }
[[hints]]
text = "fewer channels"
criterion = "max_params"
"""


def _write(tmp_path, text, name="lesson9"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "lesson.toml").write_text(text)
    return folder


def test_every_bundled_manifest_loads():
    ids = lesson_ids()
    assert ids, "no lessons found"
    for lesson_id in ids:
        lesson = get_lesson(lesson_id)
        assert lesson.id == lesson_id and lesson.title


def test_good_manifest(tmp_path):
    lesson = load_lesson(_write(tmp_path, GOOD))
    assert lesson.id == "lesson9"
    assert lesson.criteria.max_params == 8000 and lesson.criteria.max_epochs == 15
    assert lesson.criteria.accuracy == AccuracyRule(99.4, "last-3") and lesson.criteria.accuracy.last_k == 3
    assert lesson.hints[0].criterion == "max_params"


@pytest.mark.parametrize(
    "criteria, field",
    [
        ({"max_params": "8k"}, "criteria.max_params must be int"),
        ({"max_params": True}, "criteria.max_params must be int"),
        ({"max_params": -1}, "criteria.max_params must be positive"),
        ({"accuracy": {"target": 101}}, "criteria.accuracy.target is a percentage"),
        ({"accuracy": {"target": 99, "rule": "last-0"}}, "criteria.accuracy.rule"),
        ({"accuracy": {"target": 99, "rule": "median"}}, "criteria.accuracy.rule"),
        ({"required_layers": "Conv2d"}, "criteria.required_layers must be list"),
        ({"max_param": 5}, "unknown field(s) ['max_param']"),
    ],
)
def test_bad_criteria_name_the_field(criteria, field):
    with pytest.raises(ManifestError) as err:
        parse_criteria(criteria, "criteria")
    assert field in str(err.value)


def test_bad_manifests_name_the_field(tmp_path):
    with pytest.raises(ManifestError, match="title must be str"):
        load_lesson(_write(tmp_path, "[criteria]\n", "a"))
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_lesson(_write(tmp_path, "title = \n", "b"))
    with pytest.raises(ManifestError, match=r"recipe has unknown field\(s\) \['lr'\]"):
        load_lesson(_write(tmp_path, 'title = "x"\n[recipe]\nlr = 1\n', "c"))
    with pytest.raises(ManifestError, match=r"hints\[0\].criterion"):
        load_lesson(_write(tmp_path, 'title = "x"\n[[hints]]\ntext = "t"\ncriterion = "speed"\n', "d"))


def test_unknown_lesson_lists_the_known_ones(tmp_path):
    _write(tmp_path, GOOD, "lesson1")
    with pytest.raises(UsageError, match="no lesson called 'lesson42'; lessons: lesson1"):
        get_lesson("lesson42", tmp_path)
    assert get_lesson("1", tmp_path).id == "lesson1"


def test_lessons_sort_numerically(tmp_path):
    for n in (10, 2, 1):
        _write(tmp_path, GOOD, f"lesson{n}")
    assert lesson_ids(tmp_path) == ["lesson1", "lesson2", "lesson10"]


def test_exercises_and_verify_extras_are_parsed(tmp_path):
    text = GOOD + '''
[verify]
extra = [
    { file = "solutions/lesson9/hint_path.py", expect = "pass", note = "the hints, followed literally" },
    { file = "lessons/lesson9/examples/narrow.py", expect = "fail" },
]

[[exercise]]
id = "rf-row8"
question = "Which RF?"
answer = 22
'''
    lesson = load_lesson(_write(tmp_path, text))
    assert [(e.file, e.expect) for e in lesson.verify_extras] == [
        ("solutions/lesson9/hint_path.py", "pass"), ("lessons/lesson9/examples/narrow.py", "fail")]
    assert lesson.verify_extras[0].note == "the hints, followed literally"
    assert [(e.id, e.answer) for e in lesson.exercises] == [("rf-row8", 22)]


@pytest.mark.parametrize("table, message", [
    ('[verify]\nextra = [{ file = "x.py", expect = "maybe" }]', "expect must be one of"),
    ('[verify]\nextra = [{ file = "/abs/x.py", expect = "pass" }]', "repo-relative .py path"),
    ('[verify]\nextra = [{ file = "../x.py", expect = "pass" }]', "repo-relative .py path"),
    ('[verify]\nextra = [{ file = "a.py", expect = "pass" }, { file = "a.py", expect = "fail" }]', "listed twice"),
    ('[verify]\nextra = [{ file = "a.py", expect = "pass", seeds = 3 }]', "unknown field(s) ['seeds']"),
    ('[verify]\ntrain = true', "unknown field(s) ['train']"),
    ('[[exercise]]\nid = "a"\nquestion = "q"\nanswer = "22"', "exercise[0].answer must be an integer"),
])
def test_bad_verify_and_exercise_tables_name_the_field(tmp_path, table, message):
    with pytest.raises(ManifestError) as err:
        load_lesson(_write(tmp_path, 'title = "x"\n' + table + "\n"))
    assert message in str(err.value)
