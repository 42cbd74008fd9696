"""Real training on small data: the grader's loop must learn, be repeatable, and stop cleanly when it cannot."""

import copy

import pytest
import torch

from grader.augment import AugmentConfig
from grader.errors import TrainingError
from grader.recipe import resolve
from grader.submission import build, load
from grader.train import evaluate, train
from grader.data import normalize

CPU = torch.device("cpu")


def _run(submission, train_split, test_split, n_train=10_000, n_test=2_000, seed=0, augment=None, epochs=1):
    sub = load(submission)
    torch.manual_seed(seed)
    model = build(sub)
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=epochs)
    if augment is not None:
        recipe.augment = AugmentConfig.from_dict(augment)
    torch.manual_seed(seed)
    return model, train(model, recipe, train_split.subset(n_train), test_split.subset(n_test), CPU, seed)


def test_one_epoch_on_10k_images_learns(submission, train_split, test_split):
    model, result = _run(submission("tiny"), train_split, test_split)
    assert 2 <= result.baseline_test_acc <= 25  # untrained: about chance
    (epoch,) = result.epochs
    assert epoch.test_acc >= 90.0, epoch  # a 3.8k-param net after 157 steps reaches about 94 %
    assert epoch.train_loss < 1.0 and epoch.test_loss < 0.4
    assert result.optimizer["scheduler"] == "OneCycleLR" and result.optimizer["scheduler_per_batch"]
    assert epoch.lr < 0.01  # OneCycle stepped per batch ends far below its peak


def test_same_seed_same_metrics_on_cpu(submission, train_split, test_split):
    aug = {"degrees": 10, "translate": (0.1, 0.1), "brightness": 0.2, "contrast": 0.2}
    _, a = _run(submission("tiny"), train_split, test_split, n_train=3000, n_test=1000, augment=aug)
    _, b = _run(submission("tiny"), train_split, test_split, n_train=3000, n_test=1000, augment=aug)
    _, c = _run(submission("tiny"), train_split, test_split, n_train=3000, n_test=1000, augment=aug, seed=1)
    strip = lambda r: [(e.train_loss, e.train_acc, e.test_loss, e.test_acc, e.lr) for e in r.epochs]
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


def test_divergence_names_epoch_step_and_lr(submission, train_split, test_split):
    with pytest.raises(TrainingError, match=r"diverged at epoch 1, step \d+ \(lr 1e\+12\)"):
        _run(submission("diverges"), train_split, test_split, n_train=3000, n_test=500)


def test_scheduler_stepped_past_its_end(submission, train_split, test_split):
    with pytest.raises(TrainingError, match="OneCycleLR raised at epoch 1, step 6"):
        _run(submission("bad_scheduler"), train_split, test_split, n_train=3000, n_test=500)


def test_evaluate_is_eval_mode_and_no_grad(submission, test_split):
    model = build(load(submission("tiny")))
    model.train()
    before = model.bn1.running_mean.clone()
    loss, acc = evaluate(model, normalize(test_split.images[:500]), test_split.labels[:500])
    assert torch.equal(model.bn1.running_mean, before)  # eval mode: statistics untouched
    assert not model.training and 0 <= acc <= 100 and loss > 0


def test_forward_failing_on_other_batch_sizes_is_a_submission_error(submission, train_split, test_split, monkeypatch):
    from grader.errors import SubmissionError

    with pytest.raises(SubmissionError, match=r"evaluation failed on a batch of 256 test images: RuntimeError"):
        _run(submission("batch_of_two"), train_split, test_split, n_train=1000, n_test=500)
    # past the untrained evaluation, the training step itself names where it failed
    monkeypatch.setattr("grader.train.evaluate", lambda *a: (2.3, 10.0))
    with pytest.raises(SubmissionError, match=r"training failed at epoch 1, step 1 \(batch of 128\): RuntimeError"):
        _run(submission("batch_of_two"), train_split, test_split, n_train=1000, n_test=500)


def _train_tiny(submission, train_split, test_split, options):
    from grader.train import LoopOptions

    sub = load(submission("tiny"))
    torch.manual_seed(0)
    model = build(sub)
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=1)
    return train(model, recipe, train_split.subset(2000), test_split.subset(500), CPU, 0, options=LoopOptions(**options))


def test_compile_failure_falls_back_to_eager_with_a_warning(submission, train_split, test_split, monkeypatch):
    def broken_compile(model, **kwargs):
        def compiled(x):
            raise RuntimeError("backend exploded\nlong details")
        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    fell_back = _train_tiny(submission, train_split, test_split, {"compile": True})
    eager = _train_tiny(submission, train_split, test_split, {})
    assert fell_back.warnings == ["torch.compile could not handle this model (RuntimeError: backend exploded); trained without it"]
    # the failed compiled step left no trace: the run is exactly the eager one
    assert [e.test_acc for e in fell_back.epochs] == [e.test_acc for e in eager.epochs]


def test_a_compile_mode_reaches_torch_compile(submission, train_split, test_split, monkeypatch):
    modes = []

    def recording_compile(model, mode=None, **kwargs):
        modes.append(mode)
        return model  # stands in for the compiled module: same maths

    monkeypatch.setattr(torch, "compile", recording_compile)
    _train_tiny(submission, train_split, test_split, {"compile": True})
    _train_tiny(submission, train_split, test_split, {"compile": "reduce-overhead"})
    assert modes == [None, "reduce-overhead"]  # True means torch.compile's default mode


def test_channels_last_computes_the_same_thing(submission, train_split, test_split):
    sub = load(submission("tiny"))
    torch.manual_seed(0)
    model = build(sub).eval()
    x = normalize(test_split.images[:64])
    nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    assert torch.allclose(nhwc(x.contiguous(memory_format=torch.channels_last)), model(x), atol=1e-5)
    # and the loop runs with it: training still learns (float summation order differs, so not bit-equal)
    result = _train_tiny(submission, train_split, test_split, {"channels_last": True})
    assert result.epochs[0].test_acc > 70


def test_steps_per_epoch_matches_the_batches_the_loop_draws():
    from grader.train import _batches, steps_per_epoch

    for n, bs in ((60000, 128), (257, 128), (129, 128), (128, 128), (1, 128), (5000, 64)):
        batches = _batches(n, bs, torch.Generator().manual_seed(0), "cpu")
        assert len(batches) == steps_per_epoch(n, bs), (n, bs)
        assert sum(len(b) for b in batches) >= n - 1 and all(len(b) > 1 for b in batches if n > 1)
    assert steps_per_epoch(257, 128) == 2  # the lone 257th image would break BatchNorm: dropped


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_an_epoch_on_cuda_syncs_with_the_host_a_few_times_not_every_step(submission, train_split, test_split):
    import warnings

    sub = load(submission("tiny"))
    torch.manual_seed(0)
    model = build(sub)
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=2)
    marks = []  # warnings recorded when each epoch ended
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")  # a warning for every host synchronisation
        try:
            train(model, recipe, train_split.subset(4096), test_split.subset(1000), torch.device("cuda"), 0,
                  on_epoch=lambda m: marks.append(sum("synchroniz" in str(w.message) for w in caught)))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    steps = 4096 // recipe.batch_size
    # The whole second epoch (its steps, the end-of-epoch reads and the test evaluation) syncs a handful of times;
    # one sync per step would be at least `steps`.
    assert len(marks) == 2 and marks[1] - marks[0] <= 8 < steps
