"""``ember.nn.functional``: activations, losses, convolution, pooling, normalisation and dropout.

Convolution and pooling are composed here from strided views (im2col) and one matmul; they
become single native ops with the native-kernel work of the models issue.
"""

import math

from .. import _core
from .._functions import finfo as _finfo, gelu as _gelu, silu as _silu, softplus as _softplus, zeros_like as _zeros_like


# ---- activations ----
def relu(input, inplace=False):
    return input.relu_() if inplace else input.relu()


def leaky_relu(input, negative_slope=0.01, inplace=False):
    out = _core.where(input > 0, input, input * negative_slope)
    return input.copy_(out) if inplace else out


def elu(input, alpha=1.0, inplace=False):
    out = _core.where(input > 0, input, (input.clamp(max=0.0).exp() - 1) * alpha)
    return input.copy_(out) if inplace else out


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return _gelu(input, approximate)


def silu(input, inplace=False):
    out = _silu(input)
    return input.copy_(out) if inplace else out


def mish(input, inplace=False):
    out = input * _softplus(input).tanh()
    return input.copy_(out) if inplace else out


def sigmoid(input):
    return input.sigmoid()


def tanh(input):
    return input.tanh()


def softplus(input, beta=1.0, threshold=20.0):
    return _softplus(input, beta, threshold)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return input.clamp_(min_val, max_val) if inplace else input.clamp(min_val, max_val)


def softmax(input, dim=None, dtype=None):
    return input.softmax(-1 if dim is None else dim, dtype=dtype)


def log_softmax(input, dim=None, dtype=None):
    return input.log_softmax(-1 if dim is None else dim, dtype=dtype)


# ---- linear layers ----
def linear(input, weight, bias=None):
    if weight.dim() == 1:
        # A 1-D weight is one output feature whose dimension is dropped, as in PyTorch.
        return linear(input, weight.unsqueeze(0), None if bias is None else bias.reshape(1)).squeeze(-1)
    if weight.dim() != 2:
        raise RuntimeError(f"linear(): weight must be 1-D or 2-D, got a weight of shape {list(weight.shape)}")
    # One native node: the product over all rows with the bias added as it is stored.
    return _core._linear(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    # x1^T W_o x2 for every output o: [B,1,1,I] @ [1,O,I,J] @ [B,1,J,1] -> [B,O,1,1].
    out = (input1.unsqueeze(1).unsqueeze(-2) @ weight.unsqueeze(0) @ input2.unsqueeze(1).unsqueeze(-1)).squeeze(-1).squeeze(-1)
    return out if bias is None else out + bias


def dropout(input, p=0.5, training=True, inplace=False):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = (_core.rand(*input.shape, device=input.device) >= p).to(input.dtype)
    out = input * keep * (1.0 / (1.0 - p))
    return input.copy_(out) if inplace else out


def embedding(input, weight, padding_idx=None):
    if weight.dim() != 2:
        raise RuntimeError(f"'weight' must be 2-D, got a weight of shape {list(weight.shape)}")
    if input.is_floating_point():
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got {input.dtype} instead (while checking arguments for embedding)")
    flat = input.reshape(-1)
    rows = weight.index_select(0, flat)
    if padding_idx is not None and weight.requires_grad:
        # The padding row keeps its value but takes no gradient: detached rows where it is looked up.
        pad = (flat == padding_idx).unsqueeze(1)
        rows = _core.where(pad, rows.detach(), rows)
    return rows.reshape(*input.shape, weight.shape[1])


# ---- normalisation ----
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer norm: one native op over the trailing ``normalized_shape`` dims, then the affine part."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.dim() - len(normalized_shape):]) != normalized_shape:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape [*, {', '.join(map(str, normalized_shape))}], but got input of size {list(input.shape)}")
    rows = input.reshape(-1, math.prod(normalized_shape))
    out = _core._norm_rows(rows, eps, True)[0].reshape(*input.shape)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def rms_norm(input, normalized_shape, weight=None, eps=None):
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    eps = _finfo(input.dtype).eps if eps is None else eps
    rows = input.reshape(-1, math.prod(normalized_shape))
    out = _core._norm_rows(rows, eps, False)[0].reshape(*input.shape)
    return out if weight is None else out * weight


def _normalize_by(input, mean, var, eps, shape):
    """``(input - mean) / sqrt(var + eps)`` with the per-channel ``mean``/``var`` reshaped to
    ``shape``: the one copy shared by batch_norm's eval path, instance_norm's and SyncBatchNorm's."""
    return (input - mean.reshape(*shape)) * (var.reshape(*shape) + eps).rsqrt()


def _channel_affine(out, weight, bias, shape):
    """The optional per-channel scale and shift that ends batch, instance and sync batch norm."""
    if weight is not None:
        out = out * weight.reshape(*shape)
    if bias is not None:
        out = out + bias.reshape(*shape)
    return out


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch norm: in training one native normalisation per channel (statistics over batch and
    space), with the running statistics updated from the same pass."""
    c = input.shape[1]
    shape = [1, c] + [1] * (input.dim() - 2)
    if training:
        n = input.numel() // c
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(input.shape)}")
        per_channel = input.transpose(0, 1).reshape(c, -1)
        normed, mean, rstd = _core._norm_rows(per_channel, eps, True)
        out = normed.reshape(c, input.shape[0], *input.shape[2:]).transpose(0, 1)
        if running_mean is not None:
            with _core_no_grad():
                var = (1.0 / (rstd * rstd) - eps).clamp(min=0.0)
                running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype) * momentum)
                running_var.mul_(1 - momentum).add_(var.to(running_var.dtype) * (momentum * n / (n - 1)))
    else:
        out = _normalize_by(input, running_mean, running_var, eps, shape)
    return _channel_affine(out, weight, bias, shape)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of shape {list(input.shape)} and num_groups={num_groups}")
    out = _core._norm_rows(input.reshape(n * num_groups, -1), eps, True)[0].reshape(*input.shape)
    shape = [1, c] + [1] * (input.dim() - 2)
    if weight is not None:
        out = out * weight.reshape(*shape)
    if bias is not None:
        out = out + bias.reshape(*shape)
    return out


def _core_no_grad():
    from ..autograd import no_grad

    return no_grad()


# ---- convolution and pooling (im2col over strided views) ----
def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _pad2d(x, ph, pw, value=0.0):
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    if ph:
        z = _core.full((n, c, ph, w), value, dtype=x.dtype, device=x.device)
        x = _core.cat([z, x, z], dim=2)
    if pw:
        z = _core.full((n, c, x.shape[2], pw), value, dtype=x.dtype, device=x.device)
        x = _core.cat([z, x, z], dim=3)
    return x


def _patches(x, kh, kw, stride, dilation):
    """The kh*kw shifted, strided views of x stacked on dim 2: [N, C, kh*kw, Ho, Wo]."""
    n, c, h, w = x.shape
    sh, sw = stride
    dh, dw = dilation
    ho = (h - dh * (kh - 1) - 1) // sh + 1
    wo = (w - dw * (kw - 1) - 1) // sw + 1
    if ho <= 0 or wo <= 0:
        raise RuntimeError(f"Calculated output size ({ho}x{wo}) is too small for input of shape {tuple(x.shape)} with kernel ({kh}x{kw})")
    views = []
    for i in range(kh):
        for j in range(kw):
            views.append(x[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw])
    return _core.stack(views, dim=2), ho, wo


def _conv_padding(padding, kh, kw, dilation):
    if padding == "same":
        # Odd effective kernels pad symmetrically; even ones need one more on the high side.
        th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
        return (th // 2, tw // 2), (th - th // 2 - th // 2, tw - tw // 2 - tw // 2)
    if padding == "valid":
        return (0, 0), (0, 0)
    if isinstance(padding, str):
        raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
    return _pair(padding), (0, 0)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution: one native op (im2col + gemm, parallel over the batch)."""
    if input.dim() == 3:
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    if input.dim() != 4:
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: {tuple(input.shape)}")
    if weight.dim() != 4:
        raise RuntimeError(f"conv2d: expected a 4-D weight [out_channels, in_channels/groups, kH, kW], got a weight of shape {list(weight.shape)}")
    stride, dilation = _pair(stride), _pair(dilation)
    kh, kw = weight.shape[2], weight.shape[3]
    sym, extra = _conv_padding(padding, kh, kw, dilation)
    if extra != (0, 0):
        input = pad(input, (0, extra[1], 0, extra[0]))
    out = _core._conv2d(input, weight, stride, sym, dilation, groups)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    out = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride), (0, padding) if not isinstance(padding, str) else padding, (1, dilation), groups)
    return out.squeeze(2)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling: one native op; ``return_indices`` gives flat ``h * W + w`` positions."""
    if ceil_mode:
        raise ValueError("max_pool2d: ceil_mode=True is not supported by ember yet")
    squeeze = input.dim() == 3
    x = input.unsqueeze(0) if squeeze else input
    k = _pair(kernel_size)
    s = _pair(stride if stride is not None else kernel_size)
    out, idx = _core._max_pool2d(x, k, s, _pair(padding), _pair(dilation))
    if squeeze:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """2-D average pooling: one native op."""
    if ceil_mode:
        raise ValueError("avg_pool2d: ceil_mode=True is not supported by ember yet")
    squeeze = input.dim() == 3
    x = input.unsqueeze(0) if squeeze else input
    k = _pair(kernel_size)
    out = _core._avg_pool2d(x, k, _pair(stride if stride is not None else kernel_size), _pair(padding), count_include_pad)
    if divisor_override is not None:
        # Undo the window-size divisor and apply the given one (only valid without padding effects).
        out = out * (k[0] * k[1] / divisor_override)
    return out.squeeze(0) if squeeze else out


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return max_pool2d(input.unsqueeze(-2), (1, kernel_size), (1, stride if stride is not None else kernel_size), (0, padding), (1, dilation), ceil_mode, return_indices).squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return avg_pool2d(input.unsqueeze(-2), (1, kernel_size), (1, stride if stride is not None else kernel_size), (0, padding), ceil_mode, count_include_pad).squeeze(-2)


def adaptive_avg_pool2d(input, output_size):
    if input.dim() not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    oh, ow = _pair(output_size)
    if (oh is not None and oh <= 0) or (ow is not None and ow <= 0):
        raise RuntimeError(f"adaptive_avg_pool2d(): output_size must be positive, got {output_size}")
    h, w = input.shape[-2], input.shape[-1]
    oh = h if oh is None else oh
    ow = w if ow is None else ow
    rows = []
    for i in range(oh):
        h0, h1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        cols = []
        for j in range(ow):
            w0, w1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            cols.append(input[..., h0:h1, w0:w1].mean(dim=(-2, -1)))
        rows.append(_core.stack(cols, dim=-1))
    return _core.stack(rows, dim=-2)


# ---- losses ----
def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _unbatched_class_input(input, target, name):
    """PyTorch's checks for a loss over class scores: a 0-d input has no class dimension (its
    log_softmax/gather over dim 1 is an IndexError there) and a 1-D one takes a 0-d target."""
    if input.dim() == 0:
        raise IndexError(f"{name}: input of shape [] has no class dimension (expected [C] or [N, C, ...])")
    if input.dim() == 1 and target.dim() != 0:
        raise ValueError(f"{name}: an unbatched input of shape {list(input.shape)} takes a 0-d target, got shape {list(target.shape)}")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    _unbatched_class_input(input, target, "nll_loss")
    if input.dim() == 1:
        loss = nll_loss(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index, reduction)
        return loss.squeeze(0) if reduction == "none" else loss
    if target.dim() != input.dim() - 1:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({target.shape[0] if target.dim() else 0}).")
    if input.dim() > 2:
        c = input.shape[1]
        perm = [0] + list(range(2, input.dim())) + [1]
        flat = nll_loss(input.permute(*perm).reshape(-1, c), target.reshape(-1), weight, ignore_index, reduction)
        return flat.reshape(*target.shape) if reduction == "none" else flat
    if input.shape[0] != target.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({target.shape[0]}).")
    if target.is_floating_point():
        raise RuntimeError(f"expected scalar type Long but found {target.dtype} for the target")
    valid = target != ignore_index
    safe = _core.where(valid, target, _zeros_like(target))
    # Checked where the data is: on a GPU this raises at the next read, as CUDA's assert does.
    _core._check_class_targets(target, input.shape[-1], ignore_index)
    picked = -input.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = valid.to(input.dtype)
    if weight is not None:
        w = w * weight.index_select(0, safe)
    loss = picked * w
    if reduction == "mean":
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross entropy; with class indices it is one fused native op (log-softmax, weights,
    ignore_index and label smoothing in one pass, and its own backward)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if target.is_floating_point():
        # Class probabilities.
        logp = input.log_softmax(1 if input.dim() > 1 else 0)
        t = target
        if label_smoothing > 0:
            t = t * (1 - label_smoothing) + label_smoothing / input.shape[1 if input.dim() > 1 else 0]
        per = logp * t
        if weight is not None:
            per = per * weight.reshape(1, -1, *([1] * (input.dim() - 2)))
        return _reduce(-per.sum(dim=1 if input.dim() > 1 else 0), reduction)
    _unbatched_class_input(input, target, "cross_entropy")
    if input.dim() == 1:
        loss = cross_entropy(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index, reduction, label_smoothing)
        return loss.squeeze(0) if reduction == "none" else loss
    if input.dim() > 2:
        # [N, C, d1, ...] -> rows of C logits, one per position.
        c = input.shape[1]
        expected = [input.shape[0], *input.shape[2:]]
        if list(target.shape) != expected:
            raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")
        perm = [0] + list(range(2, input.dim())) + [1]
        flat = cross_entropy(input.permute(*perm).reshape(-1, c), target.reshape(-1), weight, ignore_index, reduction, label_smoothing)
        return flat.reshape(*target.shape) if reduction == "none" else flat
    return _core._cross_entropy(input, target, weight, ignore_index, float(label_smoothing), reduction)


def mse_loss(input, target, reduction="mean"):
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    return _reduce((input - target).abs(), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got {delta}")
    d = (input - target).abs()
    loss = _core.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    loss = _core.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, reduction)


def _same_size_target(input, target):
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({list(target.shape)}) that is different to the input size ({list(input.shape)}) is deprecated. Please ensure they have the same size.")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    _same_size_target(input, target)
    # Checked where the data is: on a GPU this raises at the next read, as CUDA's assert does.
    _core._assert_none((input < 0) | (input > 1), "all elements of input should be between 0 and 1")
    logs = input.log().clamp(min=-100.0)
    log1m = (1 - input).log().clamp(min=-100.0)
    loss = -(target * logs + (1 - target) * log1m)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    _same_size_target(input, target)
    # log(sigmoid(x)) = -softplus(-x), log(1 - sigmoid(x)) = -softplus(x): stable for large |x|.
    sp_neg = _softplus(-input)
    sp_pos = _softplus(input)
    if pos_weight is not None:
        loss = pos_weight * target * sp_neg + (1 - target) * sp_pos
    else:
        loss = target * sp_neg + (1 - target) * sp_pos
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = _core.where(target > 0, target * (target.clamp(min=1e-38).log() - input), _zeros_like(target))
    if reduction == "batchmean":
        return loss.sum() / input.shape[0]
    return _reduce(loss, reduction)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """softmax(q k^T * scale + mask) v: one native op (scores, masked softmax and output in one
    pass per batch-head, native backward). A bool mask keeps True positions, as in PyTorch."""
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    mask = attn_mask
    if mask is not None and mask.dtype == _core.bool:
        mask = _core.where(mask, _core.zeros((), dtype=query.dtype, device=query.device), _core.full((), float("-inf"), dtype=query.dtype, device=query.device))
    if dropout_p > 0.0:
        # Attention dropout needs the probabilities themselves: the composed path.
        scores = query @ key.transpose(-2, -1) * s
        if is_causal:
            L, S = query.shape[-2], key.shape[-2]
            scores = scores.masked_fill(~_core.ones(L, S, dtype=_core.bool, device=query.device).tril(), float("-inf"))
        if mask is not None:
            scores = scores + mask
        return dropout(scores.softmax(-1), dropout_p) @ value
    batch = _broadcast_batch(query, key, value)
    q, k, v = (t.expand(*batch, *t.shape[-2:]) for t in (query, key, value))
    return _core._attention(q, k, v, mask, float(s), bool(is_causal))


def _broadcast_batch(*ts):
    shape = []
    for t in ts:
        dims = list(t.shape[:-2])
        shape = [max(a, b) for a, b in zip([1] * (len(dims) - len(shape)) + shape, [1] * (len(shape) - len(dims)) + dims)]
    return shape


def one_hot(tensor, num_classes=-1):
    if tensor.is_floating_point() or tensor.dtype == _core.bool:
        raise RuntimeError(f"one_hot is only applicable to index tensor of an integer type, got {tensor.dtype}")
    if tensor.numel() and (tensor < 0).any().item():
        raise RuntimeError("Class values must be non-negative.")
    if num_classes < 0 and tensor.numel() == 0:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    n = int(tensor.max().item()) + 1 if num_classes < 0 else num_classes
    if tensor.numel() and (tensor >= n).any().item():
        raise RuntimeError(f"Class values must be smaller than num_classes ({n}).")
    return (tensor.unsqueeze(-1) == _core.arange(n, device=tensor.device)).long()


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """PyTorch's ``F.pad``: ``pad`` gives (left, right) amounts from the last dim backwards.

    'constant' fills with ``value``; 'reflect', 'replicate' and 'circular' gather each padded
    dim through one index_select (so the gradient is the matching scatter-add), with PyTorch's
    rules on the input's rank and on the pad sizes."""
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.dim():
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got padding length {len(pad)} and input of dimension {input.dim()}")
    if mode == "constant":
        return _constant_pad(input, pad, 0.0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    k = len(pad) // 2
    if k not in (1, 2, 3) or input.dim() not in (k + 1, k + 2):
        raise NotImplementedError("Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now")
    for i in range(k):
        dim = input.dim() - 1 - i
        n, lo, hi = input.shape[dim], pad[2 * i], pad[2 * i + 1]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, but got: padding ({lo}, {hi}) at dimension {dim} of input {list(input.shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if n + lo + hi < (0 if mode == "circular" else 1):
            raise RuntimeError(f"input (size {n} at dimension {dim}) is too small. Calculated output size: {n + lo + hi}")
        if mode != "circular" and n == 0:
            raise RuntimeError(f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions for input, but got: {list(input.shape)}")
    x = input
    for i in range(k):
        dim = x.dim() - 1 - i
        n, lo, hi = x.shape[dim], pad[2 * i], pad[2 * i + 1]
        if lo == 0 and hi == 0:
            continue
        if mode == "circular" and (lo < 0 or hi < 0):
            # As ATen does: crop first, then wrap around what is left.
            x = x.narrow(dim, max(-lo, 0), n - max(-lo, 0) - max(-hi, 0))
            n, lo, hi = x.shape[dim], max(lo, 0), max(hi, 0)
            if n == 0 or (lo == 0 and hi == 0):
                continue
        idx = []
        for j in range(-lo, n + hi):
            if mode == "reflect":
                j = -j if j < 0 else (2 * (n - 1) - j if j >= n else j)
            elif mode == "replicate":
                j = min(max(j, 0), n - 1)
            else:
                j %= n
            idx.append(j)
        x = x.index_select(dim, _core.tensor(idx, dtype=_core.int64, device=x.device))
    return x


def _pad_dim(x, dim, lo, hi, value=0.0):
    """Pads ``x`` along ``dim`` with ``value`` (differentiably, through cat); ``lo``/``hi`` >= 0.
    The one copy of this step, shared by constant ``pad``, ConvTranspose's pad-or-crop and the
    pooling/conv helpers in _functional_more.py."""
    if lo == 0 and hi == 0:
        return x
    shape = list(x.shape)
    parts = []
    if lo:
        shape[dim] = lo
        parts.append(_core.full(shape, value, dtype=x.dtype, device=x.device))
    parts.append(x)
    if hi:
        shape[dim] = hi
        parts.append(_core.full(shape, value, dtype=x.dtype, device=x.device))
    return _core.cat(parts, dim=dim)


def _constant_pad(input, pad, value):
    x = input
    for i in range(len(pad) // 2):
        dim = x.dim() - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        # Negative padding crops, as in PyTorch.
        if lo < 0 or hi < 0:
            keep = x.shape[dim] + min(lo, 0) + min(hi, 0)
            if keep < 0:
                raise RuntimeError(f"The input size {x.shape[dim]}, plus negative padding {lo} and {hi} resulted in a negative output size, which is invalid. Check dimension {dim} of your input.")
            x = x.narrow(dim, -min(lo, 0), keep)
            lo, hi = max(lo, 0), max(hi, 0)
        x = _pad_dim(x, dim, lo, hi, value)
    return x


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


# The rest of torch.nn.functional (activations, distances, shuffles, feature dropout, losses).
from ._functional_extra import *  # noqa: E402,F401,F403
from ._functional_extra import __all__ as _extra_all  # noqa: E402
from ._interpolate import interpolate, upsample, upsample_bilinear, upsample_nearest  # noqa: E402,F401
from ._functional_more import conv_transpose1d, conv3d, max_pool2d, avg_pool2d, max_pool3d, avg_pool3d, embedding_bag, gumbel_softmax, affine_grid, grid_sample  # noqa: E402,F401
from ._functional_norm_pool import adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool2d, fold, instance_norm, local_response_norm, unfold  # noqa: E402,F401
