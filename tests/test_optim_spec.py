"""make_optimizer's result as data (grader.worker.optimizer_data) and rebuilt from it (grader.trainer.optimizer).

The proof: an optimizer and scheduler built as a submission builds them, described, sent through JSON and
rebuilt over a copy of the parameters, follow the same learning rates and reach bit-identical parameters
under identical gradients; everything that is not plain data is refused, each with its own message.
"""

import ast
import copy
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from grader.errors import SubmissionError
from grader.optim_spec import OPTIMIZERS, PER_BATCH, SCHEDULERS, OptimSpec, check_plain
from grader.trainer.optimizer import build, build_default
from grader.trainer.recipe import build_optimizer, resolve
from grader.worker.optimizer_data import describe

ROOT = Path(__file__).resolve().parent.parent
S = torch.optim.lr_scheduler
STEPS, EPOCH = 30, 5  # 30 optimizer steps; a per-epoch scheduler steps every 5


class Net(nn.Module):
    """Small, with the names the grader's programs have: features.0.0.weight, features.0.2.running_mean ..."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)))
        self.head = nn.Linear(4, 10)


def worker_model(cls=Net) -> nn.Module:
    torch.manual_seed(0)
    return cls()


def rebuilt(made, model):
    """describe -> JSON -> from_dict -> build over a deep copy of the parameters, as the trainer gets them."""
    data = json.loads(json.dumps(describe(made, model).to_dict(), allow_nan=False))
    params = {name: nn.Parameter(p.detach().clone()) for name, p in model.named_parameters()}
    return build(OptimSpec.from_dict(data), params), params


def drive(optimizer, scheduler, params: dict) -> list:
    """STEPS steps on seeded gradients; the learning rates (and momenta) of every group after each step."""
    gen = torch.Generator().manual_seed(1)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.95]  # a plateau, so ReduceLROnPlateau cuts the rate
    seen = []
    for step in range(1, STEPS + 1):
        for p in params.values():
            p.grad = torch.randn(p.shape, generator=gen)
        optimizer.step()
        if scheduler is not None and (type(scheduler).__name__ in PER_BATCH or step % EPOCH == 0):
            if isinstance(scheduler, S.ReduceLROnPlateau):
                scheduler.step(metrics[step // EPOCH - 1])
            else:
                scheduler.step()
        seen.append([(g["lr"], g.get("momentum"), g.get("betas")) for g in optimizer.param_groups])
    return seen


def assert_same_training(make, model_cls=Net):
    """make(model) trained in place and its rebuild from data: same rates, bit-identical parameters."""
    model = worker_model(model_cls)
    made = make(model)
    (opt2, sched2), params2 = rebuilt(made, model)
    opt, sched = made if isinstance(made, tuple) else (made, None)
    hyper = lambda o: repr([{k: v for k, v in g.items() if k != "params"} for g in o.param_groups] + [o.defaults])
    assert hyper(opt2) == hyper(opt)  # same keys, values and types (betas a tuple again)
    assert sched is None and sched2 is None or sched2.state_dict() == sched.state_dict()
    params = {name: p for name, p in model.named_parameters()}
    assert drive(opt, sched, params) == drive(opt2, sched2, params2)
    for name, p in params.items():
        assert torch.equal(p, params2[name]), name
    return sched2


def groups(model, **hyper):
    """Two param groups, the head with its own lr: schedulers must follow each group."""
    return [{"params": model.features.parameters()}, {"params": model.head.parameters(), "lr": 0.02, **hyper}]


OPTIMIZER_CASES = {
    "SGD": lambda m: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "SGD-groups": lambda m: torch.optim.SGD(groups(m, momentum=0.5, tags=["head"]), lr=0.05),  # a key of its own
    "Adam": lambda m: torch.optim.Adam(m.parameters(), lr=0.01, amsgrad=True),
    "AdamW": lambda m: torch.optim.AdamW(groups(m, weight_decay=0.1), lr=0.01, betas=(0.8, 0.99)),
    "RMSprop": lambda m: torch.optim.RMSprop(m.parameters(), lr=0.01, momentum=0.9, centered=True),
    "Adagrad": lambda m: torch.optim.Adagrad(m.parameters(), lr=0.1, initial_accumulator_value=0.1, lr_decay=0.01),
    "Adadelta": lambda m: torch.optim.Adadelta(m.parameters()),
    "Adamax": lambda m: torch.optim.Adamax(m.parameters()),
    "NAdam": lambda m: torch.optim.NAdam(m.parameters(), decoupled_weight_decay=True, weight_decay=0.01),
    "RAdam": lambda m: torch.optim.RAdam(m.parameters()),
    "ASGD": lambda m: torch.optim.ASGD(m.parameters(), t0=10),
    "Rprop": lambda m: torch.optim.Rprop(m.parameters(), etas=(0.4, 1.3)),
}


def test_every_allowed_optimizer_has_a_case():
    assert {case.split("-")[0] for case in OPTIMIZER_CASES} == set(OPTIMIZERS)


@pytest.mark.parametrize("case", OPTIMIZER_CASES)
def test_bare_optimizer_trains_identically(case):
    assert assert_same_training(OPTIMIZER_CASES[case]) is None


def sgd(m):
    return torch.optim.SGD(groups(m), lr=0.05, momentum=0.9)


SCHEDULER_CASES = {
    "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=STEPS, pct_start=0.3),
    "OneCycleLR-linear": lambda o: S.OneCycleLR(o, max_lr=0.1, epochs=6, steps_per_epoch=5, anneal_strategy="linear",
                                                three_phase=True),
    "StepLR": lambda o: S.StepLR(o, step_size=2, gamma=0.5),
    "MultiStepLR": lambda o: S.MultiStepLR(o, milestones=[1, 3, 3], gamma=0.5),
    "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.8),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=4, eta_min=0.001),
    "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, patience=1, factor=0.5, min_lr=[0.0, 0.004]),
    "ReduceLROnPlateau-max": lambda o: S.ReduceLROnPlateau(o, mode="max", patience=0, threshold_mode="abs"),
    "LinearLR": lambda o: S.LinearLR(o, start_factor=0.1, total_iters=4),
    "ConstantLR": lambda o: S.ConstantLR(o, factor=0.5, total_iters=3),
    "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=5, power=2.0),
    "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=1e-4),
    "CyclicLR": lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=4),
    "CyclicLR-exp_range": lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="exp_range", gamma=0.9),
    "CyclicLR-triangular2": lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="triangular2",
                                                 cycle_momentum=False),
    "SequentialLR": lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=2), S.MultiStepLR(o, [3, 4])],
                                             milestones=[2]),
}


def test_every_allowed_scheduler_has_a_case():
    assert {case.split("-")[0] for case in SCHEDULER_CASES} == set(SCHEDULERS)


@pytest.mark.parametrize("case", SCHEDULER_CASES)
def test_scheduler_trains_identically(case):
    def make(model):
        optimizer = sgd(model)
        return optimizer, SCHEDULER_CASES[case](optimizer)

    assert type(assert_same_training(make)).__name__ == case.split("-")[0]


@pytest.mark.parametrize("make", [
    # OneCycleLR cycles Adam's beta1 instead of a momentum
    lambda m: (o := torch.optim.Adam(m.parameters(), lr=0.01), S.OneCycleLR(o, 0.05, total_steps=STEPS)),
    # no momentum to cycle: the student turns cycling off
    lambda m: (o := torch.optim.Adagrad(m.parameters()), S.OneCycleLR(o, 0.5, total_steps=STEPS,
                                                                     cycle_momentum=False)),
    # a scheduler the student already stepped once: it goes on from there
    lambda m: (o := torch.optim.SGD(m.parameters(), lr=0.1), s := S.StepLR(o, 1, 0.5), s.step())[:2],
], ids=["onecycle-adam", "onecycle-adagrad", "stepped-scheduler"])
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")  # the stepped scheduler
def test_scheduler_variants_train_identically(make):
    assert_same_training(make)


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"optspec_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILES = sorted(path for pattern in ("solutions/lesson*/model.py", "lessons/lesson*/model.py", "tests/models/*.py")
               for path in ROOT.glob(pattern) if "def make_optimizer" in path.read_text())


def test_files_with_make_optimizer_found():
    assert {"solutions/lesson6/model.py", "solutions/lesson7/model.py", "lessons/lesson6/model.py"} <= {
        str(path.relative_to(ROOT)) for path in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_course_files_train_identically(path):
    module = load(path)
    assert_same_training(lambda model: module.make_optimizer(model, EPOCH, STEPS // EPOCH), module.Net)


def test_recipe_default_matches_the_worker_recipe():
    lesson = {"epochs": 6, "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
              "scheduler": {"name": "OneCycleLR", "max_lr": 0.1, "pct_start": 0.4}}
    model = worker_model()
    recipe = resolve({}, lesson, max_epochs=6)
    params2 = {name: nn.Parameter(p.detach().clone()) for name, p in model.named_parameters()}
    opt2, sched2 = build_default(recipe.optimizer, recipe.scheduler, params2, recipe.epochs, EPOCH)
    opt, sched = build_optimizer(recipe, model, EPOCH)
    assert sched2.total_steps == STEPS
    assert drive(opt, sched, dict(model.named_parameters())) == drive(opt2, sched2, params2)
    assert all(torch.equal(p, params2[name]) for name, p in model.named_parameters())
    opt3, sched3 = build_default({"name": "Adam"}, None, params2, 6, EPOCH)
    assert type(opt3) is torch.optim.Adam and sched3 is None
    with pytest.raises(SubmissionError, match="unknown optimizer 'LBFGS'"):
        build_default({"name": "LBFGS"}, None, params2, 6, EPOCH)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.encode = nn.Linear(3, 3)
        self.decode = nn.Linear(3, 3)
        self.decode.weight = self.encode.weight
        self.extra = nn.Linear(3, 1)
        self.extra.bias.requires_grad_(False)


def test_tied_unheld_and_frozen_parameters_are_recorded():
    model = Tied()
    spec = describe(torch.optim.SGD([model.decode.weight, model.extra.bias], lr=0.1), model)
    assert spec.optimizer.groups[0].params == ("encode.weight", "extra.bias")  # a tied one by its first name
    assert spec.unheld == ("encode.bias", "decode.bias", "extra.weight")
    assert spec.frozen == ("extra.bias",)
    assert OptimSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


class MySGD(torch.optim.SGD):
    pass


class MyStep(S.StepLR):
    pass


class Duck:
    param_groups = []

    def step(self):
        pass


def stepped(m):
    optimizer = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    for p in m.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    return optimizer


def twice(m):
    """torch refuses a parameter in two groups when it builds them, not when a group is edited afterwards."""
    optimizer = torch.optim.SGD(groups(m), lr=0.1)
    optimizer.param_groups[0]["params"].append(m.head.weight)
    return optimizer


def adagrad_sums_edited(m):
    optimizer = torch.optim.Adagrad(m.parameters())
    optimizer.state[m.head.weight]["sum"].fill_(3.0)
    return optimizer


def hooked(m):
    optimizer = torch.optim.SGD(m.parameters(), lr=0.1)
    optimizer.register_step_post_hook(lambda *args: None)
    return optimizer


def patched(m):
    optimizer = torch.optim.SGD(m.parameters(), lr=0.1)
    optimizer.zero_grad = lambda set_to_none=True: None
    return optimizer


def sgd_and(scheduler):
    def make(m):
        optimizer = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        return optimizer, scheduler(optimizer)
    return make


REFUSED = {
    "subclass": (lambda m: MySGD(m.parameters(), lr=0.1), "MySGD, a subclass of torch.optim.SGD"),
    "not-torch": (lambda m: Duck(), "must return an optimizer .* from torch.optim, got Duck"),
    "lbfgs": (lambda m: torch.optim.LBFGS(m.parameters()), "LBFGS, whose step needs a closure"),
    "buffer": (lambda m: torch.optim.SGD(list(m.parameters()) + [m.features[0][2].running_mean], lr=0.1),
               "put features.0.2.running_mean, a buffer, into the optimizer: only the model's parameters"),
    "foreign": (lambda m: torch.optim.SGD(list(m.parameters()) + [nn.Parameter(torch.zeros(7))], lr=0.1),
                r"a tensor of shape \(7,\) that is not one of the model's parameters"),
    "twice": (twice, r"put head.weight into the optimizer twice \(groups 0 and 1\)"),
    "tensor-lr": (lambda m: torch.optim.SGD(m.parameters(), lr=torch.tensor(0.1)), "lr is a tensor"),
    "tensor-beta": (lambda m: torch.optim.Adam(m.parameters(), betas=(torch.tensor(0.9), torch.tensor(0.99))),
                    r"param group 0.betas\[0\] is a tensor"),
    "differentiable": (lambda m: torch.optim.SGD(m.parameters(), lr=0.1, differentiable=True),
                       "differentiable=True is not allowed"),
    "stepped": (stepped, "make_optimizer stepped the optimizer"),
    "adagrad-sums": (adagrad_sums_edited, "make_optimizer changed the Adagrad's sums"),
    "hook": (hooked, "registered a hook on the optimizer"),
    "patched": (patched, "replaced the optimizer's zero_grad"),
    "lambda": (sgd_and(lambda o: S.LambdaLR(o, lambda epoch: 0.9 ** epoch)),
               "LambdaLR: its rate comes from a function.*allowed: torch.optim.lr_scheduler.OneCycleLR"),
    "multiplicative": (sgd_and(lambda o: S.MultiplicativeLR(o, lambda epoch: 0.9)),
                       "MultiplicativeLR: its rate comes from a function"),
    "chained": (sgd_and(lambda o: S.ChainedScheduler([S.StepLR(o, 2), S.ExponentialLR(o, 0.9)])),
                "ChainedScheduler: several schedulers stepped together"),
    "scheduler-subclass": (sgd_and(lambda o: MyStep(o, 2)), "MyStep: not one of torch's own classes"),
    "not-a-scheduler": (sgd_and(lambda o: "cosine"), "str: not a scheduler from torch.optim.lr_scheduler"),
    "cyclic-scale-fn": (sgd_and(lambda o: S.CyclicLR(o, 0.01, 0.1, scale_fn=lambda x: 1.0)),
                        "CyclicLR with a scale_fn of its own is not allowed"),
    "other-optimizer": (sgd_and(lambda o: S.StepLR(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), 2)),
                        "schedules another optimizer than the one it returned"),
    "sequential-of-sequential": (sgd_and(lambda o: S.SequentialLR(o, [S.SequentialLR(o, [S.StepLR(o, 1)], []),
                                                                      S.StepLR(o, 1)], [2])),
                                 "SequentialLR chains SequentialLR: a scheduler SequentialLR cannot chain"),
    "function-in-state": (sgd_and(lambda o: setattr(s := S.StepLR(o, 2), "note", print) or s),
                          "the StepLR's state.note is a builtin_function_or_method"),
}


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.filterwarnings("ignore:Detected call of")  # a SequentialLR built inside another steps it early
def test_refused_with_its_own_message(case):
    make, message = REFUSED[case]
    model = worker_model()
    with pytest.raises(SubmissionError, match=message):
        describe(make(model), model)


def test_each_refusal_has_its_own_message():
    assert len({message for _, message in REFUSED.values()}) == len(REFUSED)


def test_describe_refuses_on_the_model_it_was_given():
    """describe checks against the model make_optimizer saw (the same object), not a copy."""
    model = worker_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(SubmissionError, match="not one of the model's parameters"):
        describe(optimizer, copy.deepcopy(model))


def spec_data(make=sgd_and(lambda o: S.StepLR(o, 2))):
    model = worker_model()
    return json.loads(json.dumps(describe(make(model), model).to_dict())), model


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["optimizer"].update(kind="LBFGS"), "the optimizer 'LBFGS' is not allowed; allowed: SGD"),
    (lambda d: d["scheduler"].update(kind="LambdaLR"), "the scheduler 'LambdaLR' is not allowed"),
    (lambda d: d.update(extra=1), "optim spec has unknown keys 'extra'; expected optimizer, scheduler"),
    (lambda d: d["scheduler"].pop("state"), "scheduler lacks state"),
    (lambda d: d["optimizer"]["groups"][0]["hyper"].update(lr=math.inf), "hyper.lr: inf is not a finite number"),
    (lambda d: d["optimizer"]["groups"][0]["hyper"].update(lr=math.nan), "nan is not a finite number"),
    (lambda d: d["scheduler"]["state"].update(x="y" * 300), "state.x: a string of 300 characters"),
    (lambda d: d["scheduler"]["state"].update(x=[[[[[[[[[1]]]]]]]]]), "nested more than 8 deep"),
    (lambda d: d["scheduler"]["state"].update(x=list(range(5000))), "5000 items"),
    (lambda d: d["scheduler"]["state"].update(x=10**30), "out of range"),
    (lambda d: d["optimizer"]["groups"][0].update(params="features"), "params must be a list of parameter names"),
    (lambda d: d["scheduler"].update(children=[{"kind": "StepLR", "state": {}}]),
     "only SequentialLR has .and needs. child schedulers"),
])
def test_from_dict_refuses_what_is_not_plain_data(edit, message):
    data, _ = spec_data()
    edit(data)
    with pytest.raises(SubmissionError, match=message):
        OptimSpec.from_dict(data)


def test_check_plain_refuses_objects_and_too_many_values():
    check_plain({"a": [1, 2.5, True, None, "s", (3, 4)]}, "x")
    with pytest.raises(SubmissionError, match=r"x.a is a tensor"):
        check_plain({"a": torch.zeros(1)}, "x")
    with pytest.raises(SubmissionError, match="the key 1 is not a short string"):
        check_plain({1: 2}, "x")
    with pytest.raises(SubmissionError, match="more than 50000 values"):
        check_plain([list(range(4000))] * 13, "x")


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["optimizer"]["groups"][0]["params"].append("features.9.weight"),
     "names features.9.weight, which is not one of the program's parameters"),
    (lambda d: d["optimizer"]["groups"][0]["params"].append("head.bias"), "names head.bias twice"),
    (lambda d: d["scheduler"]["state"].update(step=1), r"has keys \['step'\] that a StepLR does not"),
    (lambda d: d["scheduler"]["state"].pop("gamma"), r"lacks \['gamma'\]"),
    (lambda d: d["optimizer"]["groups"][0]["hyper"].pop("momentum"), "group 0 lacks momentum"),
    (lambda d: d["optimizer"]["groups"][0]["hyper"].update(differentiable=True), "differentiable=True"),
    (lambda d: d["optimizer"]["defaults"].update(bogus=1), "the SGD's recorded defaults have keys .*'bogus'"),
    (lambda d: d["optimizer"]["defaults"].update(momentum=-1.0), "cannot build torch.optim.SGD"),
    (lambda d: d["scheduler"]["state"].update(step_size="x"), None),
])
def test_trainer_refuses_a_spec_it_cannot_rebuild_exactly(edit, message):
    data, model = spec_data()
    edit(data)
    params = dict(model.named_parameters())
    if message is None:  # a wrong value of a known key is torch's to reject, when it steps: data, not code
        build(OptimSpec.from_dict(data), params)
        return
    with pytest.raises(SubmissionError, match=message):
        build(OptimSpec.from_dict(data), params)


def test_trainer_refuses_a_cyclic_scale_fn_in_the_data():
    data, model = spec_data(sgd_and(lambda o: S.CyclicLR(o, 0.01, 0.1)))
    data["scheduler"]["state"]["_scale_fn_custom"] = {"a": 1}
    with pytest.raises(SubmissionError, match="CyclicLR is allowed only with one of its modes"):
        build(OptimSpec.from_dict(data), dict(model.named_parameters()))


def test_the_spec_needs_no_torch_and_the_trainer_no_worker():
    """The spec crosses processes, the parent's included: importing it loads no torch. The trainer's half and
    the spec import nothing of the worker's, where the submission runs."""
    source = "import sys, grader.optim_spec; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", source], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
    for path in ("grader/trainer/optimizer.py", "grader/optim_spec.py", "grader/errors.py"):
        tree = ast.parse((ROOT / path).read_text())
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert {m for m in modules if m and m.startswith("grader")} <= {"grader.errors", "grader.optim_spec"}, path
