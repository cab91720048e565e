"""More of ``torch.nn.functional``, composed from ember's native ops.

* ``conv_transpose1d``: the 2-D transposed convolution over a unit height.
* ``conv3d``: a sum over the kernel's depth taps of one conv2d each, the output depths folded
  into the batch (k_d native calls, whatever the input size).
* ``max_pool2d``/``avg_pool2d`` with ``ceil_mode`` (and ``divisor_override`` under padding),
  ``max_pool3d``/``avg_pool3d``: a box window is separable, so a 3-D pool is a 2-D pool over
  (H, W) and then one over depth; averages are window sums divided by PyTorch's divisor.
* ``embedding_bag``: index_select, then scatter_add per bag (sum/mean) or a padded amax (max).
* ``gumbel_softmax``, ``affine_grid`` and ``grid_sample`` (4-D; bilinear and nearest, zeros /
  border / reflection padding), the last built from gather, differentiable in input and grid.
"""

import math
import warnings

from .. import _core
from . import functional as _F
from .functional import _pad_dim  # the shared pad-one-dim step (constant pad uses it too)

_max_pool2d_native = _F.max_pool2d
_avg_pool2d_native = _F.avg_pool2d

__all__ = ["conv_transpose1d", "conv3d", "max_pool2d", "avg_pool2d", "max_pool3d", "avg_pool3d",
           "embedding_bag", "gumbel_softmax", "affine_grid", "grid_sample"]


def _tup(v, n, name="argument"):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return tuple(v) * n
        if len(v) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match the convolution dimensions, but got {name}={list(v)}")
        return tuple(v)
    return (v,) * n


# ---- convolutions ----
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution; ``weight`` is ``[C_in, C_out / groups, kW]`` as in PyTorch."""
    from .conv_transpose import conv_transpose2d

    if input.dim() == 2:
        return conv_transpose1d(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups, dilation).squeeze(0)
    if input.dim() != 3:
        raise RuntimeError(f"Expected 2D (unbatched) or 3D (batched) input to conv_transpose1d, but got input of size: {list(input.shape)}")
    if weight.dim() != 3:
        raise RuntimeError(f"conv_transpose1d: weight must be 3D [C_in, C_out/groups, kW], got {list(weight.shape)}")
    (s,), (p,), (op,), (d,) = (_tup(v, 1, n) for v, n in ((stride, "stride"), (padding, "padding"), (output_padding, "output_padding"), (dilation, "dilation")))
    out = conv_transpose2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), (0, p), (0, op), groups, (1, d))
    return out.squeeze(2)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution: for each depth tap ``t`` one conv2d of the depth-strided slice starting at
    ``t * dilation`` (all output depths in the batch) with ``weight[:, :, t]``, summed."""
    if input.dim() == 4:
        return conv3d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    if input.dim() != 5:
        raise RuntimeError(f"Expected 4D (unbatched) or 5D (batched) input to conv3d, but got input of size: {list(input.shape)}")
    if weight.dim() != 5:
        raise RuntimeError(f"Expected 5-dimensional weight for 5-dimensional input {list(input.shape)}, but got {weight.dim()}-dimensional weight of size {list(weight.shape)} instead")
    if input.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(input.shape)} to have {weight.shape[1] * groups} channels, but got {input.shape[1]} channels instead")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but got weight of size {list(weight.shape)} instead")
    stride, dilation = _tup(stride, 3, "stride"), _tup(dilation, 3, "dilation")
    k = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            lo = hi = (0, 0, 0)
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            tot = [d * (kk - 1) for d, kk in zip(dilation, k)]
            lo = tuple(t // 2 for t in tot)
            hi = tuple(t - t // 2 for t in tot)
        else:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
    else:
        lo = hi = _tup(padding, 3, "padding")
    x = input
    # Asymmetric ('same' with an even effective kernel) padding goes on explicitly, high side.
    x = _pad_dim(x, 2, lo[0], hi[0])
    x = _pad_dim(x, 3, 0, hi[1] - lo[1])
    x = _pad_dim(x, 4, 0, hi[2] - lo[2])
    n, c, dp, h, w = x.shape
    kd, sd, dd = k[0], stride[0], dilation[0]
    od = (dp - dd * (kd - 1) - 1) // sd + 1
    if od <= 0:
        raise RuntimeError(f"Calculated output size is too small: input {list(input.shape)} with kernel {list(k)} gives an output depth of {od}")
    xt = x.transpose(1, 2)  # [N, D, C, H, W]
    out = None
    for t in range(kd):
        xs = xt[:, t * dd: t * dd + sd * (od - 1) + 1: sd].reshape(n * od, c, h, w)
        y = _F.conv2d(xs, weight[:, :, t], None, stride[1:], lo[1:], dilation[1:], groups)
        out = y if out is None else out + y
    o, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    out = out.reshape(n, od, o, oh, ow).transpose(1, 2)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out


# ---- pooling ----
def _pool_size(n, k, s, p, d, ceil_mode, name):
    if s <= 0:
        raise RuntimeError(f"{name}: stride should be greater than zero, but got {s}")
    if k <= 0:
        raise RuntimeError(f"{name}: kernel_size should be greater than zero, but got {k}")
    num = n + 2 * p - d * (k - 1) - 1
    if ceil_mode:
        o = -(-num // s) + 1
        # The last window must start inside the input or the left padding.
        if (o - 1) * s >= n + p:
            o -= 1
    else:
        o = num // s + 1
    if o < 1:
        raise RuntimeError(f"{name}: Given input size {n}, calculated output size {o}: output size is too small")
    return o


def _check_pool_pad(k, p, d, name):
    for kk, pp, dd in zip(k, p, d):
        if pp < 0 or pp > ((kk - 1) * dd + 1) // 2:
            raise RuntimeError(f"{name}: pad should be at most half of effective kernel size, but got pad={pp}, kernel_size={kk} and dilation={dd}")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling (one native op); ``ceil_mode`` pads the high side with -inf to PyTorch's
    output size first. ``return_indices`` gives flat ``h * W + w`` positions."""
    if not ceil_mode:
        return _max_pool2d_native(input, kernel_size, stride, padding, dilation, False, return_indices)
    if input.dim() not in (3, 4):
        raise RuntimeError(f"max_pool2d: Expected 3D or 4D tensor, but got {list(input.shape)}")
    k = _tup(kernel_size, 2, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _tup(stride, 2, "stride")
    p, d = _tup(padding, 2, "padding"), _tup(dilation, 2, "dilation")
    _check_pool_pad(k, p, d, "max_pool2d")
    h, w = input.shape[-2], input.shape[-1]
    oh, ow = (_pool_size(n, kk, ss, pp, dd, True, "max_pool2d") for n, kk, ss, pp, dd in zip((h, w), k, s, p, d))
    eh = max(0, (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1 - (h + 2 * p[0]))
    ew = max(0, (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1 - (w + 2 * p[1]))
    nd = input.dim()
    x = _pad_dim(_pad_dim(input, nd - 2, 0, eh, -math.inf), nd - 1, 0, ew, -math.inf)
    out = _max_pool2d_native(x, k, s, p, d, False, return_indices)
    if not return_indices:
        return out
    out, idx = out
    if ew:
        wp = w + ew
        idx = idx - (idx // wp) * ew
    return out, idx


def _avg_divisors(n, k, s, p, o, count_include_pad):
    """PyTorch's per-output divisor along one axis (avg_pool's pool_size rule)."""
    out = []
    for i in range(o):
        start = i * s - p
        end = min(start + k, n + p)
        size = end - start
        start, end = max(start, 0), min(end, n)
        out.append(size if count_include_pad else end - start)
    return out


def _avg_pool_nd(input, nd, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, name):
    """N-D (2 or 3) average pooling: zero-padded window sums (native 2-D pools over (H, W), then a
    (k, 1) pool over depth) divided by PyTorch's divisor, an outer product of per-axis ones."""
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError(f"{name}: Expected {nd + 1}D or {nd + 2}D tensor, but got {list(input.shape)}")
    k = _tup(kernel_size, nd, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _tup(stride, nd, "stride")
    p = _tup(padding, nd, "padding")
    for kk, pp in zip(k, p):
        if pp < 0 or pp > kk // 2:
            raise RuntimeError(f"{name}: pad should be at most half of kernel size, but got pad={pp} and kernel_size={kk}")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{name}: divisor must be not zero")
    squeeze = input.dim() == nd + 1
    x = input.unsqueeze(0) if squeeze else input
    sizes = list(x.shape[2:])
    outs = [_pool_size(n, kk, ss, pp, 1, ceil_mode, name) for n, kk, ss, pp in zip(sizes, k, s, p)]
    for ax in range(nd):
        hi = max(p[ax], (outs[ax] - 1) * s[ax] + k[ax] - sizes[ax] - p[ax])
        x = _pad_dim(x, 2 + ax, p[ax], hi)
    n, c = x.shape[0], x.shape[1]
    kh, kw = k[-2], k[-1]
    if nd == 2:
        y = _avg_pool2d_native(x, (kh, kw), s, 0, False, True)
        y = y.narrow(2, 0, outs[0]).narrow(3, 0, outs[1]) * (kh * kw)
    else:
        dp, hp, wp = x.shape[2:]
        y = _avg_pool2d_native(x.reshape(n, c * dp, hp, wp), (kh, kw), s[1:], 0, False, True)
        y = y.narrow(2, 0, outs[1]).narrow(3, 0, outs[2]) * (kh * kw)
        y = y.reshape(n, c, dp, outs[1] * outs[2])
        y = _avg_pool2d_native(y, (k[0], 1), (s[0], 1), 0, False, True).narrow(2, 0, outs[0]) * k[0]
        y = y.reshape(n, c, *outs)
    if divisor_override is not None:
        y = y / divisor_override
    else:
        div = None
        for ax in range(nd):
            v = _core.tensor(_avg_divisors(sizes[ax], k[ax], s[ax], p[ax], outs[ax], count_include_pad), dtype=y.dtype, device=y.device)
            shape = [1] * nd
            shape[ax] = outs[ax]
            v = v.reshape(*shape)
            div = v if div is None else div * v
        y = y / div
    return y.squeeze(0) if squeeze else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """2-D average pooling: one native op, or with ``ceil_mode``/``divisor_override`` window sums
    over PyTorch's divisors."""
    if not ceil_mode and divisor_override is None:
        return _avg_pool2d_native(input, kernel_size, stride, padding, False, count_include_pad)
    return _avg_pool_nd(input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, "avg_pool2d")


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """3-D average pooling over [N, C, D, H, W] (or [C, D, H, W])."""
    return _avg_pool_nd(input, 3, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, "avg_pool3d")


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling: a 2-D max pool over (H, W), then a (k_d, 1) one over depth.
    ``return_indices`` gives flat ``d * H * W + h * W + w`` positions."""
    if input.dim() not in (4, 5):
        raise RuntimeError(f"max_pool3d: Expected 4D or 5D tensor, but got {list(input.shape)}")
    squeeze = input.dim() == 4
    x = input.unsqueeze(0) if squeeze else input
    k = _tup(kernel_size, 3, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _tup(stride, 3, "stride")
    p, d = _tup(padding, 3, "padding"), _tup(dilation, 3, "dilation")
    _check_pool_pad(k, p, d, "max_pool3d")
    n, c, dd, h, w = x.shape
    od = _pool_size(dd, k[0], s[0], p[0], d[0], ceil_mode, "max_pool3d")
    r1 = max_pool2d(x.reshape(n, c * dd, h, w), k[1:], s[1:], p[1:], d[1:], ceil_mode, return_indices)
    y, i1 = r1 if return_indices else (r1, None)
    oh, ow = y.shape[2], y.shape[3]
    r2 = max_pool2d(y.reshape(n, c, dd, oh * ow), (k[0], 1), (s[0], 1), (p[0], 0), (d[0], 1), ceil_mode, return_indices)
    out, i2 = r2 if return_indices else (r2, None)
    assert out.shape[2] == od
    out = out.reshape(n, c, od, oh, ow)
    if return_indices:
        # i2 is the flat (depth, hw-cell) position in the first pool's output; i1 there holds h * W + w.
        hw = i1.reshape(n, c, dd * oh * ow).gather(2, i2.reshape(n, c, od * oh * ow))
        idx = ((i2.reshape(n, c, od * oh * ow) // (oh * ow)) * (h * w) + hw).reshape(n, c, od, oh, ow)
        return (out.squeeze(0), idx.squeeze(0)) if squeeze else (out, idx)
    return out.squeeze(0) if squeeze else out


# ---- embedding bags ----
def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embedding rows, as ``torch.nn.functional.embedding_bag``:
    a 2-D ``input`` is one bag per row; a 1-D one is split at ``offsets``. Entries equal to
    ``padding_idx`` are left out of their bag; an empty bag gives zeros."""
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.dim()}")
    if input.is_floating_point():
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got {input.dtype} instead (while checking arguments for embedding_bag)")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: max_norm, scale_grad_by_freq and sparse are not supported by ember yet")
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not None, then it must have the same shape as the input ({list(input.shape)})")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length sequences. However, found offsets of type {}".format(type(offsets)))
        b, length = input.shape
        starts = [i * length for i in range(b)]
        ends = [(i + 1) * length for i in range(b)]
        flat = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        flat = input
        offs = [int(v) for v in offsets.tolist()]
        if offs and offs[0] != 0:
            raise RuntimeError(f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position 0. However, got {offs[0]}")
        total = flat.shape[0]
        if include_last_offset:
            if not offs:
                raise RuntimeError("include_last_offset: number of offsets should be at least 1")
            starts, ends = offs[:-1], offs[1:]
        else:
            starts, ends = offs, offs[1:] + [total]
        for a, e in zip(starts, ends):
            if a > e or e > total:
                raise RuntimeError(f"offsets has to be a non-decreasing sequence within the input's length {total}, got {offs}")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' (got mode='{mode}'). Please open a feature request on the PyTorch GitHub.")
    num, dim = weight.shape
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("padding_idx must be within num_embeddings")
        padding_idx = padding_idx % num
    values = [int(v) for v in flat.tolist()]
    for v in values:
        if not 0 <= v < num:
            raise RuntimeError(f"embedding_bag: Expected idx >= 0 && idx < num_embeddings but found idx to be {v}")
    bsz = len(starts)
    pos, bag, counts = [], [], []
    for bi, (a, e) in enumerate(zip(starts, ends)):
        kept = [j for j in range(a, e) if padding_idx is None or values[j] != padding_idx]
        pos += kept
        bag += [bi] * len(kept)
        counts.append(len(kept))
    dev = weight.device
    if not pos:
        return _core.zeros(bsz, dim, dtype=weight.dtype, device=dev)
    pos_t = _core.tensor(pos, dtype=_core.int64, device=dev)
    idx = flat.to(dev).index_select(0, pos_t).long()
    rows = weight.index_select(0, idx)
    if mode == "max":
        width = max(counts)
        slots, mask = [], []
        cursor = 0
        for cnt in counts:
            slots += list(range(cursor, cursor + cnt)) + [0] * (width - cnt)
            mask += [True] * cnt + [False] * (width - cnt)
            cursor += cnt
        padded = rows.index_select(0, _core.tensor(slots, dtype=_core.int64, device=dev)).reshape(bsz, width, dim)
        m = _core.tensor(mask, dtype=_core.bool, device=dev).reshape(bsz, width, 1)
        neg = _core.full((1,), -math.inf, dtype=weight.dtype, device=dev)
        out = _core.where(m, padded, neg).amax(1)
        empty = _core.tensor([cnt == 0 for cnt in counts], dtype=_core.bool, device=dev).reshape(bsz, 1)
        return _core.where(empty, _core.zeros(1, dtype=weight.dtype, device=dev), out)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.to(dev).index_select(0, pos_t).unsqueeze(1)
    bag_t = _core.tensor(bag, dtype=_core.int64, device=dev).reshape(-1, 1).expand(len(pos), dim)
    out = _core.zeros(bsz, dim, dtype=rows.dtype, device=dev).scatter_add(0, bag_t, rows)
    if mode == "mean":
        cnt = _core.tensor([max(cn, 1) for cn in counts], dtype=rows.dtype, device=dev).reshape(bsz, 1)
        out = out / cnt
    return out


# ---- sampling ----
def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """Samples from the Gumbel-softmax distribution; ``hard=True`` gives one-hot samples whose
    gradient is the soft sample's (straight-through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.")
    u = _core.rand(*logits.shape, dtype=logits.dtype, device=logits.device)
    tiny = _F._finfo(logits.dtype).tiny
    gumbels = -(-(u.clamp(min=tiny)).log()).clamp(min=tiny).log()
    y_soft = _F.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    y_hard = _core.zeros(*logits.shape, dtype=logits.dtype, device=logits.device).scatter(
        dim, index, _core.ones(*index.shape, dtype=logits.dtype, device=logits.device))
    return y_hard - y_soft.detach() + y_soft


def _align_default(align_corners, name):
    if align_corners is None:
        warnings.warn(f"Default {name} behavior has changed to align_corners=False since 1.3.0. Please specify align_corners=True if the old behavior is desired. See the documentation of {name} for details.")
        return False
    return align_corners


def _base_coords(n, align_corners, dtype, device):
    if n <= 1:
        return _core.zeros(max(n, 0), dtype=dtype, device=device)
    v = _core.linspace(-1.0, 1.0, n, dtype=dtype, device=device)
    return v if align_corners else v * ((n - 1) / n)


def affine_grid(theta, size, align_corners=None):
    """The [N, H, W, 2] sampling grid of 2-D affine maps ``theta`` [N, 2, 3] (as PyTorch's)."""
    align_corners = _align_default(align_corners, "affine_grid")
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    if len(size) != 4:
        raise NotImplementedError(f"affine_grid only supports 4D sizes, for 2D affine transformations (ember has no 3-D form yet). Got size {size}.")
    if theta.dim() != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
        raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got {list(theta.shape)}.")
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    n, _, h, w = size
    if theta.shape[0] != n:
        # PyTorch's batched matmul of the base grid with theta fails here.
        raise RuntimeError(f"affine_grid: theta holds {theta.shape[0]} matrices but size asks for a batch of {n}")
    xs = _base_coords(w, align_corners, theta.dtype, theta.device).reshape(1, w).expand(h, w)
    ys = _base_coords(h, align_corners, theta.dtype, theta.device).reshape(h, 1).expand(h, w)
    ones = _core.ones(h, w, dtype=theta.dtype, device=theta.device)
    base = _core.stack([xs, ys, ones], dim=-1).reshape(1, h * w, 3).expand(n, h * w, 3)
    return base.matmul(theta.transpose(1, 2)).reshape(n, h, w, 2)


def _reflect(x, twice_low, twice_high):
    if twice_low == twice_high:
        return x * 0
    lo = twice_low / 2
    span = (twice_high - twice_low) / 2
    x = (x - lo).abs()
    flips = (x / span).floor().detach()
    extra = x - flips * span
    odd = (flips - 2 * (flips / 2).floor()) != 0
    return _core.where(odd, span - extra + lo, extra + lo)


def _source_index(coord, size, padding_mode, align_corners):
    if align_corners:
        x = (coord + 1) / 2 * (size - 1)
    else:
        x = ((coord + 1) * size - 1) / 2
    if padding_mode == "border":
        x = x.clamp(0, size - 1)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
        x = x.clamp(0, size - 1)
    return x


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Samples ``input`` [N, C, H, W] at ``grid`` [N, Ho, Wo, 2] ((x, y) in [-1, 1]), as PyTorch's
    grid_sample for 4-D input: each corner is a gather over the flattened image."""
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear' or 'nearest' (ember has no 'bicubic' yet), but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', but got: '{padding_mode}'")
    align_corners = _align_default(align_corners, "grid_sample")
    if input.dim() != 4:
        raise RuntimeError(f"grid_sampler(): expected 4D input (ember has no 5-D form yet), but got input with sizes {list(input.shape)}")
    if grid.dim() != 4 or grid.shape[-1] != 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size 2 in last dimension and to be 4D, but got grid with sizes {list(grid.shape)}")
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    n, c, h, w = input.shape
    _, ho, wo, _ = grid.shape
    flat = input.reshape(n, c, h * w)
    ix = _source_index(grid[..., 0], w, padding_mode, align_corners).reshape(n, 1, ho * wo)
    iy = _source_index(grid[..., 1], h, padding_mode, align_corners).reshape(n, 1, ho * wo)

    def tap(xi, yi):
        inb = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
        lin = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long().expand(n, c, ho * wo)
        return flat.gather(2, lin), inb.to(input.dtype)

    if mode == "nearest":
        xr, yr = ix.detach().round(), iy.detach().round()
        v, m = tap(xr, yr)
        return (v * m).reshape(n, c, ho, wo)
    x0, y0 = ix.detach().floor(), iy.detach().floor()
    x1, y1 = x0 + 1, y0 + 1
    wx1, wy1 = ix - x0, iy - y0
    wx0, wy0 = 1 - wx1, 1 - wy1
    out = None
    for xi, yi, wgt in ((x0, y0, wx0 * wy0), (x1, y0, wx1 * wy0), (x0, y1, wx0 * wy1), (x1, y1, wx1 * wy1)):
        v, m = tap(xi, yi)
        term = v * (wgt * m)
        out = term if out is None else out + term
    return out.reshape(n, c, ho, wo)
