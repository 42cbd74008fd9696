import pytest
import torch

from grader.errors import SubmissionError, TrainingError
from grader.trainer.recipe import build_optimizer, resolve, step_scheduler

LESSON = {"epochs": 15, "batch_size": 256, "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
          "scheduler": {"name": "OneCycleLR", "max_lr": 0.1}}


def test_submission_overrides_lesson_overrides_default():
    r = resolve({"BATCH_SIZE": 64}, LESSON, max_epochs=20)
    assert (r.epochs, r.batch_size) == (15, 64)
    assert r.sources == {"epochs": "lesson", "batch_size": "submission", "augment": "default",
                         "optimizer": "lesson", "scheduler": "lesson"}
    r = resolve({}, None, max_epochs=20)
    assert (r.epochs, r.batch_size, r.optimizer["name"], r.scheduler) == (20, 128, "SGD", None)


def test_epochs_capped_by_lesson_and_flag():
    r = resolve({"EPOCHS": 50}, None, max_epochs=15)
    assert r.epochs == 15 and "capped" in r.sources["epochs"]
    assert resolve({"EPOCHS": 10}, None, max_epochs=15, epochs_flag=3).epochs == 3


@pytest.mark.parametrize("overrides, message", [
    ({"EPOCHS": 0}, "EPOCHS must be a positive integer"),
    ({"BATCH_SIZE": 1.5}, "BATCH_SIZE must be a positive integer"),
    ({"BATCH_SIZE": 100000}, "too large"),
    ({"AUGMENT": [1, 2]}, "AUGMENT must be a dict"),
    ({"make_optimizer": 3}, "make_optimizer must be a function"),
])
def test_bad_recipe_values(overrides, message):
    with pytest.raises(SubmissionError, match=message):
        resolve(overrides, None, max_epochs=20)


def test_lesson_onecycle_gets_its_steps_filled_in():
    model = torch.nn.Linear(2, 2)
    opt, sched = build_optimizer(resolve({}, LESSON, 20), model, steps_per_epoch=7)
    assert isinstance(sched, torch.optim.lr_scheduler.OneCycleLR) and sched.total_steps == 15 * 7


def test_make_optimizer_results():
    model = torch.nn.Linear(2, 2)
    r = resolve({"make_optimizer": lambda m, s, e: torch.optim.Adam(m.parameters())}, None, 20)
    opt, sched = build_optimizer(r, model, 10)
    assert isinstance(opt, torch.optim.Adam) and sched is None
    r = resolve({"make_optimizer": lambda m, s, e: "adam"}, None, 20)
    with pytest.raises(SubmissionError, match="must return an optimizer"):
        build_optimizer(r, model, 10)


def test_scheduler_past_its_end_is_a_clear_error():
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2)
    for step in (1, 2):
        opt.step()
        step_scheduler(sched, 1, step, 0.1)
    opt.step()
    with pytest.raises(TrainingError, match="OneCycleLR raised at epoch 1, step 3"):
        step_scheduler(sched, 1, 3, 0.1)
