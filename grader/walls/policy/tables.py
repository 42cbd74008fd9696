"""The allowlist as tables: the modules a submission may import, the names it may take from each, the builtins
it may call, the attributes and dunders it may not touch, and the limits on a file's size and literals."""

from __future__ import annotations

import builtins
from dataclasses import dataclass


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
HINTS = {
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
EXAMPLES = {
    "torch": "zeros", "torch.nn": "Conv2d", "torch.nn.functional": "relu", "torch.nn.init": "kaiming_normal_",
    "torch.optim": "SGD", "torch.optim.lr_scheduler": "OneCycleLR", "torch.cuda": "is_available", "math": "sqrt",
    "typing": "Optional", "collections": "OrderedDict", "functools": "partial", "dataclasses": "dataclass",
}
# Names refused with a reason of their own (checked before the generic "not on the list" message).
FACTORY = "it builds a class at run time (a class factory); write a class statement"
LAZY = ("lazy modules have no parameters until the first batch, so nothing could count them; "
         "give the input size (nn.Linear(in_features, out_features), nn.Conv2d(in_channels, ...))")
REFUSED_MEMBERS = {
    "manual_seed": "the grader seeds every run itself (course grade --seed); remove the line",
    "seed": "the grader seeds every run itself (course grade --seed); remove the line",
    "set_grad_enabled": "it switches gradients off for the grader too; use `with torch.no_grad():`",
    "singledispatch": "it evaluates string annotations as code",
    "singledispatchmethod": "it evaluates string annotations as code",
    "make_dataclass": FACTORY, "NamedTuple": FACTORY, "TypedDict": FACTORY, "NewType": FACTORY,
    "new_class": FACTORY, "namedtuple": "it builds a class from strings (a class factory); use a dataclass",
    "wraps": "it copies one object's attributes onto another", "update_wrapper": "it copies one object's attributes",
    "total_ordering": "it adds comparison methods to a class",
    "DataParallel": "the grader places the model on its device itself",
    "SyncBatchNorm": "it needs a distributed process group; use nn.BatchNorm2d",
    "UninitializedParameter": LAZY, "UninitializedBuffer": LAZY,
    "LBFGS": "it needs a closure that the grader's training loop does not pass; use SGD, Adam or AdamW",
    "SparseAdam": "it works on sparse gradients only; use Adam",
}
# Python modules that torch and the standard library import for their own use and so expose as attributes.
REEXPORTED = frozenset({
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
BUILTIN_NAMES = frozenset(vars(builtins))

ALLOWED_DUNDER_NAMES = {"__name__", "__all__"}  # `if __name__ == "__main__":` and export lists are harmless
# Special methods a submission may define; others (__torch_function__, __getattr__, __eq__ ...) change
# how torch or the grader see its objects.
ALLOWED_DUNDER_METHODS = {
    "__init__", "__repr__", "__str__", "__len__", "__getitem__", "__iter__", "__contains__", "__post_init__",
}
TENSOR_CLASSES = {"Tensor", "Parameter", "Buffer"}  # a subclass can redefine argmax, ==, sum for the grader
# Decorators that keep a method's first argument the instance, so `self._helper` there is the class's own.
METHOD_DECORATORS = {"property", "torch.no_grad", "torch.enable_grad", "torch.inference_mode"}
INSTANCE_DECORATORS = METHOD_DECORATORS | {"classmethod"}  # a classmethod's first parameter is its own class


# --------------------------------------------------------------------------------- code the grader never runs
# Packages students use around a model (data loading, progress bars, plots, summaries, logs). Imported at module
# level and never used, such an import is skipped with a warning instead of refused: nothing is taken from it.
TOOL_IMPORTS = ("torchvision", "torchsummary", "tqdm", "matplotlib", "logging", "torch.utils.data")


@dataclass(frozen=True)
class Allowlist:
    exact: frozenset
    prefixes: tuple  # a lesson's extra modules count with their submodules

    def allows(self, module: str) -> bool:
        return module in self.exact or any(module == p or module.startswith(p + ".") for p in self.prefixes)


def allowlist_with(extra) -> Allowlist:
    return Allowlist(BASE_IMPORTS, tuple(extra))

