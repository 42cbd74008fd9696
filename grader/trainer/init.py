"""The initial state the trainer starts from, drawn by the grader: a model may bring no knowledge in.

`classify` reads off the exported program how each parameter and buffer is used (a convolution's weight, a
Linear's bias, a norm layer's scale, batch-norm statistics, something else). `draw` then sets every one of them:
conv and Linear tensors as torch's own reset_parameters would (or by the scheme the submission declares as data,
`INIT`), norm layers at ones and zeros, batch-norm statistics reset, a tensor the submission set to a plain fill
or an identity kept, and any other parameter drawn afresh from a normal law with its submitted mean and spread.
What the submission's code computed never reaches the trainer beyond those few numbers a tensor, each kept to
SIGNIFICANT digits, and at most MAX_CARRIED of them in all (so a thousand one-number parameters cannot carry a
teacher); a buffer that is not batch-norm statistics and not a plain fill is refused.

The draws replay torch's construction: one generator seeded like `torch.manual_seed(seed)`, the layers' default
draws in the program's input order (registration order: weight, then bias), then the declared scheme's draws in
the same order, as a student's init loop after construction does. So a model on torch's defaults starts from
exactly the values `torch.manual_seed(seed); Net()` gave it, and one whose init loop the declared INIT names does
too. A model that builds a layer out of registration order, or draws random numbers of its own in `__init__`,
starts from equally distributed values that are not the same bits.
"""

from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from grader.errors import SubmissionError
from grader.program import Graph, GraphInput, ProgramError

SCHEME_KEYS = ("conv", "linear", "bias", "other")
SCHEMES = ("default", "kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal", "orthogonal",
           "trunc_normal", "normal", "uniform", "zeros", "ones")
NEEDS_FANS = frozenset({"kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal", "orthogonal"})
MAX_CARRIED = 64  # numbers of the submission's own (fills, identity scales, means and spreads) a state may keep
SIGNIFICANT = 4  # digits a kept number keeps: 0.1307, 1e-06 and 0.25 survive; 32 bits of payload do not

CONV_WEIGHT, CONV_BIAS, LINEAR_WEIGHT, LINEAR_BIAS = "conv weight", "conv bias", "linear weight", "linear bias"
NORM_WEIGHT, NORM_BIAS = "norm weight", "norm bias"
RUNNING_MEAN, RUNNING_VAR, BATCHES_TRACKED = "running_mean", "running_var", "num_batches_tracked"
OTHER, BUFFER, UNUSED = "other", "buffer", "unused"
LAYER_ROLES = (CONV_WEIGHT, CONV_BIAS, LINEAR_WEIGHT, LINEAR_BIAS)
NORM_STATISTICS = (RUNNING_MEAN, RUNNING_VAR, BATCHES_TRACKED)  # always reset: initial statistics could be storage

# Ops a parameter passes through unchanged in value on its way to a layer (a Linear's weight is transposed).
VIEW_OPS = frozenset(f"aten.{op}" for op in (
    "permute.default", "t.default", "view.default", "reshape.default", "expand.default", "_unsafe_view.default",
    "clone.default", "alias.default", "unsqueeze.default", "squeeze.dim", "squeeze.dims", "squeeze.default"))
TRANSPOSES = frozenset({"aten.permute.default", "aten.t.default"})
CONVOLUTION = "aten.convolution.default"
BATCH_NORMS = frozenset({"aten._native_batch_norm_legit_functional.default",
                         "aten._native_batch_norm_legit_no_training.default", "aten._native_batch_norm_legit.default",
                         "aten.native_batch_norm.default"})
# (weight, bias) positions of the norm layers torch starts at ones and zeros
NORM_AFFINE = {**{op: (1, 2) for op in BATCH_NORMS}, "aten._native_batch_norm_legit.no_stats": (1, 2),
               "aten.native_group_norm.default": (1, 2), "aten.native_layer_norm.default": (2, 3)}
NORM_STATS_ARGS = {3: RUNNING_MEAN, 4: RUNNING_VAR}  # the same positions in every op of BATCH_NORMS


# ------------------------------------------------------------------------------------------------ scheme


@dataclass(frozen=True)
class Init:
    """One torch.nn.init scheme and its keyword arguments (plain numbers and strings)."""

    name: str = "default"  # the layer's own reset_parameters: what `Net()` does without an INIT
    kwargs: tuple[tuple[str, int | float | str], ...] = ()

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs)
        return f"{self.name}({args})" if args else self.name

    def apply(self, tensor: torch.Tensor, generator: torch.Generator) -> None:
        """Draw into `tensor` in place, from `generator`."""
        fn = getattr(torch.nn.init, self.name + "_")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "initializing zero-element tensors is a no-op"
            if self.name in ("zeros", "ones"):
                fn(tensor)
            else:
                fn(tensor, **dict(self.kwargs), generator=generator)


@dataclass(frozen=True)
class InitScheme:
    """The submission's declared INIT: which torch.nn.init scheme draws each kind of tensor."""

    conv: Init = Init()  # convolution weights; default: torch's kaiming_uniform_(a=sqrt(5))
    linear: Init = Init()  # Linear weights; default: the same as a convolution's
    bias: Init = Init()  # conv and Linear biases; default: uniform(+-1/sqrt(fan_in)) of the layer's weight
    other: Init = Init()  # parameters no standard layer uses; default: a normal law with their own mean and spread

    def for_role(self, role: str) -> Init:
        return {CONV_WEIGHT: self.conv, LINEAR_WEIGHT: self.linear, CONV_BIAS: self.bias, LINEAR_BIAS: self.bias,
                OTHER: self.other}[role]

    def to_dict(self) -> dict[str, str]:
        return {key: str(getattr(self, key)) for key in SCHEME_KEYS}


def parse_scheme(raw) -> InitScheme:
    """The InitScheme a submission's INIT declares (None: torch's defaults); SubmissionError says what is allowed."""
    if raw is None:
        return InitScheme()
    if not isinstance(raw, dict):
        raise SubmissionError(f"INIT must be a dict such as {_EXAMPLE}, not a {type(raw).__name__}")
    unknown = [k for k in raw if k not in SCHEME_KEYS]
    if unknown:
        raise SubmissionError(f"INIT has the key {unknown[0]!r}; its keys are {', '.join(SCHEME_KEYS)}")
    return InitScheme(**{key: _parse_init(key, value) for key, value in raw.items()})


_EXAMPLE = '{"conv": "kaiming_normal", "linear": "xavier_uniform", "bias": "zeros"}'


def _parse_init(key: str, value) -> Init:
    if isinstance(value, str):
        name, kwargs = value, {}
    elif isinstance(value, dict):
        kwargs = dict(value)
        name = kwargs.pop("name", None)
    else:
        raise SubmissionError(f"INIT[{key!r}] must be a scheme's name or a dict with \"name\", such as "
                              f'{{"name": "kaiming_normal", "mode": "fan_out", "nonlinearity": "relu"}}')
    allowed = [s for s in SCHEMES if key != "bias" or s not in NEEDS_FANS]  # a bias has no fans to scale by
    if name not in allowed:
        raise SubmissionError(f"INIT[{key!r}] = {name!r} is not a scheme the grader draws; "
                              f"allowed: {', '.join(allowed)} (from torch.nn.init)")
    if name == "default" and kwargs:
        raise SubmissionError(f"INIT[{key!r}]: \"default\" takes no arguments")
    params = set(inspect.signature(getattr(torch.nn.init, name + "_")).parameters) - {"tensor", "generator"} \
        if name != "default" else set()
    for arg, v in kwargs.items():
        if arg not in params:
            raise SubmissionError(f"INIT[{key!r}]: torch.nn.init.{name}_ takes no argument {arg!r}; "
                                  f"it takes {', '.join(sorted(params)) or 'none'}")
        if type(v) not in (int, float, str) or (isinstance(v, float) and not math.isfinite(v)):
            raise SubmissionError(f"INIT[{key!r}][{arg!r}] must be a plain number or string, not {v!r}")
    init = Init(name, tuple(sorted(kwargs.items())))
    _try(key, init)
    return init


def _try(key: str, init: Init) -> None:
    """Draw once on a sample tensor, so a bad mode or nonlinearity is refused now, not at the first layer."""
    if init.name == "default":
        return
    sample = torch.empty(8) if key == "bias" else torch.empty(8, 4, 3, 3)
    try:
        init.apply(sample, torch.Generator().manual_seed(0))
    except (ValueError, RuntimeError, TypeError) as exc:
        raise SubmissionError(f"INIT[{key!r}] = {init} cannot draw: {exc}") from exc


# ------------------------------------------------------------------------------------------------ roles


@dataclass(frozen=True)
class Role:
    """How the program uses one parameter or buffer."""

    kind: str  # one of the role names above
    weight: str | None = None  # a bias's layer weight (graph input name): its fan-in sets torch's bound


def classify(graph: Graph) -> dict[str, Role]:
    """The role of every parameter and buffer of `graph`, by graph input name, read off the ops that use it."""
    inputs = {i.name: i for i in graph.inputs}
    views = {n.name: n for n in graph.nodes if n.target in VIEW_OPS}
    roles: dict[str, Role] = {}

    def base(arg) -> tuple[str | None, bool]:
        """The value `arg` is a view of (and whether a transpose lies between), through view-like ops."""
        name, transposed = arg.get("node") if isinstance(arg, dict) else None, False
        while name in views:
            transposed |= views[name].target in TRANSPOSES
            first = views[name].args[0] if views[name].args else None
            name = first.get("node") if isinstance(first, dict) else None
        return name, transposed

    def assign(name, role: Role, kind: str = "parameter") -> bool:
        spec = inputs.get(name)
        if spec is None or spec.kind != kind:
            return False
        if role.kind in (CONV_WEIGHT, LINEAR_WEIGHT) and len(spec.shape) < 2:
            return False  # torch computes a layer's fans from a weight of two dimensions or more
        roles.setdefault(name, role)
        return roles[name] == role

    mm_weights: dict[str, str] = {}  # an mm's output -> its Linear weight, for the bias added after it
    for node in graph.nodes:
        args = node.args + [None] * 5
        if node.target == CONVOLUTION:
            _layer(assign, base(args[1])[0], base(args[2])[0], CONV_WEIGHT, CONV_BIAS)
        elif node.target == "aten.addmm.default":
            weight, transposed = base(args[2])
            if transposed:
                _layer(assign, weight, base(args[0])[0], LINEAR_WEIGHT, LINEAR_BIAS)
        elif node.target == "aten.mm.default":
            weight, transposed = base(args[1])
            if transposed and weight is not None and assign(weight, Role(LINEAR_WEIGHT)):
                mm_weights[node.name] = weight
        elif node.target == "aten.add.Tensor":
            for out, other in ((args[0], args[1]), (args[1], args[0])):
                product = base(out)[0]
                if product is not None and product in mm_weights:
                    assign(base(other)[0], Role(LINEAR_BIAS, mm_weights[product]))
        if node.target in NORM_AFFINE:
            w, b = NORM_AFFINE[node.target]
            assign(base(args[w])[0], Role(NORM_WEIGHT))
            assign(base(args[b])[0], Role(NORM_BIAS))
        if node.target in BATCH_NORMS:
            for position, kind in NORM_STATS_ARGS.items():
                assign(base(args[position])[0], Role(kind), "buffer")
    _sibling_counters(graph, roles)
    used = _used(graph)
    for spec in graph.held():
        if spec.kind in ("parameter", "buffer") and spec.name not in roles:
            roles[spec.name] = Role(UNUSED if spec.name not in used else OTHER if spec.kind == "parameter" else BUFFER)
    return roles


def _layer(assign, weight, bias, weight_role: str, bias_role: str) -> None:
    """A conv or Linear op's weight and bias; the bias is the layer's only if its weight is a layer weight."""
    if assign(weight, Role(weight_role)) and bias is not None:
        assign(bias, Role(bias_role, weight))


def _sibling_counters(graph: Graph, roles: dict[str, Role]) -> None:
    """A batch norm's step counter is the buffer '<its path>.num_batches_tracked' beside its statistics."""
    owners = {i.target.rsplit(".", 1)[0] for i in graph.inputs
              if i.target and "." in i.target and roles.get(i.name, Role(OTHER)).kind in (RUNNING_MEAN, RUNNING_VAR)}
    for i in graph.inputs:
        if i.kind == "buffer" and i.target and i.target.endswith("." + BATCHES_TRACKED) \
                and i.target.rsplit(".", 1)[0] in owners and i.name not in roles:
            roles[i.name] = Role(BATCHES_TRACKED)


def _used(graph: Graph) -> set[str]:
    """Names any op (or the output) reads."""
    used, stack = set(), [graph.output] + [a for n in graph.nodes for a in n.args + list(n.kwargs.values())]
    while stack:
        a = stack.pop()
        if isinstance(a, dict):
            if "node" in a:
                used.add(a["node"])
            stack.extend(a.get("list", []))
        elif isinstance(a, list):
            stack.extend(a)
    return used


def norm_statistics(graph: Graph) -> dict[str, str]:
    """The buffers that are batch-norm statistics: graph input name -> running_mean, running_var or
    num_batches_tracked."""
    return {name: role.kind for name, role in classify(graph).items() if role.kind in NORM_STATISTICS}


# ------------------------------------------------------------------------------------------------ drawing


@dataclass
class Drawn:
    """The initial state the trainer starts from, and what the verdict and the record say about it."""

    state: dict[str, torch.Tensor]  # graph input name -> value, for every parameter and buffer
    notes: list[str]  # tensors whose submitted values were replaced and differed from the law that replaced them
    rules: dict[str, str]  # target -> the rule that set it
    roles: dict[str, Role] = field(default_factory=dict)  # graph input name -> how the program uses it
    carried: dict[str, int] = field(default_factory=dict)  # target -> numbers of the submission's own it keeps


def draw(graph: Graph, submitted: dict[str, torch.Tensor], seed: int, scheme: InitScheme | None = None) -> Drawn:
    """Every parameter and buffer's initial value, drawn by the grader from `seed`; see the module docstring."""
    drawing = _Drawing(graph, classify(graph), scheme or InitScheme(), seed)
    for spec in graph.held():
        if spec.kind in ("parameter", "buffer"):
            drawing.first(spec, _submitted(spec, submitted))
    drawing.declared()
    drawing.check_budget()
    return Drawn(drawing.state, drawing.notes, drawing.rules, drawing.roles, drawing.carried)


def _submitted(spec: GraphInput, submitted: dict[str, Any]) -> torch.Tensor:
    value = submitted.get(spec.name)
    if not isinstance(value, torch.Tensor):
        raise ProgramError(f"the submission's state has no value for {spec.target or spec.name}")
    value = value.detach().to("cpu")
    if tuple(value.shape) != spec.shape or value.dtype != _dtype(spec):
        raise ProgramError(f"{spec.target or spec.name} is {value.dtype}{list(value.shape)} in the submission's "
                           f"state but {spec.dtype}{list(spec.shape)} in the exported program")
    return value


def _dtype(spec: GraphInput) -> torch.dtype:
    return getattr(torch, spec.dtype)


class _Drawing:
    """One draw in progress: the generator, the state so far, and what is said about it."""

    def __init__(self, graph: Graph, roles: dict[str, Role], scheme: InitScheme, seed: int):
        self.graph, self.roles, self.scheme = graph, roles, scheme
        self.specs = {i.name: i for i in graph.inputs}
        self.generator = torch.Generator().manual_seed(seed)  # the stream torch.manual_seed(seed) starts
        self.state: dict[str, torch.Tensor] = {}
        self.rules: dict[str, str] = {}
        self.notes: list[str] = []
        self.carried: dict[str, int] = {}
        self.pending: list[tuple[GraphInput, torch.Tensor]] = []  # for the declared scheme, after every default
        self.aliases: dict[str, str] = {}  # a tied parameter -> the first one holding the same values
        self.seen: dict[tuple, str] = {}

    def first(self, spec: GraphInput, sub: torch.Tensor) -> None:
        """The default pass, in input order: each layer's construction draws, then what replaces them."""
        role = self.roles[spec.name]
        if spec.kind == "parameter" and self._tied(spec, sub):
            return
        if role.kind in LAYER_ROLES:
            self._layer(spec, role, sub)
        elif role.kind == OTHER:
            self._other(spec, sub)
        elif role.kind in (NORM_WEIGHT, NORM_BIAS):
            self._norm(spec, role, sub)
        elif role.kind in NORM_STATISTICS:
            self._statistic(spec, role, sub)
        elif role.kind == BUFFER:
            self._buffer(spec, sub)
        else:
            self._unused(spec, sub)

    def _tied(self, spec: GraphInput, sub: torch.Tensor) -> bool:
        """A parameter equal to an earlier one is the same tensor under two names (torch drew it once)."""
        if _fill(sub) is not None:
            return False
        key = (tuple(sub.shape), sub.dtype, sub.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        first = self.seen.setdefault(key, spec.name)
        if first == spec.name:
            return False
        self.aliases[spec.name] = first
        self.rules[_label(spec)] = f"tied to {_label(self.specs[first])}"
        return True

    def _layer(self, spec: GraphInput, role: Role, sub: torch.Tensor) -> None:
        value = self._default(spec, role)  # drawn even when replaced below: the layer's construction drew it
        if self._keep(spec, sub, free=False, identity=role.kind in (CONV_WEIGHT, LINEAR_WEIGHT)):
            return
        self.state[spec.name] = value
        init = self.scheme.for_role(role.kind)
        if init.name != "default":
            self.pending.append((spec, sub))
            return
        self.rules[_label(spec)] = "torch default"
        fan_in = _fan_in(spec.shape if role.weight is None else self.specs[role.weight].shape)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0  # both default laws are uniform within it
        self._note(spec, sub, value, _DEFAULT_WORDS[role.kind], _KEY[role.kind], bound)

    def _default(self, spec: GraphInput, role: Role) -> torch.Tensor:
        """What the layer's reset_parameters draws: kaiming_uniform_(a=sqrt(5)), a bias uniform(+-1/sqrt(fan_in))."""
        value = torch.empty(spec.shape, dtype=_dtype(spec))
        if value.numel() == 0:
            return value
        if role.kind in (CONV_WEIGHT, LINEAR_WEIGHT):
            torch.nn.init.kaiming_uniform_(value, a=math.sqrt(5), generator=self.generator)
        else:
            assert role.weight is not None  # a layer's bias role always names the layer's weight
            fan_in = _fan_in(self.specs[role.weight].shape)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            torch.nn.init.uniform_(value, -bound, bound, generator=self.generator)
        return value

    def _other(self, spec: GraphInput, sub: torch.Tensor) -> None:
        if self._keep(spec, sub, free=False, identity=True):
            return
        if not sub.is_floating_point():
            raise SubmissionError(f"parameter {_label(spec)} starts with computed {sub.dtype} values; "
                                  "a parameter that is not floating-point may start only as a constant fill")
        if self.scheme.other.name != "default":
            self.state[spec.name] = torch.empty(spec.shape, dtype=_dtype(spec))
            self.pending.append((spec, sub))
            return
        mean, std = (_round(float(x)) for x in (sub.double().mean(), sub.double().std()))
        if not (math.isfinite(mean) and math.isfinite(std)):
            raise SubmissionError(f"parameter {_label(spec)} starts with values that are not finite")
        # torch.randn(shape) * s + m in __init__ draws as many numbers: the stream stays where torch's was
        value = torch.empty(spec.shape, dtype=_dtype(spec)).normal_(mean, std, generator=self.generator)
        self.state[spec.name] = value
        self.rules[_label(spec)] = f"normal(mean={mean:g}, std={std:g})"
        self.carried[_label(spec)] = 2
        self._note(spec, sub, value, f"a normal law with your mean {mean:.3g} and spread {std:.3g}", "other")

    def _norm(self, spec: GraphInput, role: Role, sub: torch.Tensor) -> None:
        expected = 1 if role.kind == NORM_WEIGHT else 0
        if self._keep(spec, sub, free=_fill(sub) == expected, identity=False):
            return
        self.state[spec.name] = torch.full(spec.shape, expected, dtype=_dtype(spec))
        self.rules[_label(spec)] = f"torch default ({'ones' if expected else 'zeros'})"
        self.notes.append(f"{_label(spec)}: started at computed values; it starts at "
                          f"{'ones' if expected else 'zeros'}, as torch's norm layers do (a norm layer's scale and "
                          "shift may start only as a constant fill)")

    def _statistic(self, spec: GraphInput, role: Role, sub: torch.Tensor) -> None:
        value = torch.full(spec.shape, 1 if role.kind == RUNNING_VAR else 0, dtype=_dtype(spec))
        self.state[spec.name] = value
        self.rules[_label(spec)] = f"reset ({role.kind} of a batch norm)"
        if not torch.equal(sub, value):
            self.notes.append(f"{_label(spec)}: started at other values; batch-norm statistics always start "
                              "from zeros (mean), ones (variance) and 0 (count), since initial statistics could "
                              "hold data")

    def _buffer(self, spec: GraphInput, sub: torch.Tensor) -> None:
        if not self._keep(spec, sub, free=False, identity=False):
            raise SubmissionError(f"buffer {_label(spec)} starts with computed values; a buffer may start only as "
                                  "a constant fill (zeros, ones)")

    def _unused(self, spec: GraphInput, sub: torch.Tensor) -> None:
        """The program never reads it: any value is harmless; a layer's is drawn so the stream stays torch's."""
        weight = _sibling_weight(spec, self.graph)
        sibling = self.specs.get(weight) if weight is not None else None
        if spec.kind == "parameter" and len(spec.shape) >= 2:
            self.state[spec.name] = self._default(spec, Role(CONV_WEIGHT))
        elif spec.kind == "parameter" and sibling is not None and sibling.shape[:1] == spec.shape:
            self.state[spec.name] = self._default(spec, Role(CONV_BIAS, sibling.name))
        else:
            value = _fill(sub)
            self.state[spec.name] = torch.full(spec.shape, 0 if value is None else value, dtype=_dtype(spec))
        self.rules[_label(spec)] = "unused by the program"

    def _keep(self, spec: GraphInput, sub: torch.Tensor, free: bool, identity: bool) -> bool:
        """Keep a plain fill (or an identity, where allowed): one number of the submission's; False otherwise."""
        value = _fill(sub)
        if value is not None:
            self.state[spec.name] = torch.full(spec.shape, value, dtype=_dtype(spec))
            self.rules[_label(spec)] = f"kept fill {value:g}" if not isinstance(value, bool) else f"kept fill {value}"
        else:
            found = _identity(sub) if identity and sub.is_floating_point() else None
            if found is None:
                return False
            pattern, scale = found
            self.state[spec.name] = (pattern * scale).to(_dtype(spec))
            self.rules[_label(spec)] = f"kept identity x{scale:g}"
        if not free:
            self.carried[_label(spec)] = 1
        return True

    def declared(self) -> None:
        """The declared scheme's pass, in input order after every default draw, as an init loop runs after Net()."""
        for spec, sub in self.pending:
            role = self.roles[spec.name].kind
            init = self.scheme.for_role(role)
            try:
                init.apply(self.state[spec.name], self.generator)
            except (ValueError, RuntimeError) as exc:
                raise SubmissionError(f"INIT[{_KEY[role]!r}] = {init} cannot draw {_label(spec)} "
                                      f"{list(spec.shape)}: {exc}") from exc
            self.rules[_label(spec)] = f"INIT {_KEY[role]}: {init}"
            self._note(spec, sub, self.state[spec.name], f"your INIT's {init}", None)
        for alias, first in self.aliases.items():
            self.state[alias] = self.state[first].clone()
        self.state = {i.name: self.state[i.name] for i in self.graph.held() if i.name in self.state}

    def _note(self, spec: GraphInput, sub: torch.Tensor, value: torch.Tensor, law: str, key: str | None,
              bound: float | None = None) -> None:
        """Say so when the submission's own values were replaced and did not look drawn from the same law."""
        why = _differs(sub, value, bound)
        if why is None:
            return
        note = f"{_label(spec)}: your initial values ({why}) were replaced by {law}, drawn by the grader"
        if key is not None:  # None: the submission's INIT chose that law already
            example = _EXAMPLES[key]
            note += (f"; to start from another torch.nn.init scheme, declare it as data in model.py, "
                     f"e.g. INIT = {{\"{key}\": {example}}}")
        self.notes.append(note)

    def check_budget(self) -> None:
        total = sum(self.carried.values())
        if total > MAX_CARRIED:
            names = ", ".join(list(self.carried)[:5])
            raise SubmissionError(
                f"the model's initial state would keep {total} numbers of its own (a constant fill or an identity "
                f"is one, a parameter drawn from its own mean and spread two: {names} ...); the grader keeps at most "
                f"{MAX_CARRIED}. Use fewer, larger tensors, or let the grader draw them (torch's defaults or INIT)")


_DEFAULT_WORDS = {CONV_WEIGHT: "torch's default for a convolution (kaiming_uniform_, a=sqrt(5))",
                  LINEAR_WEIGHT: "torch's default for a Linear layer (kaiming_uniform_, a=sqrt(5))",
                  CONV_BIAS: "torch's default bias (uniform within 1/sqrt(fan_in))",
                  LINEAR_BIAS: "torch's default bias (uniform within 1/sqrt(fan_in))"}
_EXAMPLES = {"conv": '"kaiming_normal"', "linear": '"xavier_uniform"', "bias": '"zeros"',
             "other": '{"name": "normal", "std": 0.02}'}
_KEY = {CONV_WEIGHT: "conv", LINEAR_WEIGHT: "linear", CONV_BIAS: "bias", LINEAR_BIAS: "bias", OTHER: "other"}


def _label(spec: GraphInput) -> str:
    return spec.target or spec.name


def _fan_in(shape: tuple[int, ...]) -> int:
    """torch.nn.init._calculate_fan_in_and_fan_out's fan-in: input maps times the receptive field."""
    return shape[1] * math.prod(shape[2:]) if len(shape) >= 2 else 0


def _sibling_weight(spec: GraphInput, graph: Graph) -> str | None:
    """For an unused '<layer>.bias', the graph input '<layer>.weight' beside it, if it has layer dimensions."""
    if spec.kind != "parameter" or not spec.target or not spec.target.endswith(".bias") or len(spec.shape) != 1:
        return None
    wanted = spec.target[: -len("bias")] + "weight"
    return next((i.name for i in graph.inputs if i.target == wanted and len(i.shape) >= 2), None)


def _round(x: float) -> float:
    """A number the submission keeps, to SIGNIFICANT digits: a chosen constant survives, a payload does not."""
    return float(f"{x:.{SIGNIFICANT}g}")


def _fill(t: torch.Tensor):
    """The one value every element holds (rounded, if floating-point), or None."""
    if t.numel() == 0:
        return 0
    first = t.reshape(-1)[0]
    if not bool((t == first).all()):
        return None  # NaN != NaN: a NaN tensor is no fill
    value = first.item()
    return _round(value) if t.is_floating_point() else value


def _identity(t: torch.Tensor) -> tuple[torch.Tensor, float] | None:
    """(pattern, scale) where `t` is a scaled torch.eye (2-D) or nn.init.dirac_ (a conv weight, any groups)."""
    if int((t != 0).sum()) > t.shape[0]:
        return None  # an identity has at most one nonzero an output; a drawn weight has many
    if t.dim() == 2:
        patterns = [torch.eye(*t.shape, dtype=t.dtype)]
    elif 3 <= t.dim() <= 5:
        patterns = [torch.nn.init.dirac_(torch.zeros_like(t), groups=g)
                    for g in range(1, t.shape[0] + 1) if t.shape[0] % g == 0]
    else:
        return None
    for pattern in patterns:
        on = pattern.bool()
        values = t[on]
        if values.numel() and bool((t[~on] == 0).all()) and bool((values == values[0]).all()):
            return pattern, _round(values[0].item())
    return None


def _differs(sub: torch.Tensor, drawn: torch.Tensor, bound: float | None = None) -> str | None:
    """Why the submitted values do not look drawn from the drawn tensor's law (its range, spread, mean or shape).

    Two samples of one law differ by chance, so each test allows about four standard errors: a tensor from torch's
    default law drawn in another order is not noted; kaiming_normal's spread (2.45 times the default's) or a
    trained teacher's is.
    """
    if torch.equal(sub, drawn) or sub.numel() < 2:
        return None
    s, d = sub.double().reshape(-1), drawn.double().reshape(-1)
    if not bool(torch.isfinite(s).all()):
        return "values that are not finite"
    if bound is not None and float(s.abs().max()) > bound * (1 + 1e-6):  # impossible under a uniform law
        return f"values up to {float(s.abs().max()):.3g}, outside torch's range of +-{bound:.3g}"
    n = s.numel()
    s_std, d_std = float(s.std()), float(d.std())
    if d_std == 0 or s_std == 0:
        return f"spread {s_std:.3g} against {d_std:.3g}" if s_std != d_std else f"mean {float(s.mean()):.3g}"
    if abs(math.log(s_std / d_std)) > max(math.log(1.2), 4 / math.sqrt(n - 1)):
        return f"spread {s_std:.3g} against {d_std:.3g}"
    if abs(float(s.mean() - d.mean())) > 4 * math.sqrt((s_std**2 + d_std**2) / n):
        return f"mean {float(s.mean()):.3g} against {float(d.mean()):.3g}"
    if n >= 20 and _ks(s, d) > 2.0 * math.sqrt(2 / n):  # two-sample Kolmogorov-Smirnov at about 1 in 10,000
        return "a distribution unlike it"
    return None


def _ks(a: torch.Tensor, b: torch.Tensor) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the widest gap between the samples' empirical CDFs."""
    a, b = a.sort().values, b.sort().values
    points = torch.cat([a, b])
    cdf_a = torch.searchsorted(a, points, right=True).double() / a.numel()
    cdf_b = torch.searchsorted(b, points, right=True).double() / b.numel()
    return float((cdf_a - cdf_b).abs().max())
