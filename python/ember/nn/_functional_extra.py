"""More of ``torch.nn.functional``, composed from ember's tensor ops (autograd runs through them):
activations, distances, pixel shuffles, feature dropout and the remaining losses.

Everything here is re-exported by ``ember.nn.functional``; ``pad``'s non-constant modes live there.
"""

import math
import warnings

from .. import _core
from .._functions import softplus as _softplus, zeros_like as _zeros_like
from . import functional as _F

__all__ = [
    "relu6", "hardswish", "hardsigmoid", "selu", "selu_", "celu", "celu_", "glu", "logsigmoid", "softmin",
    "softsign", "tanhshrink", "threshold", "threshold_", "hardshrink", "softshrink", "prelu", "rrelu", "rrelu_",
    "hardtanh_", "elu_", "leaky_relu_", "relu_",
    "cosine_similarity", "pairwise_distance", "normalize",
    "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle",
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
    "multi_margin_loss", "cosine_embedding_loss", "triplet_margin_loss", "poisson_nll_loss", "gaussian_nll_loss",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _inplace(input, out, inplace):
    return input.copy_(out) if inplace else out


# ---- activations ----
def relu_(input):
    return input.relu_()


def relu6(input, inplace=False):
    return _F.hardtanh(input, 0.0, 6.0, inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return _F.hardtanh(input, min_val, max_val, True)


def elu_(input, alpha=1.0):
    return _F.elu(input, alpha, True)


def leaky_relu_(input, negative_slope=0.01):
    return _F.leaky_relu(input, negative_slope, True)


def hardsigmoid(input, inplace=False):
    return _inplace(input, (input + 3.0).clamp(0.0, 6.0) / 6.0, inplace)


def hardswish(input, inplace=False):
    return _inplace(input, input * (input + 3.0).clamp(0.0, 6.0) / 6.0, inplace)


def selu(input, inplace=False):
    out = _SELU_SCALE * _core.where(input > 0, input, (input.clamp(max=0.0).exp() - 1) * _SELU_ALPHA)
    return _inplace(input, out, inplace)


def selu_(input):
    return selu(input, True)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    out = _core.where(input > 0, input, ((input.clamp(max=0.0) / alpha).exp() - 1) * alpha)
    return _inplace(input, out, inplace)


def celu_(input, alpha=1.0):
    return celu(input, alpha, True)


def glu(input, dim=-1):
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = dim + input.dim() if dim < 0 else dim
    if not 0 <= d < input.dim():
        raise IndexError(f"Dimension out of range (expected to be in range of [{-input.dim()}, {input.dim() - 1}], but got {dim})")
    n = input.shape[d]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {n}")
    a, b = input.narrow(d, 0, n // 2), input.narrow(d, n // 2, n // 2)
    return a * b.sigmoid()


def logsigmoid(input):
    # log(sigmoid(x)) = -softplus(-x), stable for large |x|.
    return -_softplus(-input)


def _softmax_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmin", input.dim())
    return (-input).softmax(dim, dtype=dtype)


def softsign(input):
    return input / (input.abs() + 1)


def tanhshrink(input):
    return input - input.tanh()


def threshold(input, threshold, value, inplace=False):
    out = _core.where(input > threshold, input, _core.full((), value, dtype=input.dtype, device=input.device))
    return _inplace(input, out, inplace)


def threshold_(input, threshold, value):
    return globals()["threshold"](input, threshold, value, True)


def hardshrink(input, lambd=0.5):
    return _core.where(input.abs() > lambd, input, _zeros_like(input))


def softshrink(input, lambd=0.5):
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    z = _zeros_like(input)
    return _core.where(input > lambd, input - lambd, _core.where(input < -lambd, input + lambd, z))


def prelu(input, weight):
    if weight.numel() != 1:
        if input.dim() == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.shape[1] if input.dim() > 1 else 1
        if channels != weight.numel():
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {weight.numel()} and channel size = {channels}.")
    if weight.dim() > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.dim()}")
    w = weight
    if input.dim() != weight.dim():
        shape = [1] * input.dim()
        if input.dim() > 1:
            shape[1] = weight.numel()
        w = weight.reshape(*shape)
    return _core.where(input > 0, input, w * input)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    if training:
        # One slope per element, drawn from U(lower, upper); positive elements keep slope 1.
        a = _core.rand(*input.shape, dtype=input.dtype, device=input.device) * (upper - lower) + lower
        out = _core.where(input >= 0, input, input * a)
    else:
        out = _core.where(input >= 0, input, input * ((lower + upper) / 2))
    return _inplace(input, out, inplace)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, True)


# ---- distances ----
def _vector_norm(x, p, dim, keepdim=False):
    """The p-norm of x over dim (p may be inf, -inf or 0), from abs, pow and sums."""
    a = x.abs()
    if p == math.inf:
        return a.amax(dim=dim, keepdim=keepdim)
    if p == -math.inf:
        return a.amin(dim=dim, keepdim=keepdim)
    if p == 0:
        return (a != 0).to(x.dtype).sum(dim=dim, keepdim=keepdim)
    if p == 1:
        return a.sum(dim=dim, keepdim=keepdim)
    # sum(|x|^p)^(1/p), with the root taken of 1 where the sum is 0: the norm of a zero vector
    # is 0 and its gradient 0 (not 0 * inf), as in PyTorch.
    s = (x * x if p == 2 else a.pow(p)).sum(dim=dim, keepdim=keepdim)
    nz = s > 0
    safe = _core.where(nz, s, _core.ones((), dtype=s.dtype, device=s.device))
    root = safe.sqrt() if p == 2 else safe.pow(1.0 / p)
    return _core.where(nz, root, _zeros_like(root))


def _check_broadcast(a, b):
    sa, sb = list(a.shape), list(b.shape)
    n = max(len(sa), len(sb))
    sa, sb = [1] * (n - len(sa)) + sa, [1] * (n - len(sb)) + sb
    for i, (x, y) in enumerate(zip(sa, sb)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {i}")


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """x1 . x2 / (max(||x1||, eps) * max(||x2||, eps)) along dim, after broadcasting x1 and x2."""
    _check_broadcast(x1, x2)
    n1 = _vector_norm(x1, 2, dim, keepdim=True)
    n2 = _vector_norm(x2, 2, dim, keepdim=True)
    n1 = _core.where(n1 > eps, n1, _core.full((), eps, dtype=n1.dtype, device=n1.device))
    n2 = _core.where(n2 > eps, n2, _core.full((), eps, dtype=n2.dtype, device=n2.device))
    return ((x1 / n1) * (x2 / n2)).sum(dim=dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim of the broadcast inputs."""
    _check_broadcast(x1, x2)
    dim = max(x1.dim(), x2.dim()) - 1
    if dim < 0:
        return (x1 - x2 + eps).abs()
    return _vector_norm(x1 - x2 + eps, p, dim, keepdim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    if out is not None:
        raise TypeError("normalize(): ember does not support out=")
    denom = _vector_norm(input, p, dim, keepdim=True)
    denom = _core.where(denom > eps, denom, _core.full((), eps, dtype=denom.dtype, device=denom.device))
    return input / denom


# ---- pixel and channel shuffles ----
def pixel_shuffle(input, upscale_factor):
    if input.dim() < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with {input.dim()} dimension(s)")
    r = int(upscale_factor)
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    c, h, w = input.shape[-3:]
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    batch = list(input.shape[:-3])
    oc = c // (r * r)
    x = input.reshape(-1, oc, r, r, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(*batch, oc, h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    if input.dim() < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with {input.dim()} dimension(s)")
    r = int(downscale_factor)
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    c, h, w = input.shape[-3:]
    if h % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)={w} is not divisible by {r}")
    batch = list(input.shape[:-3])
    x = input.reshape(-1, c, h // r, r, w // r, r).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(*batch, c * r * r, h // r, w // r)


def channel_shuffle(input, groups):
    if input.dim() <= 2:
        raise RuntimeError(f"channel_shuffle expects input to have at least 3 dimensions, but got input with {input.dim()} dimension(s)")
    g = int(groups)
    if g <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{g}")
    c = input.shape[1]
    if c % g:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {g} groups.")
    n, rest = input.shape[0], list(input.shape[2:])
    return input.reshape(n, g, c // g, *rest).transpose(1, 2).reshape(*input.shape)


native_channel_shuffle = channel_shuffle


# ---- feature (channel-wise) and alpha dropout ----
def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _noise_shape(input, feature):
    # Feature noise: one draw per (sample, channel), broadcast over the spatial dims.
    return list(input.shape[:2]) + [1] * (input.dim() - 2) if feature else list(input.shape)


def _dropout_impl(input, p, training, inplace, feature, alpha):
    if p == 0 or not training or input.numel() == 0:
        return input
    if p == 1:
        return _inplace(input, input * 0.0, inplace)
    keep = (_core.rand(*_noise_shape(input, feature), device=input.device) >= p).to(input.dtype)
    if alpha:
        # ATen's alpha dropout: dropped units go to SELU's negative saturation, then an affine
        # map (a, b) restores zero mean and unit variance.
        al = 1.7580993408473766
        a = 1.0 / math.sqrt((al * al * p + 1) * (1 - p))
        b = (keep - 1) * (al * a) + al * a * p
        out = input * (keep * a) + b
    else:
        out = input * (keep * (1.0 / (1.0 - p)))
    return _inplace(input, out, inplace)


def _feature_dropout(input, p, training, inplace, unbatched):
    x = input.unsqueeze(0) if unbatched else input
    out = _dropout_impl(x, p, training, False, True, False)
    if unbatched:
        out = out.squeeze(0)
    return _inplace(input, out, inplace) if out is not input else input


def dropout1d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    d = input.dim()
    if d not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {d}D input. Note that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, d == 2)


def dropout2d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    d = input.dim()
    if d not in (3, 4):
        warnings.warn(f"dropout2d: Received a {d}-D input to dropout2d, which is deprecated and will result in an error in a future release. To retain the behavior and silence this warning, please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if d == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will change in a future release to interpret the input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d instead.", stacklevel=2)
    if d < 2:
        return _dropout_impl(input, p, training, inplace, False, False)
    return _feature_dropout(input, p, training, inplace, False)


def dropout3d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    d = input.dim()
    if d not in (4, 5):
        warnings.warn(f"dropout3d: Received a {d}-D input to dropout3d, which is deprecated and will result in an error in a future release. To retain the behavior and silence this warning, please use dropout instead. Note that dropout3d exists to provide channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).", stacklevel=2)
    if d < 2:
        return _dropout_impl(input, p, training, inplace, False, False)
    return _feature_dropout(input, p, training, inplace, d == 4)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    return _dropout_impl(input, p, training, inplace, False, True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    return _dropout_impl(input, p, training, inplace, True, True)


# ---- losses ----
def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's mapping of the deprecated size_average/reduce pair onto reduction."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='{}' instead.".format(
        "mean" if (size_average is None or size_average) and (reduce is None or reduce) else
        "sum" if reduce is None or reduce else "none"), stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _check_reduction(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _relu(x):
    return x.clamp(min=0.0)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: {list(input1.shape)}, input2: {list(input2.shape)}, target: {list(target.shape)} ")
    return _F._reduce(_relu(-target * (input1 - input2) + margin), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    zeros = _zeros_like(input)
    margin_part = _core.where(target != 1, _relu(margin - input), zeros)
    self_part = _core.where(target != -1, input, zeros)
    return _F._reduce(margin_part + self_part, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _F._same_size_target(input, target)
    return _F._reduce(_softplus(-target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    loss = loss.sum(dim=class_dim) / input.shape[class_dim]
    return _F._reduce(loss, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    if input.dim() > 2 or (input.dim() == 2 and input.shape[1] == 0) or (input.dim() < 2 and input.numel() == 0):
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: {list(input.shape)}")
    x = input.reshape(1, -1) if input.dim() < 2 else input
    n, c = x.shape
    if target.is_floating_point():
        raise RuntimeError(f"expected scalar type Long but found {target.dtype}")
    t = target.reshape(-1)
    if t.numel() != n or target.dim() > 1:
        raise RuntimeError(f"inconsistent target size, expected {n} but got {list(target.shape)}")
    if t.numel() and ((t < 0) | (t >= c)).any().item():
        raise RuntimeError("target out of range")
    ti = t.long().unsqueeze(1)
    picked = x.gather(1, ti)
    z = _relu(margin - picked + x)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.index_select(0, t.long()).unsqueeze(1)
    # The target's own class is left out of the sum.
    not_target = (_core.arange(c, device=x.device).unsqueeze(0) != ti).to(x.dtype)
    loss = (z * not_target).sum(dim=1) / c
    if input.dim() < 2:
        loss = loss.reshape(()) if target.dim() == 0 else loss
    return _F._reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    td = target.dim()
    if td not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if td == 1 and (input1.dim() != 2 or input2.dim() != 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with sizes {list(input1.shape)} and {list(input2.shape)}.")
    if td == 0 and (input1.dim() != 1 or input2.dim() != 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with sizes {list(input1.shape)} and {list(input2.shape)}.")
    eps = 1e-12
    prod = (input1 * input2).sum(dim=td)
    m1 = (input1 * input1).sum(dim=td) + eps
    m2 = (input2 * input2).sum(dim=td) + eps
    cos = prod / (m1 * m2).sqrt()
    zeros = _zeros_like(cos)
    out = _core.where(target == 1, 1 - cos, zeros) + _core.where(target == -1, _relu(cos - margin), zeros)
    return _F._reduce(out, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    a, pd, nd = anchor.dim(), positive.dim(), negative.dim()
    if not (a == pd == nd):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of dimensions, but got: anchor {a}D, positive {pd}D, and negative {nd}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _F._reduce(_relu(margin + d_pos - d_neg), reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        # Stirling's approximation of log(target!), counted where target > 1.
        safe = _core.where(target > 1, target, _core.ones((), dtype=target.dtype, device=target.device))
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + _core.where(target > 1, stirling, _zeros_like(stirling))
    return _F._reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    if not isinstance(var, _core.Tensor):
        var = _core.full(tuple(input.shape), float(var), dtype=input.dtype, device=input.device)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.dim() > 0 and var.shape[-1] == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(reduction + " is not valid")
    if (var < 0).any().item():
        raise ValueError("var has negative entry/entries")
    # Clamped for stability; as in PyTorch the clamp passes the gradient through unchanged.
    var = var + (var.clamp(min=eps) - var).detach()
    d = input - target
    loss = 0.5 * (var.log() + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _F._reduce(loss, reduction)
