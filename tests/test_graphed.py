"""The recorded training step (grader.trainer.graphed): its arithmetic is checked here on the CPU by running the same
step eagerly (record=False); recording and replaying it needs a CUDA device (the tests at the end)."""

import copy

import pytest
import torch

from grader.trainer.graphed import ReplayableSGD, unsupported
from grader.trainer.recipe import resolve
from grader.trainer.train import build_loop, fit, replay_or_why, train_epoch
from grader.worker.submission import build, load

CPU = torch.device("cpu")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(4),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 10))


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")  # ours has no optimizer.step()
@pytest.mark.parametrize("kwargs", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True),
                                    dict(momentum=0.9, weight_decay=5e-4), dict(), dict(weight_decay=1e-3)])
def test_the_replayable_update_is_torch_sgd_under_a_one_cycle_schedule(kwargs):
    """Same grads, same schedule (OneCycle moves lr and momentum every step): the weights agree to float rounding."""
    ours, theirs = _net(), _net()
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.01, **kwargs)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.01, **kwargs)
    sched_ours, sched_theirs = (torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=40,
                                                                    cycle_momentum="momentum" in kwargs)
                                for o in (opt_ours, opt_theirs))
    replayable = ReplayableSGD(opt_ours, CPU)
    gen = torch.Generator().manual_seed(1)
    for _ in range(30):
        x, y = torch.randn(16, 1, 28, 28, generator=gen), torch.randint(0, 10, (16,), generator=gen)
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
        replayable.refresh()
        replayable.step()
        opt_theirs.step()
        for sched in (sched_ours, sched_theirs):
            sched.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(next(ours.parameters()), next(_net().parameters()))  # it did train


def test_what_cannot_be_replayed_says_why():
    model = _net()
    assert "Adam" in unsupported(torch.optim.Adam(model.parameters()))
    assert "dampening" in unsupported(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.1))
    assert "maximize" in unsupported(torch.optim.SGD(model.parameters(), lr=0.1, maximize=True))
    assert unsupported(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)) is None


def _loop(sub, split, seed=0, augment=True, epochs=2):
    torch.manual_seed(seed)
    model = build(sub)
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=epochs)
    if not augment:
        from grader.trainer.augment import AugmentConfig

        recipe.augment = AugmentConfig()
    torch.manual_seed(seed)
    return build_loop(model, recipe, split, CPU, seed)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")  # fit quiets it (below)
def test_the_replayed_epoch_trains_as_the_eager_one(submission, train_split):
    """Without augmentation the two draw the same shuffle and the same dropout masks, so a short epoch of the
    replayed step (run eagerly here) ends where the eager loop's does, to float rounding (over a long one, rounding
    differences grow as two training runs' do), and reports the same figures."""
    sub = load(submission("tiny"))
    split = train_split.subset(5 * 64 + 37)  # a short last batch: the second recorded size
    eager, replayed = _loop(sub, split, augment=False), _loop(sub, split, augment=False)
    replayed.replay, why = replay_or_why(replayed, record=False)
    assert why is None and replayed.replay.sizes[-1] == 37 and not replayed.replay.graphs
    torch.manual_seed(3)
    a = train_epoch(eager, 1)
    torch.manual_seed(3)
    b = train_epoch(replayed, 1)
    for p, q in zip(eager.model.state_dict().values(), replayed.model.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5) and a.lr == b.lr and a.train_acc == b.train_acc


@pytest.mark.slow  # the slow tier (pyproject.toml): real training of many batches
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")  # fit quiets it (below)
def test_the_replayed_epoch_augments_each_image_and_learns_as_much(submission, train_split, test_split):
    """With augmentation the replayed epoch draws its images up front: another draw from the same distribution,
    so both loops learn about as much from one epoch."""
    from grader.trainer.augment import AugmentConfig, Augmenter
    from tests.test_train import _measure

    sub = load(submission("tiny"))
    accuracies = []
    for replayed in (False, True):
        loop = _loop(sub, train_split.subset(6000), epochs=1)
        loop.augment = Augmenter(AugmentConfig.from_dict({"degrees": 10, "translate": (0.1, 0.1)}))
        if replayed:
            loop.replay, _ = replay_or_why(loop, record=False)
        stats = train_epoch(loop, 1)
        if replayed:
            assert loop.replay.images.shape[0] == 6000 and torch.isfinite(loop.replay.images).all()
            assert loop.replay.images.std() > 0.5  # normalised images, not the zeros it starts with
        accuracies.append((stats.train_acc, _measure(loop.model, test_split.subset(2000))[1]))
    (train_e, test_e), (train_r, test_r) = accuracies
    assert test_e > 85 and test_r > 85 and abs(test_e - test_r) < 3 and abs(train_e - train_r) < 5, accuracies


def test_with_a_replayed_step_the_scheduler_does_not_warn_of_a_missing_optimizer_step(submission, train_split):
    """torch warns when a scheduler steps before optimizer.step() ran; the replayed step never calls it."""
    import warnings

    from grader.trainer.train import _quiet_about_replayed_steps

    loop = _loop(load(submission("tiny")), train_split.subset(200))
    for replayed in (False, True):
        loop.replay = replay_or_why(loop, record=False)[0] if replayed else None
        scheduler = torch.optim.lr_scheduler.StepLR(loop.optimizer, step_size=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with _quiet_about_replayed_steps(loop):
                scheduler.step()
        assert any("lr_scheduler.step()" in str(w.message) for w in caught) != replayed


def test_fit_on_the_cpu_never_records(submission, train_split):
    sub = load(submission("tiny"))
    model = build(sub)
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=1)
    result = fit(model, recipe, train_split.subset(500), CPU, 0)
    assert not result.graphed and not any("CUDA graphs" in w for w in result.warnings)


# --- on a CUDA device: recording and replaying ---

@CUDA
def test_replayed_on_cuda_ends_where_eager_cuda_does(submission, train_split):
    from grader.course.options import LoopOptions
    from grader.trainer.augment import AugmentConfig

    sub = load(submission("tiny"))
    runs = []
    for graph in (False, True):
        torch.manual_seed(0)
        model = build(sub)
        recipe = resolve(sub.recipe_overrides(), None, max_epochs=1)
        recipe.augment = AugmentConfig()
        torch.manual_seed(0)
        result = fit(model, recipe, train_split.subset(3000 + 37), torch.device("cuda"), 0,
                     options=LoopOptions(cuda_graph=graph))
        runs.append((model, result))
    (eager, r_eager), (graphed, r_graphed) = runs
    assert r_graphed.graphed and not r_eager.graphed, r_graphed.warnings
    # the warm-up before recording draws dropout masks: the replayed run's masks differ, the rest is the same
    assert r_eager.epochs[0].train_acc == pytest.approx(r_graphed.epochs[0].train_acc, abs=1.5)
    for p, q in zip(eager.state_dict().values(), graphed.state_dict().values()):
        if p.is_floating_point():
            assert torch.isfinite(q).all()


@CUDA
def test_a_replayed_epoch_syncs_with_the_host_a_few_times(submission, train_split):
    import warnings

    sub = load(submission("tiny"))
    model = build(sub)
    recipe = resolve(sub.recipe_overrides(), None, max_epochs=2)
    marks = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            result = fit(model, recipe, train_split.subset(4096), torch.device("cuda"), 0,
                         on_epoch=lambda m: marks.append(sum("synchroniz" in str(w.message) for w in caught)))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert result.graphed
    assert len(marks) == 2 and marks[1] - marks[0] <= 8 < 4096 // recipe.batch_size


class _Counting(torch.nn.Module):
    """Changes a Python attribute in forward: a recorded step would freeze it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 10, 28)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.conv(x).flatten(1)


class _Reading(torch.nn.Module):
    """Reads a value back to the host in forward: recording fails."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 10, 28)

    def forward(self, x):
        out = self.conv(x).flatten(1)
        return out * 0 + out if float(out.abs().max()) < 1e9 else out


@CUDA
@pytest.mark.parametrize("net, says", [(_Counting, "Python attributes"), (_Reading, "")])
def test_a_model_that_cannot_be_replayed_trains_eagerly_and_says_so(train_split, net, says):
    torch.manual_seed(0)
    model = net()
    recipe = resolve({}, {"optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9}}, max_epochs=1)
    before = copy.deepcopy(model.state_dict())
    result = fit(model, recipe, train_split.subset(1000), torch.device("cuda"), 0)
    assert not result.graphed
    (warning,) = [w for w in result.warnings if "without CUDA graphs" in w]
    assert says in warning
    assert result.epochs[0].train_acc > 30  # trained eagerly, from the untouched start
    assert any(not torch.equal(before[k].cuda(), v) for k, v in model.state_dict().items())
