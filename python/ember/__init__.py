"""ember: PyTorch-style deep learning with a Rust core.

``import ember as torch`` runs ordinary PyTorch code: the same names, arguments, defaults,
promotion rules and exception types. ``ember.Tensor`` is the native class itself.
"""

import os as _os
import sys as _sys
from collections import namedtuple as _namedtuple

from . import _core
from ._core import (
    OutOfMemoryError,
    Tensor,
    Generator,
    dtype,
    device,
    float32,
    float64,
    float16,
    bfloat16,
    int64,
    int32,
    bool,
    tensor,
    as_tensor,
    from_numpy,
    zeros,
    ones,
    empty,
    full,
    arange,
    linspace,
    eye,
    rand,
    randn,
    randint,
    randperm,
    multinomial,
    bernoulli,
    manual_seed,
    initial_seed,
    set_num_threads,
    get_num_threads,
    default_generator,
    cat,
    stack,
    where,
    is_grad_enabled,
    from_dlpack,
    add,
    sub,
    mul,
    div,
)
from ._tensor_helpers import Size, _ArrayHolder, _rebuild_tensor, _tensor_repr, _dtype_from_name
from ._grad_mode import no_grad, enable_grad, set_grad_enabled, inference_mode

# A forked child (a DataLoader worker, any multiprocessing fork) has rayon's pool without its
# threads and the parent's GPU device: its kernels must run serially and its GPU must refuse.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_core._after_fork_in_child)

multiply, subtract, divide, true_divide = mul, sub, div, div

float = float32
double = float64
half = float16
long = int64
int = int32

concat = concatenate = cat


class _return_types:
    """Named (values, indices) results, as ``torch.return_types``."""

    max = _namedtuple("max", ["values", "indices"])
    min = _namedtuple("min", ["values", "indices"])
    sort = _namedtuple("sort", ["values", "indices"])
    topk = _namedtuple("topk", ["values", "indices"])


# Function forms of Tensor methods: the descriptors themselves, so calls go straight to Rust.
_METHOD_FUNCTIONS = """
abs neg negative exp log log1p expm1 sqrt rsqrt sin cos tanh sigmoid relu erf sign floor ceil round
trunc fix
reciprocal logical_not sum mean prod amax amin max min argmax argmin var std logsumexp softmax
log_softmax cumsum all any reshape permute transpose unsqueeze squeeze flatten unflatten narrow select
repeat split chunk unbind gather scatter scatter_add index_select masked_fill flip roll tril triu sort
argsort topk nonzero clamp clip matmul mm bmm dot pow maximum minimum remainder
floor_divide atan2 eq ne lt le gt ge logical_and logical_or logical_xor
true_divide clone detach numel is_floating_point t bitwise_and bitwise_or bitwise_xor
bitwise_not
""".split()
for _name in _METHOD_FUNCTIONS:
    globals()[_name] = getattr(Tensor, _name)
del _name

from ._functions import (  # noqa: E402
    zeros_like,
    ones_like,
    full_like,
    empty_like,
    rand_like,
    randn_like,
    randint_like,
    addmm,
    einsum,
    finfo,
    is_tensor,
    broadcast_to,
    outer,
    square,
    gelu,
    silu,
    softplus,
    normal,
    isclose,
    isnan,
    isinf,
    isfinite,
    allclose,
    equal,
    set_default_dtype,
    get_default_dtype,
)
from ._settings import (  # noqa: E402
    use_deterministic_algorithms,
    are_deterministic_algorithms_enabled,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    get_float32_matmul_precision,
    compile,
)
from ._tensor_helpers import set_printoptions, get_printoptions  # noqa: E402
from ._functions import (  # noqa: E402
    lgamma,
    digamma,
    erfinv,
    promote_types,
    result_type,
    can_cast,
    iinfo,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    hstack,
    vstack,
    row_stack,
    dstack,
    column_stack,
    movedim,
    moveaxis,
    swapaxes,
    swapdims,
    tile,
    fliplr,
    flipud,
    rot90,
    tensor_split,
    block_diag,
    meshgrid,
    cartesian_prod,
    combinations,
    kron,
    tensordot,
    cdist,
    diag_embed,
    triu_indices,
    tril_indices,
    logspace,
    logaddexp,
    logaddexp2,
    exp2,
    frac,
    hypot,
    heaviside,
    sgn,
    logit,
    xlogy,
    float_power,
    deg2rad,
    rad2deg,
    nan_to_num,
    clamp_min,
    clamp_max,
    addcmul,
    addcdiv,
    lerp,
    broadcast_tensors,
    broadcast_shapes,
    diff,
    trace,
    cov,
    corrcoef,
    count_nonzero,
    nansum,
    nanmean,
    std_mean,
    var_mean,
    aminmax,
    cumprod,
    logcumsumexp,
    renorm,
    is_nonzero,
    isposinf,
    isneginf,
    signbit,
    norm,
    cross,
    det,
)
from .serialization import save, load  # noqa: E402
from . import _tensor_methods  # noqa: E402

_tensor_methods.install(Tensor, _sys.modules[__name__])
from . import autograd  # noqa: E402
from . import nn  # noqa: E402
from . import optim  # noqa: E402
from . import gpu  # noqa: E402

# Ported PyTorch code asks torch.cuda; ember's GPUs answer it.
cuda = gpu

__version__ = "0.1.0"


def __getattr__(name):
    # These load on first use, so `import ember` stays fast.
    if name in ("data", "utils", "distributed", "futures", "random", "accelerator", "backends", "jit", "onnx",
                "hub", "multiprocessing", "distributions", "special", "testing", "linalg"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in ("get_rng_state", "set_rng_state", "seed", "fork_rng"):
        from . import random

        return getattr(random, name)
    raise AttributeError(f"module 'ember' has no attribute '{name}'")


__all__ = [
    "Tensor", "Generator", "dtype", "device", "Size", "float32", "float64", "float16", "bfloat16",
    "int64", "int32", "bool", "float", "double", "half", "long", "int", "tensor", "as_tensor",
    "from_numpy", "from_dlpack", "add", "sub", "mul", "div", "multiply", "subtract", "divide", "true_divide", "zeros", "ones", "empty", "full", "arange", "linspace", "eye", "rand", "randn",
    "randint", "randperm", "multinomial", "bernoulli", "manual_seed", "initial_seed",
    "set_num_threads", "get_num_threads",
    "default_generator", "cat", "concat", "concatenate", "stack", "where", "is_grad_enabled",
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "zeros_like", "ones_like",
    "full_like", "empty_like", "rand_like", "randn_like", "randint_like", "addmm", "einsum", "finfo",
    "is_tensor", "isnan", "isinf", "isfinite", "isclose", "allclose", "equal", "set_default_dtype", "get_default_dtype", "broadcast_to", "outer", "square", "gelu", "silu", "softplus", "normal", "save", "load", "autograd", "nn", "optim", "gpu", "cuda", "OutOfMemoryError",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
    "is_deterministic_algorithms_warn_only_enabled", "set_float32_matmul_precision",
    "get_float32_matmul_precision", "compile", "set_printoptions", "get_printoptions",
    "special", "testing",
] + _METHOD_FUNCTIONS + """promote_types result_type can_cast iinfo atleast_1d atleast_2d atleast_3d hstack vstack row_stack dstack column_stack movedim moveaxis swapaxes swapdims tile fliplr flipud rot90 tensor_split block_diag meshgrid cartesian_prod combinations kron tensordot cdist diag_embed triu_indices tril_indices logspace logaddexp logaddexp2 exp2 frac hypot heaviside sgn logit xlogy float_power deg2rad rad2deg nan_to_num clamp_min clamp_max addcmul addcdiv lerp broadcast_tensors broadcast_shapes diff trace cov corrcoef count_nonzero nansum nanmean std_mean var_mean aminmax cumprod logcumsumexp renorm is_nonzero isposinf isneginf signbit lgamma digamma erfinv norm cross det""".split()
