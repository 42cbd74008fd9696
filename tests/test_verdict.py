from grader.course.lesson import AccuracyRule, Criteria
from grader.course.verdict import epochs_to_target, judge, judge_accuracy

REPORT = {
    "params": 13960,
    "rf": {"rf_before_global_pool": 22, "rf_final": 32},
    "structure": {
        "layer_types": ["BatchNorm2d", "Conv2d", "Dropout", "GlobalPool", "MaxPool2d"],
        "batchnorm_after_conv": [True, True, False],
        "bn_after_3x3": [True, True],  # the third conv is a 1x1 head: exempt, and not counted
        "bn_after_every_3x3": True,
        "max_dropout": 0.07,
    },
}


def test_static_criteria_measured_beside_threshold():
    c = Criteria(max_params=20000, min_receptive_field=24, required_layers=("GlobalPool",),
                 forbidden_layers=("Linear",), bn_after_every_3x3=True, max_dropout=0.05)
    v = judge(c, REPORT)
    by = {r.label: r for r in v.criteria}
    assert by["Parameters"].measured == "13,960" and by["Parameters"].threshold == "< 20,000"
    assert by["Parameters"].passed
    assert by["Receptive field (before global pooling)"].passed is False
    assert by["No Linear"].passed and by["Uses GlobalPool"].passed
    assert by["BatchNorm after every 3x3 conv"].measured == "2 of 2 3x3 convs"
    assert by["Largest dropout rate"].passed is False and by["Largest dropout rate"].measured == "0.07"
    assert v.status == "failed" and v.exit_code == 1
    assert v.failed == ["min_receptive_field", "max_dropout"]


def test_max_params_is_strict():
    assert judge(Criteria(max_params=13960), REPORT).status == "failed"
    assert judge(Criteria(max_params=13961), REPORT).status == "passed"


def test_best_rule_and_epochs_to_target():
    c = Criteria(accuracy=AccuracyRule(99.4, "best"), max_epochs=20)
    accs = [98.0, 99.1, 99.41, 99.3]
    v = judge(c, REPORT, accs)
    assert v.status == "passed" and v.epochs_to_target == 3
    assert judge(c, REPORT, [98.0, 99.39]).status == "failed"


def test_last_k_rule_needs_each_of_the_last_k():
    c = Criteria(accuracy=AccuracyRule(99.4, "last-3"), max_epochs=15)
    assert judge_accuracy(c, [99.5, 99.4, 99.41, 99.45]).passed
    assert not judge_accuracy(c, [99.5, 99.5, 99.39, 99.5]).passed
    assert not judge_accuracy(c, [99.5, 99.5]).passed  # fewer epochs than K


def test_quick_is_never_a_pass():
    c = Criteria(max_params=20000, accuracy=AccuracyRule(50, "best"))
    v = judge(c, REPORT, [99.9], quick=True)
    assert v.status == "smoke" and v.criteria[-1].passed is None and v.epochs_to_target is None
    assert judge(Criteria(max_params=100, accuracy=AccuracyRule(50)), REPORT, [99.9], quick=True).status == "failed"


def test_epochs_to_target():
    assert epochs_to_target([90, 99.4, 99.5], 99.4) == 2
    assert epochs_to_target([90], 99.4) is None


def test_validation_is_never_a_pass_and_says_what_it_measured():
    c = Criteria(max_params=20000, accuracy=AccuracyRule(50, "best"))
    v = judge(c, REPORT, [99.9], validate=True)
    acc = v.criteria[-1]
    assert v.status == "smoke" and v.exit_code == 0 and acc.passed is None and v.epochs_to_target is None
    assert "validation" in acc.label.lower() and "--validate" in acc.threshold and "validation" in v.message
    assert judge(Criteria(max_params=100, accuracy=AccuracyRule(50)), REPORT, [99.9], validate=True).status == "failed"
