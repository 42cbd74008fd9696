"""The static policy: read a submission's source, never run it, and refuse what could escape or fake a grading.

It runs in the parent process before any worker starts, so a refused file never executes. Every finding is
`FILE:LINE:COL: reason`. The policy is an allowlist: the modules a submission may import, the names it may
use from each of them (tables below, which tests/test_policy.py checks against the installed torch), the
builtins it may call and the classes it may derive from. It is the first of three walls (docs/security.md):
the worker's OS limits and the clean evaluator catch what a static reading cannot. It imports no torch, so
`course check` stays fast.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import io
import re
import string
import tokenize
from dataclasses import dataclass
from pathlib import Path

from grader.errors import PolicyError


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 64 * 1024  # a tiny CNN is a few KB of code; a bigger file is carrying data
    max_literal_bytes: int = 4 * 1024  # one string or bytes literal: longer ones are how weights get smuggled in
    max_literal_total: int = 16 * 1024  # all literals and names together, so weights cannot be split across many
    max_name_chars: int = 64  # one identifier: honest files' longest is 19 characters, torch's allowed ones 32
    max_numbers: int = 1000  # numeric literals: an honest model has dozens, a weight table thousands
    max_int_bits: int = 64  # a bigger integer literal is packed data, not a hyperparameter
    max_findings: int = 10  # reported at once: enough to fix a file in one go, short enough to read
    max_depth: int = 100  # syntax-tree nesting: honest models stay under 30; Python's compiler fails near 1,000
    max_alias_passes: int = 8  # rounds of following imported objects through names: honest files need 2 or 3


# Modules a submission may import: torch's model-building parts and a few pure-Python helpers.
BASE_IMPORTS = frozenset({
    "__future__", "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.optim",
    "torch.optim.lr_scheduler", "math", "typing", "collections", "functools", "dataclasses",
})

# ---------------------------------------------------------------------------------------------------- allowlist
# The names a submission may take from each module. Anything else under a module is refused, which is what
# shuts the doors torch and the standard library re-export by accident (torch.os, torch.sys, torch.cuda.os,
# typing.sys, dataclasses.builtins ...). A name that is itself a module has its own entry here; every other
# name is a function, class, dtype or constant (tests/test_policy.py resolves each one to make sure).
_TORCH = """
    tensor as_tensor zeros ones empty full zeros_like ones_like empty_like full_like rand randn randint
    rand_like randn_like randint_like randperm arange linspace logspace eye
    cat concat concatenate stack hstack vstack dstack flatten unflatten reshape squeeze unsqueeze transpose
    permute movedim swapaxes t split chunk unbind narrow gather scatter index_select masked_fill masked_select
    where clamp clip clamp_min clamp_max take take_along_dim nonzero unique bincount bucketize searchsorted
    abs neg exp exp2 expm1 log log1p log2 log10 sqrt rsqrt square pow sin cos tan tanh asin acos atan atan2
    sinh cosh sigmoid relu softmax log_softmax logsumexp erf erfc lerp reciprocal sign floor ceil round trunc
    frac fmod remainder floor_divide true_divide mul multiply add sub subtract div divide rsub addcmul addcdiv
    addmm baddbmm diff nan_to_num logit hypot xlogy signbit deg2rad rad2deg cross
    bernoulli normal multinomial cosine_similarity pairwise_distance cummax cummin logcumsumexp
    mean sum prod max min amax amin argmax argmin std var std_mean var_mean median norm cumsum cumprod topk
    sort argsort kthvalue mode count_nonzero maximum minimum
    matmul mm bmm einsum outer dot cdist diag diagonal tril triu trace kron
    flip fliplr flipud roll rot90 tile repeat_interleave broadcast_to broadcast_tensors broadcast_shapes meshgrid
    isfinite isnan isinf isclose allclose equal eq ne gt lt ge le logical_and logical_or logical_not logical_xor
    any all bitwise_and bitwise_or bitwise_not numel is_tensor is_floating_point is_nonzero clone detach
    dropout channel_shuffle pixel_shuffle pixel_unshuffle conv2d max_pool2d avg_pool1d batch_norm layer_norm
    group_norm instance_norm adaptive_avg_pool1d adaptive_max_pool1d selu celu rrelu prelu hardshrink threshold
    no_grad enable_grad inference_mode is_grad_enabled
    Tensor Size dtype device Generator finfo iinfo
    float32 float float16 half bfloat16 float64 double int64 long int32 int int16 short int8 uint8 bool
    complex64 cfloat contiguous_format channels_last preserve_format memory_format
"""
_NN_LAYERS = """
    Module Sequential ModuleList ModuleDict ParameterList ParameterDict Identity Flatten Unflatten
    Linear Bilinear Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d Fold Unfold
    Embedding EmbeddingBag
    MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d
    AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d LPPool1d LPPool2d LPPool3d
    FractionalMaxPool2d FractionalMaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d
    BatchNorm1d BatchNorm2d BatchNorm3d GroupNorm LayerNorm RMSNorm InstanceNorm1d InstanceNorm2d InstanceNorm3d
    LocalResponseNorm CrossMapLRN2d
    Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout
    ReLU ReLU6 LeakyReLU PReLU RReLU ELU CELU SELU GELU GLU SiLU Mish Sigmoid Tanh Hardsigmoid Hardswish
    Hardtanh Hardshrink Softshrink Tanhshrink Softplus Softsign Softmax Softmax2d Softmin LogSoftmax LogSigmoid
    Threshold MultiheadAttention
    ZeroPad1d ZeroPad2d ZeroPad3d ConstantPad1d ConstantPad2d ConstantPad3d ReflectionPad1d ReflectionPad2d
    ReflectionPad3d ReplicationPad1d ReplicationPad2d ReplicationPad3d CircularPad1d CircularPad2d CircularPad3d
    Upsample UpsamplingBilinear2d UpsamplingNearest2d PixelShuffle PixelUnshuffle ChannelShuffle
    CosineSimilarity PairwiseDistance
    RNN LSTM GRU RNNCell LSTMCell GRUCell RNNBase RNNCellBase
    Transformer TransformerEncoder TransformerDecoder TransformerEncoderLayer TransformerDecoderLayer
    CrossEntropyLoss NLLLoss MSELoss L1Loss SmoothL1Loss HuberLoss BCELoss BCEWithLogitsLoss KLDivLoss
"""
_F = """
    relu relu_ relu6 leaky_relu leaky_relu_ elu elu_ selu selu_ celu celu_ gelu silu mish glu prelu rrelu rrelu_
    sigmoid tanh hardsigmoid hardswish hardtanh hardtanh_ hardshrink softshrink tanhshrink softplus softsign
    logsigmoid threshold threshold_ softmax softmin log_softmax gumbel_softmax
    conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d linear bilinear unfold fold
    max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d
    adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d lp_pool1d lp_pool2d
    lp_pool3d fractional_max_pool2d fractional_max_pool3d max_unpool1d max_unpool2d max_unpool3d
    max_pool2d_with_indices
    batch_norm group_norm layer_norm instance_norm rms_norm local_response_norm normalize
    dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout
    pad interpolate upsample upsample_nearest upsample_bilinear grid_sample affine_grid pixel_shuffle
    pixel_unshuffle channel_shuffle one_hot embedding cosine_similarity pairwise_distance pdist
    scaled_dot_product_attention
    cross_entropy nll_loss mse_loss l1_loss smooth_l1_loss huber_loss kl_div binary_cross_entropy
    binary_cross_entropy_with_logits
"""
_INIT = """
    calculate_gain uniform_ normal_ trunc_normal_ constant_ ones_ zeros_ eye_ dirac_ xavier_uniform_
    xavier_normal_ kaiming_uniform_ kaiming_normal_ orthogonal_ sparse_
    uniform normal constant eye dirac xavier_uniform xavier_normal kaiming_uniform kaiming_normal orthogonal sparse
"""
_OPTIMIZERS = "Optimizer SGD Adam AdamW Adamax Adagrad Adadelta Adafactor ASGD NAdam RAdam RMSprop Rprop"
_SCHEDULERS = """
    LRScheduler LambdaLR MultiplicativeLR StepLR MultiStepLR ConstantLR LinearLR ExponentialLR SequentialLR
    PolynomialLR CosineAnnealingLR ChainedScheduler ReduceLROnPlateau CyclicLR CosineAnnealingWarmRestarts
    OneCycleLR
"""
_MATH = """
    acos acosh asin asinh atan atan2 atanh cbrt ceil comb copysign cos cosh degrees dist e erf erfc exp exp2
    expm1 fabs factorial floor fmod frexp fsum gamma gcd hypot inf isclose isfinite isinf isnan isqrt lcm ldexp
    lgamma log log10 log1p log2 modf nan nextafter perm pi pow prod radians remainder sin sinh sqrt tan tanh tau
    trunc ulp
"""
MEMBERS: dict[str, frozenset] = {
    "torch": frozenset(_TORCH.split()) | {"nn", "optim", "cuda"},
    "torch.nn": frozenset(_NN_LAYERS.split()) | {"Parameter", "Buffer", "functional", "init"},
    "torch.nn.functional": frozenset(_F.split()),
    "torch.nn.init": frozenset(_INIT.split()),
    "torch.optim": frozenset(_OPTIMIZERS.split()) | {"lr_scheduler"},
    "torch.optim.lr_scheduler": frozenset(_SCHEDULERS.split()),
    "torch.cuda": frozenset({"is_available"}),  # `device = "cuda" if torch.cuda.is_available() ...` is common
    "math": frozenset(_MATH.split()),
    "typing": frozenset({
        "Any", "Callable", "ClassVar", "Dict", "Final", "Iterable", "Iterator", "List", "Mapping", "Optional",
        "Sequence", "Set", "Tuple", "Type", "Union", "cast", "TYPE_CHECKING"}),
    "collections": frozenset({"OrderedDict", "defaultdict", "Counter", "deque"}),
    "functools": frozenset({"partial", "partialmethod", "reduce", "lru_cache", "cache", "cached_property",
                            "cmp_to_key"}),
    "dataclasses": frozenset({"dataclass", "field", "fields", "asdict", "astuple", "replace", "is_dataclass",
                              "InitVar"}),
}
# Modules in the tables (a name in MEMBERS[m] whose dotted path is a key here is a module, not a value).
MODULES = frozenset(MEMBERS)
# Bases a class may have besides classes of its own file: nn.Module and the layers (never Tensor/Parameter).
NN_BASES = frozenset(f"torch.nn.{n}" for n in _NN_LAYERS.split())

# What to use instead, per module, for a name that is not in its table.
_HINTS = {
    "torch": "use tensor functions and dtypes (torch.zeros, torch.cat, torch.flatten, torch.float32, "
             "torch.no_grad ...) or torch.nn, torch.nn.functional, torch.nn.init, torch.optim",
    "torch.nn": "use a layer class (nn.Conv2d, nn.BatchNorm2d, nn.Sequential ...), nn.Module, nn.Parameter, "
                "nn.functional or nn.init",
    "torch.nn.functional": "use a function such as F.relu, F.max_pool2d, F.dropout, F.log_softmax",
    "torch.nn.init": "use an initialiser such as nn.init.kaiming_normal_ or nn.init.zeros_",
    "torch.optim": "use an optimizer class (torch.optim.SGD, Adam, AdamW ...) or torch.optim.lr_scheduler",
    "torch.optim.lr_scheduler": "use a scheduler class such as OneCycleLR, StepLR or CosineAnnealingLR",
    "torch.cuda": "only torch.cuda.is_available() is allowed: the grader picks the device",
}
# The member a "use the names in it directly" message shows for each module.
_EXAMPLES = {
    "torch": "zeros", "torch.nn": "Conv2d", "torch.nn.functional": "relu", "torch.nn.init": "kaiming_normal_",
    "torch.optim": "SGD", "torch.optim.lr_scheduler": "OneCycleLR", "torch.cuda": "is_available", "math": "sqrt",
    "typing": "Optional", "collections": "OrderedDict", "functools": "partial", "dataclasses": "dataclass",
}
# Names refused with a reason of their own (checked before the generic "not on the list" message).
_FACTORY = "it builds a class at run time (a class factory); write a class statement"
_LAZY = ("lazy modules have no parameters until the first batch, so nothing could count them; "
         "give the input size (nn.Linear(in_features, out_features), nn.Conv2d(in_channels, ...))")
REFUSED_MEMBERS = {
    "manual_seed": "the grader seeds every run itself (course grade --seed); remove the line",
    "seed": "the grader seeds every run itself (course grade --seed); remove the line",
    "set_grad_enabled": "it switches gradients off for the grader too; use `with torch.no_grad():`",
    "singledispatch": "it evaluates string annotations as code",
    "singledispatchmethod": "it evaluates string annotations as code",
    "make_dataclass": _FACTORY, "NamedTuple": _FACTORY, "TypedDict": _FACTORY, "NewType": _FACTORY,
    "new_class": _FACTORY, "namedtuple": "it builds a class from strings (a class factory); use a dataclass",
    "wraps": "it copies one object's attributes onto another", "update_wrapper": "it copies one object's attributes",
    "total_ordering": "it adds comparison methods to a class",
    "DataParallel": "the grader places the model on its device itself",
    "SyncBatchNorm": "it needs a distributed process group; use nn.BatchNorm2d",
    "UninitializedParameter": _LAZY, "UninitializedBuffer": _LAZY,
    "LBFGS": "it needs a closure that the grader's training loop does not pass; use SGD, Adam or AdamW",
    "SparseAdam": "it works on sparse gradients only; use Adam",
}
# Python modules that torch and the standard library import for their own use and so expose as attributes.
_REEXPORTED = frozenset({
    "os", "sys", "builtins", "importlib", "inspect", "ctypes", "glob", "platform", "signal", "threading",
    "types", "typing", "typing_extensions", "warnings", "functools", "math", "traceback", "io", "pickle",
    "subprocess", "shutil", "pathlib", "tempfile", "dataclasses", "np", "numpy", "textwrap", "torch", "weakref",
    "copyreg", "abc", "collections", "enum", "re", "json", "socket", "itertools", "operator", "contextlib",
    "string", "dis", "gc", "linecache", "tokenize", "sysconfig", "site",
})

# nn.Module's own names (methods, attributes it sets in __init__, internals). A model class may not redefine
# them, and no object may have its methods replaced by assignment (tests/test_policy.py checks the table
# against the installed torch). forward, __init__ and extra_repr are what a model is meant to define.
NN_MODULE_METHODS = frozenset("""
    add_module apply bfloat16 buffers children compile cpu cuda double eval float get_buffer get_extra_state
    get_parameter get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule
    share_memory state_dict to to_empty train type xpu zero_grad
""".split())
NN_MODULE_NAMES = NN_MODULE_METHODS | frozenset("""
    T_destination call_super_init dump_patches training __repr__ __str__
    _apply _backward_hooks _backward_pre_hooks _buffers _call_impl _compiled_call_impl _forward_hooks
    _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks _forward_pre_hooks_with_kwargs
    _get_backward_hooks _get_backward_pre_hooks _get_name _is_full_backward_hook _load_from_state_dict
    _load_state_dict_post_hooks _load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules
    _named_members _non_persistent_buffers_set _parameters _register_load_state_dict_pre_hook
    _register_state_dict_hook _replicate_for_data_parallel _save_to_state_dict _slow_forward _state_dict_hooks
    _state_dict_pre_hooks _version _wrapped_call_impl
""".split())
MODEL_METHODS = ("forward", "__init__", "extra_repr")  # what a model class defines of nn.Module's own names

# Attribute names refused anywhere (on torch or on anything else), with the reason a student sees. They stay
# as a second line behind the tables: on values (x.numpy, gen.gi_frame) there is no table to consult.
_FILES = "reads or writes files"
DENIED_ATTRIBUTES = {
    "load": _FILES, "save": _FILES, "from_file": _FILES, "fromfile": _FILES, "tofile": _FILES, "dump": _FILES,
    "serialization": _FILES, "onnx": _FILES, "profiler": _FILES, "package": "imports code from archives",
    "hub": "downloads code and weights", "utils": "reaches torch.utils, which builds native code and starts processes",
    "jit": "TorchScript compiles and loads code", "compile": "compiles code", "compiler": "compiles code",
    "export": "is the grader's own tool", "fx": "generates and runs code",
    "ops": "loads native operators", "library": "defines native operators", "classes": "loads native classes",
    "multiprocessing": "starts processes", "distributed": "opens sockets and starts processes",
    "overrides": "intercepts every torch function", "cudart": "calls the CUDA runtime directly",
    "jiterator": "compiles CUDA code", "compile_shader": "compiles GPU code",
    "CUDAPluggableAllocator": "loads a native library", "change_current_allocator": "loads a native library",
    "get_type_hints": "evaluates strings as code", "ForwardRef": "evaluates strings as code",
    "numpy": "numpy arrays can write files", "mro": "reaches classes the grader uses",
    **{name: "reaches the grader's frames and memory" for name in (
        "gi_frame", "gi_code", "cr_frame", "ag_frame", "f_globals", "f_locals", "f_builtins", "f_back",
        "tb_frame", "tb_next", "co_code")},
}

# Builtins a submission may not call, with the reason; any other builtin outside ALLOWED_BUILTINS is refused too.
DENIED_BUILTINS = {
    "open": "open() reads and writes files; the grader supplies the data",
    "exec": "exec() runs code from a string", "eval": "eval() runs code from a string",
    "compile": "compile() builds code from a string", "globals": "globals() exposes the module's internals",
    "locals": "locals() exposes frames", "vars": "vars() exposes internals",
    "breakpoint": "breakpoint() stops the grader",
    "input": "input() waits for a keyboard the grader does not have", "delattr": "delattr() removes attributes",
    "type": "type() reaches and can patch torch's classes; use isinstance() (or compare: type(m) == nn.Conv2d)",
    "exit": "exit() leaves the grader's process", "quit": "quit() leaves the grader's process",
    "help": "help() opens a pager", "SystemExit": "SystemExit leaves the grader's process",
    "KeyboardInterrupt": "KeyboardInterrupt stops the grader",
    "license": "license() opens a pager", "copyright": "copyright prints text", "credits": "credits prints text",
    "memoryview": "memoryview() exposes raw memory", "dir": "dir() lists internals; name the attributes you use",
}
ALLOWED_BUILTINS = frozenset("""
    abs aiter all anext any ascii bin bool bytearray bytes callable chr classmethod complex dict divmod enumerate
    filter float format frozenset getattr hasattr hash hex id int isinstance issubclass iter len list map max min
    next object oct ord pow print property range repr reversed round set setattr slice sorted staticmethod str
    sum super tuple zip None True False Ellipsis NotImplemented
""".split()) | frozenset(  # exceptions to raise and catch, but not the ones that leave or stop the process
    n for n, v in vars(builtins).items()
    if isinstance(v, type) and issubclass(v, BaseException) and n not in DENIED_BUILTINS)
_BUILTIN_NAMES = frozenset(vars(builtins))

ALLOWED_DUNDER_NAMES = {"__name__", "__all__"}  # `if __name__ == "__main__":` and export lists are harmless
# Special methods a submission may define; others (__torch_function__, __getattr__, __eq__ ...) change
# how torch or the grader see its objects.
ALLOWED_DUNDER_METHODS = {
    "__init__", "__repr__", "__str__", "__len__", "__getitem__", "__iter__", "__contains__", "__post_init__",
}
TENSOR_CLASSES = {"Tensor", "Parameter", "Buffer"}  # a subclass can redefine argmax, ==, sum for the grader
# Decorators that keep a method's first argument the instance, so `self._helper` there is the class's own.
_METHOD_DECORATORS = {"property", "torch.no_grad", "torch.enable_grad", "torch.inference_mode"}
_INSTANCE_DECORATORS = _METHOD_DECORATORS | {"classmethod"}  # a classmethod's first parameter is its own class

_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


@dataclass(frozen=True)
class Finding:
    line: int
    col: int  # 1-based, as editors count
    reason: str

    def format(self, name: str) -> str:
        return f"{name}:{self.line}:{self.col}: {self.reason}"


@dataclass(frozen=True)
class Screened:
    """A file the policy passed: the sha256 of the bytes it read, and its warnings as NAME:LINE:COL: what"""

    sha256: str
    warnings: list[str]


def check_file(path, allowed_imports=(), limits: Limits = Limits(), name: str | None = None) -> str:
    """Refuse `path` with a PolicyError listing each finding as NAME:LINE:COL: reason; return its sha256."""
    return screen_file(path, allowed_imports, limits, name).sha256


def screen_file(path, allowed_imports=(), limits: Limits = Limits(), name: str | None = None) -> Screened:
    """check_file, keeping the warnings (code the grader skips, such as an unused `import torchvision`)."""
    path = Path(path)
    raw = path.read_bytes()
    warnings: list[Finding] = []
    findings = check_source(raw, allowed_imports, limits, warnings=warnings)
    shown = name or display_name(path)
    if findings:
        lines = [f.format(shown) for f in findings[: limits.max_findings]]
        if len(findings) > limits.max_findings:
            lines.append(f"... and {len(findings) - limits.max_findings} more")
        raise PolicyError("\n".join(lines))
    return Screened(hashlib.sha256(raw).hexdigest(), [w.format(shown) for w in warnings])


def display_name(path: Path) -> str:
    """The path relative to the working directory when it is below it, as a compiler would print it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_source(raw: bytes, allowed_imports=(), limits: Limits = Limits(), *,
                 require_net: bool = True, warnings: list[Finding] | None = None) -> list[Finding]:
    """Every policy finding in a submission's bytes, in source order; [] when it may run.

    require_net=False checks a fragment that is not meant to be a whole submission (no Net needed). What the
    grader skips instead of refusing (unused imports of a student's tools) is appended to `warnings`.
    """
    if len(raw) > limits.max_file_bytes:
        return [Finding(1, 1, f"the file is {len(raw):,} bytes; the limit is {limits.max_file_bytes:,} "
                              "(a model is a few KB of code: do not embed data)")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return [Finding(line, col, f"byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8")]
    if not text.strip():
        return [Finding(1, 1, "the file is empty; it must define class Net(torch.nn.Module)")]
    for number, line in enumerate(raw.splitlines()[:2], start=1):
        m = _CODING.match(line)
        if m and m.group(1).decode("ascii", "replace").lower().replace("_", "-") not in ("utf-8", "utf8"):
            return [Finding(number, 1, f"coding declaration {m.group(1).decode('ascii', 'replace')!r}: "
                                       "Python would read this file differently; use UTF-8 and remove it")]
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        return [Finding(line, 1, "the file contains a NUL byte; save it as plain UTF-8 text")]
    try:
        tree = ast.parse(raw)  # bytes, exactly as the importer reads them
    except SyntaxError as exc:
        return [Finding(exc.lineno or 1, exc.offset or 1, f"syntax error: {exc.msg}")]
    except (RecursionError, MemoryError):  # CPython's parser gives up on a few thousand nested operators
        return [Finding(_busiest_line(text), 1, "this line nests expressions too deeply for Python to read; "
                                                "split it into several statements")]
    deep = _too_deep(tree, limits.max_depth)
    if deep:
        return [deep]  # everything below may recurse over the tree; a bounded depth keeps it safe
    allow = _allowlist(allowed_imports)
    _skip_main_blocks(tree)
    if warnings is not None:
        warnings += [Finding(node.lineno, node.col_offset + 1, _unused_warning(node))
                     for node in _unused_tool_imports(tree, allow)]
    tree = runnable_tree(tree, allow)  # what the worker runs: neither the skipped imports nor the __main__ blocks
    findings = _name_bindings(tree)
    facts = _Facts(tree, tuple(allowed_imports))
    imported = _imported_names(tree, limits.max_alias_passes, facts)
    checker = _Checker(allow, limits, imported, facts)
    checker.run(tree)
    findings += checker.findings
    if not imported.settled:
        findings.append(Finding(1, 1, f"imported objects pass through more than {limits.max_alias_passes} "
                                      "names in a row; use them directly (nn.Conv2d, torch.Tensor)"))
    if require_net:
        findings += _net_findings(facts)
    return sorted(findings, key=lambda f: (f.line, f.col))


# --------------------------------------------------------------------------------- code the grader never runs
# Packages students use around a model (data loading, progress bars, plots, summaries, logs). Imported at module
# level and never used, such an import is skipped with a warning instead of refused: nothing is taken from it.
TOOL_IMPORTS = ("torchvision", "torchsummary", "tqdm", "matplotlib", "logging", "torch.utils.data")


def _is_main_guard(node: ast.AST) -> bool:
    """`if __name__ == "__main__":` (either way round), exactly: nothing else in the test, nothing after it."""
    if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1
            and isinstance(node.test.ops[0], ast.Eq)):
        return False
    sides = [node.test.left, node.test.comparators[0]]
    names = [x for x in sides if isinstance(x, ast.Name) and x.id == "__name__"]
    texts = [x for x in sides if isinstance(x, ast.Constant) and x.value == "__main__" and type(x.value) is str]
    return len(names) == 1 and len(texts) == 1


def _skip_main_blocks(tree: ast.Module) -> None:
    """Empty the body of each top-level `if __name__ == "__main__":`. The grader imports the file under a private
    module name, so that body never runs (its `else:` does, and stays checked)."""
    for node in tree.body:
        if _is_main_guard(node):
            node.body = [ast.copy_location(ast.Pass(), node.body[0])]


def _name_bindings(tree: ast.AST) -> list[Finding]:
    """Refuse binding `__name__` anywhere: the module's name is what keeps `if __name__ == "__main__":` shut."""
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names = [node.id]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.alias):
            names = [node.asname or node.name.split(".")[0]]
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names = list(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            names = [node.name]
        elif isinstance(node, ast.MatchMapping):
            names = [node.rest]
        if "__name__" in names:
            found.append(Finding(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1,
                                 "__name__ is the module's own name, set by the grader; do not assign or rebind it "
                                 "(code under `if __name__ == \"__main__\":` is never run by the grader)"))
    return found


def _is_tool(module: str) -> bool:
    return any(module == t or module.startswith(t + ".") for t in TOOL_IMPORTS)


def _import_binds(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.asname or a.name.split(".")[0] for a in node.names]
    return [a.asname or a.name for a in node.names]


def _used_names(tree: ast.AST, skip: ast.AST) -> set[str]:
    """Every identifier the file names anywhere, outside the statement `skip` (attributes and keywords aside)."""
    used: set[str] = set()
    for node in ast.walk(tree):
        if node is skip:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            used.update(_import_binds(node))
        elif isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.arg):
            used.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            used.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            used.update(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            used.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            used.add(node.rest)
    return used


def _unused_tool_imports(tree: ast.Module, allow: _Allowlist) -> list[ast.stmt]:
    """Module-level imports of TOOL_IMPORTS the allowlist refuses and from which the file uses no name."""
    unused = []
    for node in tree.body:
        if isinstance(node, ast.Import):  # what the name binds: `import torch.utils.data` binds torch, no tool
            modules = [a.name if a.asname else a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module]
        else:
            continue
        if not all(_is_tool(m) and not allow.allows(m) for m in modules):
            continue
        if any(a.name == "*" for a in node.names):
            continue  # a star import binds names nobody can see: refused as ever
        if not set(_import_binds(node)) & _used_names(tree, node):
            unused.append(node)
    return unused


def _unused_warning(node: ast.stmt) -> str:
    what = ast.unparse(node)
    return (f"`{what[:80]}` is not used by the model, so the grader skips it (nothing of it runs); "
            "delete it, or keep such code under `if __name__ == \"__main__\":`")


def runnable_tree(tree: ast.Module, allow: _Allowlist | None = None) -> ast.Module:
    """The module as the grader runs it: top-level `__main__` blocks emptied and unused tool imports dropped.

    The worker compiles this tree instead of the raw file (grader.worker.submission.load), so what the policy skips
    with a warning is never imported, even where the package is installed."""
    allow = allow or _allowlist(())
    _skip_main_blocks(tree)
    dropped = {id(node) for node in _unused_tool_imports(tree, allow)}
    tree.body = [ast.copy_location(ast.Pass(), n) if id(n) in dropped else n for n in tree.body]
    return tree


def _busiest_line(text: str) -> int:
    """The line with the most tokens: where a nesting too deep for the parser is (best effort)."""
    counts: dict[int, int] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            counts[tok.start[0]] = counts.get(tok.start[0], 0) + 1
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return max(counts, key=counts.get) if counts else 1


def _too_deep(tree: ast.AST, limit: int) -> Finding | None:
    """A finding at the first node nested deeper than `limit`, found without recursion; None if none is."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return Finding(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1,
                           f"code nested more than {limit} levels deep; split it into smaller statements "
                           "(a model's code nests a few levels)")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None


@dataclass(frozen=True)
class _Allowlist:
    exact: frozenset
    prefixes: tuple  # a lesson's extra modules count with their submodules

    def allows(self, module: str) -> bool:
        return module in self.exact or any(module == p or module.startswith(p + ".") for p in self.prefixes)


def _allowlist(extra) -> _Allowlist:
    return _Allowlist(BASE_IMPORTS, tuple(extra))


# ---------------------------------------------------------------------------------------------------- facts
@dataclass
class _Binding:
    kind: str  # "import", "assign" (name = value), "class", "def", "other" (loop target, parameter ...)
    node: ast.AST  # the statement or node that binds
    value: ast.AST | None = None  # the assigned expression for "assign"
    path: str | None = None  # the dotted import path for "import"
    scope: str = "module"  # "module", "class" or "function": where the binding happens


class _Facts:
    """What the whole file binds, read once before the walk: names, aliases, classes and their methods."""

    def __init__(self, tree: ast.Module, extras: tuple[str, ...]):
        self.extras = extras
        self.parents: dict[int, ast.AST] = {}
        self.bindings: dict[str, list[_Binding]] = {}
        self.classes: list[ast.ClassDef] = []
        self.methods: set[str] = set()  # functions defined directly in a class body
        self.self_stores: set[str] = set()  # attributes assigned as self.<name> = ...
        self.class_attrs: set[str] = set()  # names bound directly in a class body
        self.extra_modules: set[str] = set()  # lesson-allowed modules bound by import statements
        self.class_scoped: set[int] = set()  # ids of statements whose names become class attributes
        self._scope_names: dict[int, set[str]] = {}  # class id -> names in its own scope (instance_method)
        self._collect(tree)
        self.paths = self._resolve_paths()
        self.own_classes = self._own_classes()
        self.model_classes = self._model_classes()
        self.checked_classes = self._mixed_into_models()
        self.own_private = {n for n in self.methods | self.self_stores | self.class_attrs
                            if n.startswith("_") and not _is_dunder(n)} - NN_MODULE_NAMES

    def _bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)

    def _collect(self, tree: ast.Module) -> None:
        stack: list[tuple[ast.AST, str]] = [(tree, "module")]
        while stack:
            node, scope = stack.pop()
            children_scope = scope
            if scope == "class" and isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign)):
                self.class_scoped.add(id(node))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._bind(node.name, _Binding("def", node, scope=scope))
                if scope == "class":
                    self.methods.add(node.name)
                for a in _params(node.args):
                    self._bind(a.arg, _Binding("other", a, scope="function"))
            elif isinstance(node, ast.Lambda):
                for a in _params(node.args):
                    self._bind(a.arg, _Binding("other", a, scope="function"))
            elif isinstance(node, ast.ClassDef):
                self._bind(node.name, _Binding("class", node, scope=scope))
                self.classes.append(node)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    name = a.asname or a.name.split(".")[0]
                    path = a.name if a.asname else a.name.split(".")[0]
                    self._bind(name, _Binding("import", node, path=path, scope=scope))
                    if not self._in_tables(path):
                        self.extra_modules.add(path)
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    self._bind(a.asname or a.name, _Binding("import", node, path=f"{node.module}.{a.name}",
                                                              scope=scope))
            elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                for t in node.targets:
                    self._bind(t.id, _Binding("assign", node, value=node.value, scope=scope))
                    self.parents[id(t)] = node
                    if scope == "class":
                        self.class_attrs.add(t.id)
                stack.append((node.value, scope))
                self.parents[id(node.value)] = node
                continue
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                if isinstance(node.ctx, ast.Store):
                    self._bind(node.id, _Binding("other", node, scope=scope))
                    if scope == "class":
                        self.class_attrs.add(node.id)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self._bind(node.name, _Binding("other", node, scope=scope))
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                self._bind(node.name, _Binding("other", node, scope=scope))
            elif isinstance(node, ast.MatchMapping) and node.rest:
                self._bind(node.rest, _Binding("other", node, scope=scope))
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:  # bound elsewhere, but from a function: never a plain alias
                    self._bind(name, _Binding("other", node, scope="module"))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                self.self_stores.add(node.attr)
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
                if isinstance(node, ast.ClassDef) and child in node.body:
                    stack.append((child, "class"))
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and (
                        child in (node.body if isinstance(node.body, list) else [node.body])):
                    stack.append((child, "function"))
                elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                    stack.append((child, "function"))
                else:
                    stack.append((child, children_scope))

    def _in_tables(self, path: str) -> bool:
        return path in MODULES or path.split(".")[0] in ("torch", "math", "typing", "collections", "functools",
                                                          "dataclasses", "__future__")

    # -------------------------------------------------------------------- what names may hold
    def _resolve_paths(self) -> dict[str, set[str]]:
        """name -> the module paths and module members it may hold, through imports and plain aliases.

        Only paths in the tables (a module, or a module's member) are kept, so the set of possible paths is
        finite and the propagation ends; a chain that leaves the tables is refused where it is written.
        """
        paths: dict[str, set[str]] = {}
        dependents: dict[str, list[tuple[str, str, list[str]]]] = {}  # root -> (target, root, attrs)
        work: list[str] = []
        for name, bindings in self.bindings.items():
            for b in bindings:
                if b.kind == "import":
                    p = self._known(b.path)
                    if p:
                        paths.setdefault(name, set()).add(p)
                        work.append(name)
                elif b.kind == "assign":
                    chain = _chain(b.value)
                    if chain:
                        dependents.setdefault(chain[0], []).append((name, chain[0], chain[1:]))
        while work:
            root = work.pop()
            for target, _, attrs in dependents.get(root, ()):
                for p in list(paths.get(root, ())):
                    q = self._extend(p, attrs)
                    if q and q not in paths.setdefault(target, set()):
                        paths[target].add(q)
                        work.append(target)
        return paths

    def _known(self, path: str) -> str | None:
        if path in MODULES or path in self.extra_modules:
            return path
        module, _, name = path.rpartition(".")
        return path if module in MODULES and name in MEMBERS[module] else None

    def _extend(self, path: str, attrs: list[str]) -> str | None:
        for attr in attrs:
            if path not in MODULES or attr not in MEMBERS[path]:
                return None  # a value's attribute, or a name the chain check refuses where it is written
            path = f"{path}.{attr}"
        return path

    def module_paths(self, node: ast.AST) -> set[str]:
        """The modules (in the tables, or a lesson's extra ones) that `node` may evaluate to."""
        chain = _chain(node)
        if not chain:
            return set()
        found = set()
        for p in self.paths.get(chain[0], ()):
            q = self._extend(p, chain[1:]) if p in MODULES else (p if len(chain) == 1 else None)
            if q and (q in MODULES or q in self.extra_modules):
                found.add(q)
        return found

    def value_paths(self, node: ast.AST) -> set[str] | None:
        """Every path a base-class expression may hold, or None when some binding of its name is not an
        import or a plain alias (then the policy cannot know what it is)."""
        chain = _chain(node)
        if not chain or chain[0] not in self.bindings:
            return None
        if any(b.kind not in ("import", "assign") for b in self.bindings[chain[0]]):
            return None
        if any(b.kind == "assign" and not _chain(b.value) for b in self.bindings[chain[0]]):
            return None
        found = set()
        for p in self.paths.get(chain[0], ()):
            q = self._extend(p, chain[1:])
            if q is None:
                return None
            found.add(q)
        return found or None

    # -------------------------------------------------------------------- classes of the file
    def _own_classes(self) -> set[str]:
        """Names that only ever hold a class this file defines (class statements and `Net = MyModel`)."""
        candidates = {n for n, bs in self.bindings.items()
                      if any(b.kind == "class" for b in bs) or all(b.kind == "assign" for b in bs)}
        dependents: dict[str, set[str]] = {}
        for n in candidates:
            for b in self.bindings[n]:
                if b.kind == "assign" and isinstance(b.value, ast.Name):
                    dependents.setdefault(b.value.id, set()).add(n)
        own = set(candidates)
        work = list(candidates)
        while work:
            n = work.pop()
            if n not in own:
                continue
            ok = all(b.kind == "class" or (b.kind == "assign" and isinstance(b.value, ast.Name)
                                           and b.value.id in own) for b in self.bindings[n])
            if not ok:
                own.discard(n)
                work.extend(dependents.get(n, ()))
        return own

    def first_line(self, name: str) -> int:
        return min(b.node.lineno for b in self.bindings.get(name, ()) if hasattr(b.node, "lineno"))

    def _model_classes(self) -> set[str]:
        """In-file classes that derive, directly or through each other, from a torch.nn class."""
        models: set[str] = set()
        changed = True
        rounds = 0
        while changed and rounds <= len(self.classes):
            changed, rounds = False, rounds + 1
            for cls in self.classes:
                if cls.name in models:
                    continue
                for base in cls.bases:
                    paths = self.value_paths(base) or set()
                    if (paths and paths <= NN_BASES) or (isinstance(base, ast.Name) and base.id in models):
                        models.add(cls.name)
                        changed = True
                        break
            for n in self.own_classes - models:  # Net = MyModel
                if all(b.kind == "assign" and b.value.id in models for b in self.bindings[n]
                       if b.kind != "class") and not any(b.kind == "class" for b in self.bindings[n]):
                    models.add(n)
                    changed = True
        return models

    def _mixed_into_models(self) -> set[str]:
        """Model classes and every in-file class they derive from: a mixin's methods end up on the model."""
        by_name = {c.name: c for c in self.classes}
        checked, work = set(), list(self.model_classes)
        while work:
            name = work.pop()
            if name in checked:
                continue
            checked.add(name)
            for b in self.bindings.get(name, ()):
                if b.kind == "assign" and isinstance(b.value, ast.Name):
                    work.append(b.value.id)
            cls = by_name.get(name)
            for base in cls.bases if cls else ():
                if isinstance(base, ast.Name) and base.id in self.own_classes:
                    work.append(base.id)
        return checked

    def module_level(self, name: str) -> list[_Binding]:
        return [b for b in self.bindings.get(name, ()) if b.scope == "module"]

    def instance_method(self, fn: ast.AST, decorators: set[str]) -> bool:
        """Whether `fn` surely receives its class's instance (or class) as first argument: defined directly in a
        class body, every decorator in `decorators`, and never named again in the class's own scope."""
        cls = self.parents.get(id(fn))
        if not (isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and isinstance(cls, ast.ClassDef)
                and fn in cls.body and all(_decorator_path(d, self) in decorators for d in fn.decorator_list)):
            return False
        if id(cls) not in self._scope_names:
            self._scope_names[id(cls)] = _class_scope_names(cls)
        return fn.name not in self._scope_names[id(cls)]


def _class_scope_names(cls: ast.ClassDef) -> set[str]:
    """Names read or written in a class's own scope, not inside its methods: there `f = staticmethod(f)` or
    `g = partial(f, torch.Tensor)` hands a method's first parameter whatever its caller passes."""
    found: set[str] = set()
    stack: list[ast.AST] = list(cls.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            stack.extend([*getattr(node, "decorator_list", []), *args.defaults,
                          *[d for d in args.kw_defaults if d is not None]])
            continue  # a body is its own scope: a bare name there is a global, not the class's method
        if isinstance(node, ast.ClassDef):
            stack.extend([*node.decorator_list, *node.bases, *node.keywords])
            continue
        if isinstance(node, ast.Name):
            found.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return found




def _params(args: ast.arguments) -> list[ast.arg]:
    return [a for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a]


def _chain(node: ast.AST) -> list[str] | None:
    """[root, attr, attr ...] of a plain attribute chain `a.b.c`; None for anything else."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(attrs)]


def _net_findings(facts: _Facts) -> list[Finding]:
    """"Defines no Net" when nothing at module level binds the name, listing the classes the file has."""
    if facts.module_level("Net"):
        return []
    top = sorted((c for c in facts.classes
                  if any(b.node is c and b.scope == "module" for b in facts.bindings[c.name])), key=lambda c: c.lineno)
    models = [c for c in top if c.name in facts.model_classes]
    if not top:
        return [Finding(1, 1, "the file defines no Net and no class; add `class Net(nn.Module)` "
                              "with __init__ and forward")]
    listed = ", ".join(f"{c.name} (line {c.lineno})" for c in top)
    pick = (models or top)[-1].name
    return [Finding(1, 1, f"the file defines no Net; it defines {listed}. Add `Net = {pick}` after the class, "
                          "or name your model class Net")]


# ---------------------------------------------------------------------------------------------------- taint
@dataclass
class _Imported:
    """What the monkeypatching rule follows: names and attribute names that may hold an imported object."""

    names: dict[str, str]  # name -> dotted path ("?" when it came through a container, a call or a parameter)
    attrs: set[str]  # attribute names an imported object was stored under (self.T = torch.Tensor)
    prefixes: set[str]  # literal prefixes of computed names one was stored under (setattr(self, f"T{i}", ...))
    self_holders: set[int | None]  # functions (None: the module) whose `self` may hold one: def patch(self)
    settled: bool  # whether the propagation ended within the pass limit

    def stored(self, attr: str) -> bool:
        return attr in self.attrs or any(attr.startswith(p) for p in self.prefixes)


def _imported_names(tree: ast.AST, max_passes: int, facts: _Facts) -> _Imported:
    """Names that may hold an imported module, class or function, and whether the propagation settled.

    Imports, then what they flow into: aliases (T = torch.Tensor), loop and `with` targets, parameters that
    receive them (as defaults, as arguments at a call site, through `in` and `[]`), results of functions that
    return them, containers they are added to (things.append(torch.Tensor)) and attributes they are stored in.
    A static reading cannot follow every flow; the evaluator is there for the rest (docs/security.md).
    """
    names: dict[str, str] = {}
    nodes = list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            names.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    functions: dict[str, list] = {}
    classes: dict[str, list] = {}
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            classes.setdefault(node.name, []).append(node)
    relevant = [n for n in nodes if isinstance(n, (
        ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.AsyncFor, ast.comprehension, ast.withitem,
        ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Call, ast.Compare, ast.Subscript))]
    flow = _Flow(names, functions, classes, facts)
    passes = 0
    while flow.changed:  # until nothing new flows: aliases of aliases, parameters of parameters
        if passes == max_passes:
            break
        passes += 1
        flow.changed = False
        for node in relevant:
            flow.visit(node)
    return _Imported(names, flow.attrs, flow.prefixes, flow.self_holders, not flow.changed)


# Builtins whose result may be (or contain) one of their arguments: list([torch.Tensor])[0] is torch.Tensor.
_PASS_THROUGH = frozenset({
    "list", "tuple", "dict", "set", "frozenset", "iter", "next", "reversed", "sorted", "min", "max", "filter",
    "map", "zip", "enumerate", "getattr", "super", "property", "staticmethod", "classmethod"})


class _Flow:
    """One pass of taint propagation over the tree; `changed` says whether another pass is needed."""

    def __init__(self, names: dict[str, str], functions: dict[str, list], classes: dict[str, list],
                 facts: _Facts):
        self.names, self.functions, self.classes, self.facts = names, functions, classes, facts
        self.returning: set[str] = set()  # in-file functions that return an imported object
        self.attrs: set[str] = set()
        self.prefixes: set[str] = set()
        self.self_holders: set[int | None] = set()
        self.binders: dict[int, bool] = {}  # function id -> whether it binds the name self itself
        # Methods whose first parameter is surely their instance or class: the only parameters a call's
        # arguments never reach. Any other `self` is a parameter like the rest (def patch(self): ...).
        self.instance_methods = {id(f) for fs in functions.values() for f in fs
                                 if facts.instance_method(f, _INSTANCE_DECORATORS)}
        self.changed = True
        self.memo: dict[int, bool] = {}  # holds() per node until the next taint: keeps a pass linear in the file
        self.parameters_done: set[str | None] = set()  # functions whose parameters are all tainted already

    def _changed(self) -> None:
        self.changed = True
        self.memo.clear()

    def holds(self, expr) -> bool:
        key = id(expr)
        if key not in self.memo:
            self.memo[key] = self._holds(expr)
        return self.memo[key]

    def _holds(self, expr) -> bool:
        if isinstance(expr, ast.Call):
            func = expr.func
            if isinstance(func, ast.Name) and func.id in self.returning:
                return True  # get() where get returns torch.Tensor
            if isinstance(func, ast.Lambda) and self.holds(func.body):
                return True  # (lambda: torch.Tensor)()
            arguments = [*expr.args, *(k.value for k in expr.keywords)]
            if self._passes_through(func) and any(self.holds(a) for a in arguments):
                return True  # list([torch.Tensor])[0], functools.partial(torch.Tensor).func
            if isinstance(func, ast.Attribute):  # things.pop() where things.append(torch.Tensor) came first
                owner = func.value
                return (isinstance(owner, ast.Name) and self.names.get(owner.id) == "?") or \
                    (isinstance(owner, ast.Attribute) and self._stored(owner.attr))
            return False
        if isinstance(expr, ast.Attribute) and self._stored(expr.attr):
            return True  # self.T where self.T = torch.Tensor
        if isinstance(expr, ast.Name) and expr.id == "self":
            return self.self_scope(expr) in self.self_holders
        return _references(expr, self.names, self.holds)

    def _stored(self, attr: str) -> bool:
        return attr in self.attrs or any(attr.startswith(p) for p in self.prefixes)

    def self_scope(self, node: ast.AST) -> int | None:
        """The function whose `self` a name `self` here is (None: the module's)."""
        node = self.facts.parents.get(id(node))
        while node is not None:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if id(node) not in self.binders:
                    self.binders[id(node)] = "self" in _bound_names(node)[0]
                if self.binders[id(node)]:
                    return id(node)
            node = self.facts.parents.get(id(node))
        return None

    def _taint_self(self, scope: int | None) -> None:
        if scope not in self.self_holders:
            self.self_holders.add(scope)
            self._changed()

    def _passes_through(self, func: ast.AST) -> bool:
        if isinstance(func, ast.Name) and func.id in _PASS_THROUGH and func.id not in self.names:
            return True
        chain = _chain(func)
        return bool(chain) and self.names.get(chain[0], "").split(".")[0] in (
            "functools", "collections", "typing", "dataclasses")

    def taint(self, target, value) -> None:
        for n in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
            if isinstance(n, ast.Starred):
                n = n.value
            while isinstance(n, ast.Subscript):  # things[0] = torch.Tensor taints things
                n, value = n.value, None
            if isinstance(n, ast.Attribute):
                if n.attr not in self.attrs:
                    self.attrs.add(n.attr)
                    self._changed()
            elif isinstance(n, ast.Name) and n.id == "self":
                self._taint_self(self.self_scope(n))  # self = torch.Tensor, for self in [torch.Tensor]
            elif isinstance(n, ast.Name) and n.id not in self.names:
                self.names[n.id] = _resolve(value, self.names) if value is not None else "?"
                self._changed()

    def visit(self, node) -> None:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            if self.holds(node.value):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    self.taint(t, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and self.holds(node.iter):
            self.taint(node.target, None)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None and self.holds(node.context_expr):
            self.taint(node.optional_vars, None)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self._visit_function(node)
        elif isinstance(node, ast.Call):
            self._visit_call(node)
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            if any(self.holds(e) for e in [node.left, *node.comparators]):  # `x in mine` calls mine.__contains__
                self._taint_parameters("__contains__")
        elif isinstance(node, ast.Subscript) and self.holds(node.slice):  # mine[x] calls mine.__getitem__
            self._taint_parameters("__getitem__")

    def _visit_function(self, fn) -> None:
        args = fn.args
        positional = [*args.posonlyargs, *args.args]
        for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
            if self.holds(default):
                self._taint_parameter(fn, arg)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            if default is not None and self.holds(default):
                self._taint_parameter(fn, arg)
        if isinstance(fn, ast.Lambda) or fn.name in self.returning:
            return
        stack = list(fn.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.Return, ast.Yield)) and node.value is not None and self.holds(node.value):
                self.returning.add(fn.name)
                self._changed()
                return
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.extend(ast.iter_child_nodes(node))

    def _visit_call(self, call: ast.Call) -> None:
        values = [*call.args, *(k.value for k in call.keywords)]
        if not any(self.holds(v) for v in values):
            return
        func = call.func
        if isinstance(func, ast.Attribute) and not isinstance(func.value, ast.Call):
            self.taint(func.value, None)  # things.append(torch.Tensor), self.acts.append(nn.ReLU)
        if isinstance(func, ast.Name) and func.id == "setattr" and len(call.args) >= 3 and self.holds(call.args[2]):
            self._taint_setattr(call.args[1])
        # Every in-file function this call may hand the imported object to: the one called, and any passed
        # along (functools.partial(patch, torch.Tensor), map(patch, [torch.Tensor])); a class's __init__.
        for f in [func, *values]:
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            self._taint_parameters(name)
            for cls in self.classes.get(name, []):
                self._taint_parameters("__init__")
                self._taint_parameters("__post_init__")
                for stmt in cls.body:  # dataclass fields are set from the constructor's arguments
                    if isinstance(stmt, ast.AnnAssign):
                        self.taint(ast.Attribute(ast.Name("self"), getattr(stmt.target, "id", "?"), ast.Store()),
                                   None)

    def _taint_setattr(self, name: ast.AST) -> None:
        """setattr(self, NAME, torch.Tensor): the attribute NAME spells, or every name its literal prefix begins."""
        attr = _folded(name)
        if attr is None:
            first = name.values[0] if isinstance(name, ast.JoinedStr) and name.values else None
            prefix = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
            if prefix not in self.prefixes:
                self.prefixes.add(prefix)
                self._changed()
        elif attr not in self.attrs:
            self.attrs.add(attr)
            self._changed()

    def _taint_parameters(self, name: str | None) -> None:
        if name in self.parameters_done:
            return
        self.parameters_done.add(name)
        for fn in self.functions.get(name, []):
            positional = [*fn.args.posonlyargs, *fn.args.args]
            instance = positional[0] if positional and id(fn) in self.instance_methods else None
            for arg in _params(fn.args):
                if arg is not instance:
                    self._taint_parameter(fn, arg)

    def _taint_parameter(self, fn: ast.AST, arg: ast.arg) -> None:
        if arg.arg == "self":
            self._taint_self(id(fn))  # only this function's self: every method has one of that name
        elif arg.arg not in self.names:
            self.names[arg.arg] = "?"
            self._changed()


def _resolve(expr: ast.AST, names: dict[str, str]) -> str:
    """The dotted path an alias stands for, through earlier aliases; "?" when it is not a plain chain."""
    chain = _chain(expr)
    if not chain:
        return "?"
    return ".".join([names.get(chain[0], chain[0]), *chain[1:]])


def _references(expr: ast.AST, names, holds=None) -> bool:
    """Whether `expr` holds an imported object itself (torch.Tensor, [nn.Module]), not the result of a call."""
    holds = holds or (lambda e: _references(e, names))
    if isinstance(expr, ast.Name):
        return expr.id in names
    if isinstance(expr, (ast.Attribute, ast.Subscript, ast.Starred)):
        return holds(expr.value)
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        return any(holds(e) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return any(holds(e) for e in expr.values if e is not None)
    if isinstance(expr, ast.IfExp):
        return holds(expr.body) or holds(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return any(holds(e) for e in expr.values)
    if isinstance(expr, ast.Lambda):
        return holds(expr.body)
    return False


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


def _dotted(node: ast.AST) -> str:
    """Source-like text of an attribute chain: torch.zeros(...).numpy(...).tofile."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(f".{node.attr}")
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("(...)")
            node = node.func
        elif isinstance(node, ast.Subscript):
            parts.append("[...]")
            node = node.value
        else:
            parts.append(node.id if isinstance(node, ast.Name) else "(...)")
            return "".join(reversed(parts))


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


# ---------------------------------------------------------------------------------------------------- the walk
@dataclass
class _Frame:
    """A function being walked: the names it binds, and whether its `self` is surely its class's instance."""

    names: set[str]
    binds_self: bool
    trusted_self: bool
    fn: int  # id of the function node, for the taint of a `self` that is not its class's instance


class _Exit:
    """Marker on the walk's stack: leave the innermost function."""


_EXIT = _Exit()


class _Checker:
    """Walks the tree with an explicit stack (no recursion, whatever the nesting) and collects findings."""

    def __init__(self, allow: _Allowlist, limits: Limits, imported: _Imported, facts: _Facts):
        self.allow, self.limits, self.imported, self.facts = allow, limits, imported, facts
        self.findings: list[Finding] = []
        self.frames: list[_Frame] = []  # enclosing functions, innermost last
        self.literal_bytes = 0
        self.name_bytes = 0
        self.names_seen: set[str] = set()
        self.numbers = 0
        self.sanctioned: set[int] = set()  # ids of nodes a parent's rule already approved

    def refuse(self, node: ast.AST, reason: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, reason))

    def run(self, tree: ast.AST) -> None:
        stack: list = [tree]
        while stack:
            item = stack.pop()
            if item is _EXIT:
                self.frames.pop()
                continue
            if isinstance(item, _Frame):
                self.frames.append(item)
                continue
            for name, where in _names_of(item):
                self._count_name(name, where)
            visit = getattr(self, f"visit_{type(item).__name__}", None)
            children = visit(item) if visit else None
            if children is None:
                children = list(ast.iter_child_nodes(item))
            stack.extend(reversed(children))

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.facts.parents.get(id(node))

    def shadowed(self, name: str) -> bool:
        return any(name in f.names for f in self.frames)

    # ---------------------------------------------------------------- imports
    def _in_class_body(self, node: ast.AST) -> bool:
        if id(node) in self.facts.class_scoped:
            self.refuse(node, "import at the top of the file: an import inside a class body makes the module an "
                              "attribute of the class, where it escapes the policy's tables")
            return True
        return False

    def visit_Import(self, node: ast.Import) -> list:
        if self._in_class_body(node):
            return []
        for alias in node.names:
            if not self.allow.allows(alias.name):
                self.refuse(node, f"import of {alias.name!r} is not allowed; a submission may import "
                                  f"{', '.join(sorted(m for m in BASE_IMPORTS if m != '__future__'))}")
        return []

    def visit_ImportFrom(self, node: ast.ImportFrom) -> list:
        module = node.module or ""
        if self._in_class_body(node):
            return []
        if node.level:
            self.refuse(node, "relative imports are not allowed: a submission is one file")
            return []
        if not self.allow.allows(module):
            self.refuse(node, f"import from {module!r} is not allowed; a submission may import "
                              f"{', '.join(sorted(m for m in BASE_IMPORTS if m != '__future__'))}")
            return []
        for alias in node.names:
            if alias.name == "*":
                self.refuse(node, f"`from {module} import *` is not allowed; import the names you use")
            elif alias.name.startswith("_") and module != "__future__":
                self.refuse(node, f"importing {module}.{alias.name}: names starting with an underscore are private")
            elif alias.name in DENIED_ATTRIBUTES:
                self.refuse(node, f"importing {module}.{alias.name} is not allowed: it {DENIED_ATTRIBUTES[alias.name]}")
            elif alias.name in DENIED_BUILTINS or alias.name in ("getattr", "setattr"):
                self.refuse(node, f"importing {alias.name} is not allowed")
            elif module in MEMBERS and alias.name not in MEMBERS[module]:
                self.refuse(node, f"importing {module}.{alias.name} is not allowed: "
                                  f"{_member_reason(module, alias.name)}")
        return []

    # ---------------------------------------------------------------- names
    def visit_Name(self, node: ast.Name) -> list:
        name = node.id
        if _is_dunder(name):
            if name not in ALLOWED_DUNDER_NAMES:
                self.refuse(node, f"the name {name} is not allowed: dunder names reach Python's internals")
            return []
        if isinstance(node.ctx, ast.Load):
            self._check_module_use(node)
        if self.shadowed(name) or id(node) in self.sanctioned:
            return []  # a parameter or local of an enclosing function (`def forward(self, input)`)
        if name in DENIED_BUILTINS:
            self.refuse(node, DENIED_BUILTINS[name])
        elif name in ("getattr", "setattr", "hasattr"):
            self.refuse(node, f"{name} may only be called directly, as {name}(self, \"name\", ...)")
        elif name in _BUILTIN_NAMES and name not in ALLOWED_BUILTINS and name not in self.facts.bindings:
            self.refuse(node, f"the builtin {name} is not allowed in a submission; a model needs only Python's "
                              "plain builtins (len, range, isinstance, super, print ...)")
        return []

    def _check_module_use(self, node: ast.AST) -> None:
        """A module may only be the start of an attribute chain or the value of a plain alias (F = nn.functional):
        passed, stored, returned or put in a container, it would carry its doors (torch.os ...) past the tables."""
        paths = self.facts.module_paths(node)
        if not paths:
            return
        parent = self.parent(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return
        if isinstance(parent, ast.Assign) and parent.value is node \
                and all(isinstance(t, ast.Name) for t in parent.targets) \
                and id(parent) not in self.facts.class_scoped:
            return
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) \
                and parent.func.id in ("getattr", "hasattr") and parent.args and parent.args[0] is node \
                and len(parent.args) >= 2 and _folded(parent.args[1]) is not None:
            return  # getattr(nn, "ReLU"): checked as nn.ReLU in _check_dynamic_attribute
        path = sorted(paths)[0]
        example = f"{_dotted(node)}.{_EXAMPLES.get(path, 'name')}"
        self.refuse(node, f"{_dotted(node)} is the module {path}: use the names in it directly ({example}); "
                          "a module may not be passed, stored, returned or compared")

    # ---------------------------------------------------------------- attributes
    def visit_Attribute(self, node: ast.Attribute) -> list:
        if isinstance(node.ctx, ast.Load):
            self._check_module_use(node)
        if id(node) not in self.sanctioned:
            reason = self._attribute_reason(node)
            if reason:
                self.refuse(node, f"{_dotted(node)}: {reason}")
            else:
                self._check_member(node, node.value, node.attr)
        if not isinstance(node.ctx, ast.Load) and node.attr in NN_MODULE_METHODS:
            self.refuse(node, f"assigning {_dotted(node)} replaces nn.Module's own {node.attr}(), which the grader "
                              "relies on; pick another name")
        self._check_unbound_method(node, node.value, node.attr)
        return [node.value]

    def _attribute_reason(self, node: ast.Attribute) -> str | None:
        attr = node.attr
        parent = self.parent(node)
        if attr == "__name__" and isinstance(node.ctx, ast.Load):
            return None  # a string: m.__class__.__name__, type(m).__name__, F.relu.__name__
        if attr == "__class__" and isinstance(parent, ast.Attribute) and parent.attr == "__name__" \
                and isinstance(parent.ctx, ast.Load) and isinstance(node.ctx, ast.Load):
            return None  # m.__class__.__name__ in an init loop
        if _is_dunder(attr):
            return f"dunder attributes such as {attr} reach Python's internals (only super().__init__() is allowed)"
        if attr.startswith("_"):
            if self._own_private(node.value, attr):
                return None
            return f"attribute {attr} starts with an underscore: private internals are off limits " \
                   "(your own methods and attributes may start with one, used as self._name)"
        return _denied(attr)

    def _own_private(self, value: ast.AST, attr: str) -> bool:
        """self._helper where _helper is this file's own method or attribute and `self` surely the instance."""
        if not (isinstance(value, ast.Name) and value.id == "self" and attr in self.facts.own_private):
            return False
        for frame in reversed(self.frames):
            if frame.binds_self:
                return frame.trusted_self
        return False

    def _check_member(self, where: ast.AST, value: ast.AST, attr: str) -> None:
        """`module.name` must be on the module's list (the allowlist proper)."""
        for path in sorted(self.facts.module_paths(value)):
            if path in MEMBERS and attr not in MEMBERS[path]:
                written, full = f"{_dotted(value)}.{attr}", f"{path}.{attr}"
                subject = written if written == full else f"{written} ({full})"
                self.refuse(where, f"{subject} is not allowed: {_member_reason(path, attr)}")
                return

    def _check_unbound_method(self, node: ast.AST, value: ast.AST, attr: str) -> None:
        """MyClass.method(x) would run the method with any object as self; only MyClass.method(self, ...) is."""
        if not (isinstance(value, ast.Name) and value.id in self.facts.own_classes and attr in self.facts.methods):
            return
        call = self.parent(node)
        if isinstance(call, ast.Call) and call.func is node and call.args \
                and isinstance(call.args[0], ast.Name) and call.args[0].id == "self" and self._trusted_self():
            return
        self.refuse(node, f"{_dotted(node)}: call a method on its object (self.{attr}(...)), not through its "
                          "class with another first argument")

    def _trusted_self(self) -> bool:
        for frame in reversed(self.frames):
            if frame.binds_self:
                return frame.trusted_self
        return False

    def _self_scope(self) -> int | None:
        """The function whose `self` the name means here (None: the module's), as _Flow.self_scope says it."""
        for frame in reversed(self.frames):
            if frame.binds_self:
                return frame.fn
        return None

    # ---------------------------------------------------------------- calls
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "__init__":
            self.sanctioned.add(id(func))  # super().__init__() and nn.Module.__init__(self)
        if isinstance(func, ast.Attribute) and func.attr in ("format", "format_map"):
            self._check_format(node, func)
        if isinstance(func, ast.Name) and not self.shadowed(func.id):
            if func.id in ("getattr", "setattr", "hasattr"):
                self._check_dynamic_attribute(node, func.id)
            elif func.id == "type":
                self._check_type_call(node)
        return None

    def _check_format(self, node: ast.Call, func: ast.Attribute) -> None:
        """"{0.__globals__}".format(f) walks attributes inside a string, where no rule sees them."""
        template = func.value
        if not (isinstance(template, ast.Constant) and isinstance(template.value, str)):
            self.refuse(node, f".{func.attr}() is only allowed on a string literal (\"conv{{}}\".format(i)); "
                              "use an f-string")
            return
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template.value) if f]
        except ValueError:
            return  # Python raises the same error when the line runs: a clear message of its own
        if any("." in f or "[" in f for f in fields):
            self.refuse(node, "a format field that reads attributes or items ({0.name}, {0[key]}) reaches what "
                              "the policy cannot check; use an f-string")

    def _check_type_call(self, node: ast.Call) -> None:
        if len(node.args) + len(node.keywords) == 3:
            self.sanctioned.add(id(node.func))
            self.refuse(node, f"type() with three arguments is not allowed: {_FACTORY}")
            return
        parent = self.parent(node)
        if len(node.args) == 1 and not node.keywords and (
                isinstance(parent, ast.Compare)
                or (isinstance(parent, ast.Attribute) and parent.attr == "__name__" and parent.value is node)):
            self.sanctioned.add(id(node.func))  # type(m) == nn.Conv2d, type(m) is nn.Linear, type(m).__name__

    def _check_dynamic_attribute(self, node: ast.Call, fn: str) -> None:
        self.sanctioned.add(id(node.func))
        if len(node.args) < 2:
            self.refuse(node, f"{fn}() needs an object and an attribute name")
            return
        target, name = node.args[0], node.args[1]
        on_self = self._is_own_self(target)
        if fn == "setattr" and not on_self:
            self.refuse(node, "setattr() is only allowed on self, the first parameter of a method "
                              "(setattr(self, f\"conv{i}\", layer)); setting attributes elsewhere can patch torch")
            return
        attr = _folded(name)
        if attr is not None:  # a literal, or an f-string of literals only: the name it spells is checked
            self._check_named_attribute(node, fn, target, attr)
            return
        if isinstance(name, ast.JoinedStr):
            spelled = "".join(v.value for v in name.values if isinstance(v, ast.Constant))
            reason = _denied(spelled) or (f"it replaces nn.Module's own {spelled}(); pick another name"
                                          if fn == "setattr" and spelled in NN_MODULE_METHODS else None)
            if reason:  # the computed parts may be empty: f"from{x}_file" is from_file when x == ""
                self.refuse(node, f"{fn}(..., f\"...\"): its literal text spells {spelled!r}: {reason}")
                return
        prefix = name.values[0] if isinstance(name, ast.JoinedStr) and name.values else None
        if on_self and isinstance(prefix, ast.Constant) and isinstance(prefix.value, str) \
                and prefix.value and not prefix.value.startswith("_"):
            return  # getattr(self, f"conv{i}"): the submission's own layers
        self.refuse(node, f"{fn}() with a computed attribute name is only allowed on self, the first parameter "
                          f"of a method, with a literal prefix (getattr(self, f\"conv{{i}}\")); use nn.ModuleList "
                          "for numbered layers")

    def _is_own_self(self, target: ast.AST) -> bool:
        """`self` as the first parameter of a method of a class in this file, never passed or reassigned."""
        return isinstance(target, ast.Name) and target.id == "self" and self._trusted_self()

    def _check_named_attribute(self, node: ast.Call, fn: str, target: ast.AST, attr: str) -> None:
        reason = self._named_attribute_reason(fn, target, attr)
        if reason:
            self.refuse(node, f"{fn}(..., {attr!r}): {reason}")
            return
        self._check_member(node, target, attr)
        if fn == "setattr" and attr in NN_MODULE_METHODS:
            self.refuse(node, f"setattr(self, {attr!r}, ...) replaces nn.Module's own {attr}(); pick another name")
        if isinstance(target, ast.Name) and target.id in self.facts.own_classes and attr in self.facts.methods:
            self.refuse(node, f"{fn}({target.id}, {attr!r}): call a method on its object (self.{attr}(...))")

    def _named_attribute_reason(self, fn: str, target: ast.AST, attr: str) -> str | None:
        """Why a getattr/setattr/hasattr of this attribute name is refused, or None."""
        if _is_dunder(attr):
            return f"dunder attributes such as {attr} reach Python's internals"
        if attr.startswith("_") and not self._own_private(target, attr):
            return f"attribute {attr} starts with an underscore: private internals are off limits"
        return _denied(attr)

    # ---------------------------------------------------------------- assignments: no monkeypatching
    def _check_target(self, target: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._check_target(t, verb)
            return
        if isinstance(target, ast.Starred):
            self._check_target(target.value, verb)
            return
        if not isinstance(target, (ast.Attribute, ast.Subscript)):
            return
        root = _root(target)
        inner = target.value  # what the attribute or item is set on: torch.Tensor in torch.Tensor.eq = ...
        through = []
        while isinstance(inner, (ast.Attribute, ast.Subscript, ast.Starred)):
            through += [inner.attr] if isinstance(inner, ast.Attribute) else []
            inner = inner.value
        if (isinstance(root, ast.Name) and self._holds_import(root.id)) \
                or any(self.imported.stored(a) for a in through):
            self.refuse(target, f"{verb} {_dotted(target)} changes an imported module or class (monkeypatching); "
                                "torch must stay as the grader has it")
        elif isinstance(root, ast.Call) and isinstance(target, ast.Attribute):
            self.refuse(target, f"{verb} an attribute of a call's result ({_dotted(target)}) can patch classes; "
                                "assign to self.<name> instead")

    def _holds_import(self, name: str) -> bool:
        if name == "self":  # one function's self is not another's: a method's own never holds one
            return self._self_scope() in self.imported.self_holders
        return name in self.imported.names

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._check_target(t, "assigning to")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target, "assigning to")

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_target(node.target, "assigning to")
        self._check_annotation(node.annotation)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._check_target(t, "deleting")

    # ---------------------------------------------------------------- definitions
    def _check_annotation(self, annotation: ast.AST | None) -> None:
        """No string in an annotation: typing tools evaluate it as code (get_type_hints, singledispatch)."""
        if annotation is None:
            return
        for n in ast.walk(annotation):
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                self.refuse(n, "a string in an annotation is code that typing tools evaluate later; write the "
                               "type itself (x: torch.Tensor) or leave the annotation out")

    def visit_FunctionDef(self, node) -> list:
        if _is_dunder(node.name) and node.name not in ALLOWED_DUNDER_METHODS:
            self.refuse(node, f"defining {node.name} is not allowed: it changes how torch or the grader see "
                              f"your objects (allowed: {', '.join(sorted(ALLOWED_DUNDER_METHODS))})")
        args = node.args
        for a in _params(args):
            self._check_annotation(a.annotation)
        self._check_annotation(node.returns)
        outer = [*node.decorator_list, *args.defaults, *[d for d in args.kw_defaults if d is not None],
                 *[a.annotation for a in _params(args) if a.annotation is not None]]
        if node.returns is not None:
            outer.append(node.returns)
        # Defaults, decorators and annotations are evaluated outside the function, in the enclosing scope.
        return [*outer, self._frame(node), *node.body, _EXIT]

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> list:
        args = node.args
        outer = [*args.defaults, *[d for d in args.kw_defaults if d is not None]]
        return [*outer, self._frame(node), node.body, _EXIT]

    def _frame(self, fn) -> _Frame:
        names, stored = _bound_names(fn)
        binds_self = "self" in names
        trusted = False
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and binds_self and "self" not in stored:
            positional = [*fn.args.posonlyargs, *fn.args.args]
            trusted = bool(positional) and positional[0].arg == "self" and \
                self.facts.instance_method(fn, _METHOD_DECORATORS)
        return _Frame(names, binds_self, trusted, id(fn))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for base in node.bases:
            self._check_base(node, base)
        for kw in node.keywords:
            self.refuse(kw, f"class keyword {kw.arg}= is not allowed (metaclasses change class creation)")
        if node.name in self.facts.checked_classes:
            self._check_overrides(node)
        return None

    def _check_base(self, cls: ast.ClassDef, base: ast.AST) -> None:
        if not isinstance(base, (ast.Name, ast.Attribute)):
            self.refuse(base, "a class may only derive from named classes (e.g. nn.Module), not from a call, "
                              "subscript or condition")
            return
        paths = self.facts.value_paths(base)
        if paths and any(p.rsplit(".", 1)[-1] in TENSOR_CLASSES for p in paths) or \
                (paths is None and _resolve(base, self.imported.names).rsplit(".", 1)[-1] in TENSOR_CLASSES):
            self.refuse(base, f"subclassing {_dotted(base)} is not allowed: a tensor subclass can change how "
                              "the grader compares predictions with labels")
            return
        if paths and paths <= NN_BASES:
            return
        if isinstance(base, ast.Name):
            if base.id in self.facts.own_classes:
                if self.facts.first_line(base.id) < cls.lineno:
                    return
                self.refuse(base, f"class {cls.name} derives from {base.id}, which is defined later in the file; "
                                  f"define {base.id} first")
                return
            if base.id == "object" and base.id not in self.facts.bindings:
                return
        self.refuse(base, f"class {cls.name} may not derive from {_dotted(base)}: a class may derive only from "
                          "nn.Module, a torch.nn layer (nn.Sequential, nn.Conv2d ...) or a class defined earlier "
                          "in this file")

    def _check_overrides(self, cls: ast.ClassDef) -> None:
        """A model class defines forward, __init__, extra_repr and names of its own, never nn.Module's."""
        stack = list(cls.body)  # the class's own scope, `if`/`try` blocks included, not nested functions
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._check_override(cls, node, node.name)
                stack.extend(node.decorator_list)
                continue
            if isinstance(node, ast.Lambda):
                continue
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self._check_override(cls, node, node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    self._check_override(cls, node, a.asname or a.name.split(".")[0])
            stack.extend(ast.iter_child_nodes(node))

    def _check_override(self, cls: ast.ClassDef, where: ast.AST, name: str) -> None:
        if name in NN_MODULE_NAMES and name not in MODEL_METHODS:
            self.refuse(where, f"{cls.name}.{name}: a model class may not redefine nn.Module's own {name} "
                               "(the grader relies on it); define forward, __init__, extra_repr and names of "
                               f"your own (rename it, e.g. my_{name.strip('_')})")

    # ---------------------------------------------------------------- literals and names: no embedded data
    def _count_name(self, name: str, where: ast.AST) -> None:
        """Each distinct identifier's bytes join the literals' total: names reach the program at run time
        (**kwargs keys, __name__, state_dict keys) and carried 18 KB of weights in keyword names."""
        if name in self.names_seen:
            return
        self.names_seen.add(name)
        if len(name) > self.limits.max_name_chars:
            self.refuse(where, f"a name of {len(name):,} characters ({name[:16]}...; limit "
                               f"{self.limits.max_name_chars}): long names carry data as string literals do; "
                               "use a shorter name")
        size = len(name.encode("utf-8"))
        self.name_bytes += size
        self._check_embedded_total(where, size)

    def _check_embedded_total(self, node: ast.AST, size: int) -> None:
        """One finding, where string literals and names together first exceed the total."""
        total = self.literal_bytes + self.name_bytes
        if total > self.limits.max_literal_total >= total - size:
            self.refuse(node, f"string literals and names add up to more than {self.limits.max_literal_total:,} "
                              f"bytes ({self.literal_bytes:,} in literals, {self.name_bytes:,} in distinct names): "
                              "embedded data such as trained weights is not allowed")

    def visit_Constant(self, node: ast.Constant) -> list:
        value = node.value
        if isinstance(value, (str, bytes)):
            size = len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else len(value)
            if size > self.limits.max_literal_bytes:
                self.refuse(node, f"a {type(value).__name__} literal of {size:,} bytes (limit "
                                  f"{self.limits.max_literal_bytes:,}): embedded data such as trained weights "
                                  "is not allowed")
            self.literal_bytes += size
            self._check_embedded_total(node, size)
        elif isinstance(value, (int, float, complex)) and not isinstance(value, bool):
            self.numbers += 1
            if self.numbers == self.limits.max_numbers + 1:
                self.refuse(node, f"more than {self.limits.max_numbers:,} numeric literals: a table of numbers "
                                  "is embedded weights, not a model definition")
            if isinstance(value, int) and value.bit_length() > self.limits.max_int_bits:
                self.refuse(node, f"an integer literal of {value.bit_length()} bits "
                                  f"(limit {self.limits.max_int_bits}): packed data is not allowed")
        return []


def _folded(node: ast.AST) -> str | None:
    """The text of a str literal, or of an f-string whose parts are all literals (f"from_file", f"{'s'}um");
    None when some part is computed. A format spec is never folded: f"{'a':>99999999}" would build the text."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if not isinstance(node, ast.JoinedStr):
        return None
    parts = []
    for v in node.values:
        if isinstance(v, ast.Constant):
            parts.append(str(v.value))
            continue
        if not isinstance(v, ast.FormattedValue) or v.format_spec is not None:
            return None
        inner = v.value.value if isinstance(v.value, ast.Constant) else _folded(v.value)
        if inner is None and not isinstance(v.value, ast.Constant):
            return None
        convert = {ord("r"): repr, ord("a"): ascii}.get(v.conversion, str)
        try:
            parts.append(convert(inner))
        except ValueError:  # an int too long to print: Python refuses it too
            return None
    return "".join(parts)


def _names_of(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """The identifiers a node writes itself (not its children's), each with the node to point at."""
    if isinstance(node, ast.Name):
        return [(node.id, node)]
    if isinstance(node, ast.Attribute):
        return [(node.attr, node)]
    if isinstance(node, ast.keyword):
        return [(node.arg, node)] if node.arg else []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        own = [] if isinstance(node, ast.Lambda) else [(node.name, node)]
        return own + [(a.arg, a) for a in _params(node.args)]  # the walk does not visit the ast.arg nodes
    if isinstance(node, ast.ClassDef):
        return [(node.name, node)]
    if isinstance(node, (ast.Import, ast.ImportFrom)):  # the walk does not visit the aliases
        module = (node.module or "").split(".") if isinstance(node, ast.ImportFrom) else []
        parts = [*module, *(p for a in node.names for p in [*a.name.split("."), a.asname] if p)]
        return [(p, node) for p in parts if p]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return [(n, node) for n in node.names]
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return [(node.name, node)] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [(node.rest, node)] if node.rest else []
    if isinstance(node, ast.MatchClass):
        return [(n, node) for n in node.kwd_attrs]
    return []


def _denied(attr: str) -> str | None:
    return f"{attr} is not allowed: it {DENIED_ATTRIBUTES[attr]}" if attr in DENIED_ATTRIBUTES else None


def _member_reason(module: str, name: str) -> str:
    """Why `module.name` is refused, and what to use instead (a clause to follow "X is not allowed: ")."""
    hint = _HINTS.get(module) or f"allowed from {module}: {', '.join(sorted(MEMBERS[module]))}"
    if name in REFUSED_MEMBERS:
        return REFUSED_MEMBERS[name]
    if name.startswith("Lazy"):
        return _LAZY
    if name in _REEXPORTED:
        return f"it is the {name} module, which {module} imports for its own use; a module reached through " \
               f"another is refused ({hint})"
    return f"it is not on the course's list of {module} names; {hint}"


def _decorator_path(node: ast.AST, facts: _Facts) -> str:
    """property, torch.no_grad ... for a method's decorator (a call counts as what it calls)."""
    if isinstance(node, ast.Call):
        node = node.func
    chain = _chain(node)
    if not chain:
        return "?"
    if len(chain) == 1 and chain[0] in ("property", "classmethod") and chain[0] not in facts.bindings:
        return chain[0]
    for p in facts.paths.get(chain[0], ()):
        q = facts._extend(p, chain[1:])
        if q:
            return q
    return "?"


def _bound_names(fn) -> tuple[set[str], set[str]]:
    """Parameters and names assigned in a function's own body (not in nested functions or classes), and the
    assigned ones alone."""
    params = {a.arg for a in _params(fn.args)}
    stored: set[str] = set()
    stack = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            stored.add(node.id)
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            stored.update(node.names)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            stored.update(a.asname or a.name.split(".")[0] for a in node.names)
        if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            stored.add(node.name)  # `except E as self`, `case self`
        if isinstance(node, ast.MatchMapping) and node.rest:
            stored.add(node.rest)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return params | stored, stored
