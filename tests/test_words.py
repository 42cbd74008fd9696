"""The phrases every view shares: lesson names, plurals, device names, the receptive field's 'where', BatchNorm."""

from grader.views.words import batchnorm_text, device_text, lesson_name, plural, rf_text

NO_GLOBAL_POOL = {"rf_before_global_pool": 6, "rf_final": 6, "where": "at the output (no global pooling)"}
GLOBAL_POOL = {"rf_before_global_pool": 22, "rf_final": 32, "where": "before global pooling"}


def test_lesson_names_read_as_words():
    assert lesson_name("lesson1") == "lesson 1" and lesson_name("lesson12") == "lesson 12"
    assert lesson_name(None) == "the course target" and lesson_name("bonus") == "bonus"


def test_plurals_and_one_thread():
    assert plural(1, "epoch") == "1 epoch" and plural(20, "epoch") == "20 epochs" and plural(0, "hint") == "0 hints"
    assert device_text("CPU (x86_64, 1 threads)") == "CPU (x86_64, 1 thread)"
    assert device_text("CPU (x86_64, 11 threads)") == "CPU (x86_64, 11 threads)" and device_text(None) == "-"


def test_the_receptive_field_says_where_it_is_measured():
    assert rf_text(GLOBAL_POOL) == "22 before global pooling, 32 at the output"
    assert rf_text(NO_GLOBAL_POOL) == "6 at the output (no global pooling)"
    assert rf_text({"rf_before_global_pool": 7, "rf_final": 9}) == "7 before global pooling, 9 at the output"
    assert rf_text(GLOBAL_POOL, final=False) == "22 before global pooling"


def test_batchnorm_is_said_in_words():
    assert batchnorm_text([True, True, True]) == "after all 3 convs"
    assert batchnorm_text([True, False, True, False]) == "after 2 of 4 convs (not after conv 2, 4)"
    assert batchnorm_text([False, False]) == "none (after none of the 2 convs)"
    assert batchnorm_text([]) == "no convs" and batchnorm_text([True]) == "after the conv"
