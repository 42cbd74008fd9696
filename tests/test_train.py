"""Real training on small data: the grader's loop must learn, be repeatable, and stop cleanly when it cannot."""

import copy

import pytest
import torch

from grader.errors import TrainingError
from grader.mnist import normalize
from grader.trainer.augment import AugmentConfig
from grader.trainer.recipe import resolve
from grader.trainer.train import fit
from grader.worker.submission import build, load

CPU = torch.device("cpu")


def _measure(model, split):
    """(loss, accuracy %) of a model on a split, in eval mode: what the evaluator would say (tests only)."""
    model.eval()
    with torch.no_grad():
        out = model(normalize(split.images)).float()
    return (torch.nn.functional.cross_entropy(out, split.labels).item(),
            100.0 * (out.argmax(1) == split.labels).float().mean().item())


def _run(submission, train_split, test_split, n_train=10_000, n_test=2_000, seed=0, augment=None, epochs=1):
    """(model, fit result, test accuracy before training, test (loss, accuracy) after)."""
    sub = load(submission)
    torch.manual_seed(seed)
    model = build(sub)
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=epochs)
    if augment is not None:
        recipe.augment = AugmentConfig.from_dict(augment)
    baseline = _measure(model, test_split.subset(n_test))[1]
    torch.manual_seed(seed)
    result = fit(model, recipe, train_split.subset(n_train), CPU, seed)
    return model, result, baseline, _measure(model, test_split.subset(n_test))


@pytest.mark.slow  # the slow tier (pyproject.toml): real training of many batches
def test_one_epoch_on_10k_images_learns(submission, train_split, test_split):
    model, result, baseline, (test_loss, test_acc) = _run(submission("tiny"), train_split, test_split)
    assert 2 <= baseline <= 25  # untrained: about chance
    (epoch,) = result.epochs
    assert test_acc >= 90.0, epoch  # a 3.8k-param net after 157 steps reaches about 94 %
    assert epoch.train_loss < 1.0 and test_loss < 0.4
    assert result.optimizer["scheduler"] == "OneCycleLR" and result.optimizer["scheduler_per_batch"]
    assert epoch.lr < 0.01  # OneCycle stepped per batch ends far below its peak


@pytest.mark.slow  # the slow tier (pyproject.toml): real training of many batches
def test_same_seed_same_metrics_on_cpu(submission, train_split, test_split):
    aug = {"degrees": 10, "translate": (0.1, 0.1), "brightness": 0.2, "contrast": 0.2}
    runs = [_run(submission("tiny"), train_split, test_split, n_train=3000, n_test=1000, augment=aug, seed=s)
            for s in (0, 0, 1)]
    strip = lambda run: ([(e.train_loss, e.train_acc, e.lr) for e in run[1].epochs], run[3])
    assert strip(runs[0]) == strip(runs[1])
    assert strip(runs[0]) != strip(runs[2])


def test_divergence_names_epoch_step_and_lr(submission, train_split, test_split):
    with pytest.raises(TrainingError, match=r"diverged at epoch 1, step \d+ \(lr 1e\+12\)"):
        _run(submission("diverges"), train_split, test_split, n_train=3000, n_test=500)


def test_scheduler_stepped_past_its_end(submission, train_split, test_split):
    with pytest.raises(TrainingError, match="OneCycleLR raised at epoch 1, step 6"):
        _run(submission("bad_scheduler"), train_split, test_split, n_train=3000, n_test=500)


def test_forward_failing_on_other_batch_sizes_is_a_submission_error(submission, train_split):
    from grader.errors import SubmissionError

    sub = load(submission("batch_of_two"))
    model = build(sub)
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=1)
    # the training step names where it failed
    with pytest.raises(SubmissionError, match=r"training failed at epoch 1, step 1 \(batch of 128\): RuntimeError"):
        fit(model, recipe, train_split.subset(1000), CPU, 0)


def _train_tiny(submission, train_split, test_split, options, name="tiny"):
    """Train `name` as a grading does: its exported program, as the trainer's module, measured as derived."""
    import tempfile
    from pathlib import Path

    from grader import program
    from grader.course.options import LoopOptions
    from grader.interpret import Program, tensors_from_file
    from grader.trainer.program_module import ProgramModule
    from grader.trainer.speed import DropoutTally
    from grader.worker.export import export_program

    sub = load(submission(name))
    torch.manual_seed(0)
    net = build(sub)
    options = LoopOptions(**options)
    with tempfile.TemporaryDirectory() as tmp:
        export_program(net, torch.zeros(8, 1, 28, 28), Path(tmp))
        graph = program.read_graph(Path(tmp) / "graph.json")
        constants = tensors_from_file(Path(tmp) / "constants.bin", "cpu")
        model = ProgramModule(graph, constants, tensors_from_file(Path(tmp) / "initial.bin", "cpu"),
                              options.fast_dropout, DropoutTally())
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=1)
    result = fit(model, recipe, train_split.subset(2000), CPU, 0, options=options)
    measured = Program(program.derive_eval(graph), constants, CPU)
    split = test_split.subset(500)
    with torch.no_grad():
        out = measured.run(dict(model.state_for_graph()), normalize(split.images))
    return result, 100.0 * (out.argmax(1) == split.labels).float().mean().item()


@pytest.mark.slow  # the slow tier (pyproject.toml): real training of many batches
def test_dropout_the_cheaper_draw_cannot_take_is_left_to_torch_and_the_run_says_so(submission, train_split,
                                                                                    test_split):
    result, accuracy = _train_tiny(submission, train_split, test_split, {}, name="dropconnect")
    steps = -(-2000 // 64)
    # nn.Dropout on activations got the cheaper masks; dropout of the head's weight Parameter went to torch's kernel
    assert [w for w in result.warnings if w.startswith("fast dropout:")] == [
        f"fast dropout: {steps} of {2 * steps} dropout calls in training drew their masks with torch's own kernel "
        f"({steps} a Parameter of torch.float32): the same masks in distribution, only slower"]
    assert accuracy > 25  # and it trained (chance is 10 %)
    torch_masks, _ = _train_tiny(submission, train_split, test_split, {"fast_dropout": False}, name="dropconnect")
    assert not any(w.startswith("fast dropout:") for w in torch_masks.warnings)  # --torch-dropout: nothing to say


@pytest.mark.slow  # the slow tier (pyproject.toml): real training of many batches
def test_compile_failure_falls_back_to_eager_with_a_warning(submission, train_split, test_split, monkeypatch):
    def broken_compile(model, **kwargs):
        def compiled(*inputs):
            raise RuntimeError("backend exploded\nlong details")
        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    fell_back, fell_back_acc = _train_tiny(submission, train_split, test_split, {"compile": True})
    eager, eager_acc = _train_tiny(submission, train_split, test_split, {})
    assert fell_back.warnings == ["torch.compile could not handle this model (RuntimeError: backend exploded); "
                                  "trained without it"]
    # the failed compiled step left no trace: the run is exactly the eager one
    assert [e.train_loss for e in fell_back.epochs] == [e.train_loss for e in eager.epochs]
    assert fell_back_acc == eager_acc


@pytest.mark.slow  # the slow tier (pyproject.toml): real training of many batches
def test_a_compile_mode_reaches_torch_compile(submission, train_split, test_split, monkeypatch):
    modes = []

    def recording_compile(model, mode=None, **kwargs):
        modes.append(mode)
        return model  # stands in for the compiled module: same maths

    monkeypatch.setattr(torch, "compile", recording_compile)
    _train_tiny(submission, train_split, test_split, {"compile": True})
    _train_tiny(submission, train_split, test_split, {"compile": "reduce-overhead"})
    assert modes == [None, "reduce-overhead"]  # True means torch.compile's default mode


@pytest.mark.slow  # the slow tier (pyproject.toml): real training of many batches
def test_channels_last_computes_the_same_thing(submission, train_split, test_split):
    sub = load(submission("tiny"))
    torch.manual_seed(0)
    model = build(sub).eval()
    x = normalize(test_split.images[:64])
    nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    assert torch.allclose(nhwc(x.contiguous(memory_format=torch.channels_last)), model(x), atol=1e-5)
    # and the loop runs with it: training still learns (float summation order differs, so not bit-equal)
    _, acc = _train_tiny(submission, train_split, test_split, {"channels_last": True})
    assert acc > 70


@pytest.mark.slow  # the slow tier (pyproject.toml): real training of many batches
def test_channels_last_is_opt_in_and_the_result_says_which_format_trained(submission, train_split, test_split):
    default, _ = _train_tiny(submission, train_split, test_split, {})
    asked, _ = _train_tiny(submission, train_split, test_split, {"channels_last": True})
    assert not default.channels_last and asked.channels_last and default.warnings == asked.warnings == []


def test_a_model_that_fails_in_channels_last_trains_without_it_and_says_why(submission, train_split, test_split):
    result, acc = _train_tiny(submission, train_split, test_split, {"channels_last": True}, name="view_flatten")
    assert not result.channels_last and acc > 70
    (warning,) = result.warnings
    assert "not channels_last" in warning and "RuntimeError: view size is not compatible" in warning
    assert ".flatten(1)" in warning  # what to change
    # ... and it trained exactly as without the flag: the probe left no trace (BatchNorm statistics, RNG)
    plain, plain_acc = _train_tiny(submission, train_split, test_split, {}, name="view_flatten")
    assert [e.train_loss for e in result.epochs] == [e.train_loss for e in plain.epochs] and acc == plain_acc


def test_the_memory_format_probe_changes_nothing_it_runs(submission, train_split):
    from grader.course.options import LoopOptions
    from grader.trainer.train import pick_memory_format

    torch.manual_seed(0)
    model = build(load(submission("tiny"))).train()
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    fmt = pick_memory_format(model, train_split.images[:2], LoopOptions(channels_last=True))
    assert fmt == torch.channels_last and model.training and torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats untouched


def test_a_model_that_fails_either_way_surfaces_its_own_error(submission, train_split, test_split):
    # forward_raises fails for any batch but its own: its export (a free batch size) says so, in the student's words
    from grader.errors import SubmissionError

    with pytest.raises(SubmissionError, match="could not export your model's graph .*must have same reduction dim"):
        _train_tiny(submission, train_split, test_split, {"channels_last": True}, name="forward_raises")


def test_steps_per_epoch_matches_the_batches_the_loop_draws():
    from grader.trainer.train import _batches, batch_sizes, steps_per_epoch

    for n, bs in ((60000, 128), (257, 128), (129, 128), (128, 128), (1, 128), (5000, 64)):
        batches = _batches(n, bs, torch.Generator().manual_seed(0), "cpu")
        assert len(batches) == steps_per_epoch(n, bs), (n, bs)
        assert [len(b) for b in batches] == batch_sizes(n, bs), (n, bs)  # what the recorded step is built for
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
            fit(model, recipe, train_split.subset(4096), torch.device("cuda"), 0,
                on_epoch=lambda m: marks.append(sum("synchroniz" in str(w.message) for w in caught)))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    steps = 4096 // recipe.batch_size
    # The whole second epoch (its steps and the end-of-epoch reads) syncs a handful of times;
    # one sync per step would be at least `steps`.
    assert len(marks) == 2 and marks[1] - marks[0] <= 8 < steps


@pytest.mark.parametrize("mode, figure", [("min", "train_loss"), ("max", "train_acc")])
def test_reduce_lr_on_plateau_watches_a_training_figure_never_a_test_one(submission, train_split, mode, figure,
                                                                          monkeypatch):
    """The worker has no test set to leak; ReduceLROnPlateau is stepped with the epoch's training loss, or its
    training accuracy for mode='max' (it used to get the test loss, and ignored mode='max')."""
    from grader.trainer import train as loop

    sub = load(submission("tiny"))
    model = build(sub)
    recipe = resolve({}, {"optimizer": {"name": "SGD", "lr": 0.05},
                          "scheduler": {"name": "ReduceLROnPlateau", "mode": mode, "patience": 0}}, max_epochs=2)
    seen = []
    real = loop.step_scheduler
    monkeypatch.setattr(loop, "step_scheduler", lambda s, e, st, lr, metric=None: (seen.append(metric),
                                                                                   real(s, e, st, lr, metric))[1])
    result = fit(model, recipe, train_split.subset(1000), CPU, 0)
    assert seen == [getattr(e, figure) for e in result.epochs]


def test_a_one_cycle_built_for_another_length_is_named_with_both_numbers(submission, train_split):
    """lesson 6's old stub hard-coded steps_per_epoch=469; with another batch size the schedule never finishes."""
    import torch

    from grader.trainer.train import schedule_warnings

    model = build(load(submission("tiny")))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    long = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=20, steps_per_epoch=469)
    (warning,) = schedule_warnings(long, epochs=20, steps=235)
    assert "9,380 steps" in warning and "20 epochs x 235 steps = 4,700" in warning and "does not finish" in warning
    assert schedule_warnings(long, epochs=20, steps=469) == []
