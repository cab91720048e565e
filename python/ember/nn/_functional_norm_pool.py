"""The rest of torch.nn.functional's normalisation, adaptive pooling and im2col:
instance_norm, local_response_norm, adaptive_avg_pool1d, adaptive_max_pool1d/2d, unfold, fold.

All composed from native ops: the per-row normalisation (``_norm_rows``), ``avg_pool2d``,
matmul, and ``index_select``/``gather``/``scatter_add`` with index tables computed once per
call from the shapes (NumPy, no loop over elements)."""


from .. import _core
# Shared with batch_norm (functional.py imports this module after defining them).
from .functional import _channel_affine, _normalize_by

__all__ = ["instance_norm", "local_response_norm", "adaptive_avg_pool1d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "unfold", "fold"]


def _no_grad():
    from ..autograd import no_grad

    return no_grad()


# ---- normalisation ----
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Instance norm: each (sample, channel) row normalised over its spatial elements; running
    statistics, when given, take the batch average of the per-instance mean and unbiased var."""
    if input.dim() < 2:
        raise ValueError(f"Expected 2D or higher dimensionality input (got {input.dim()} dimensions)")
    n, c = input.shape[0], input.shape[1]
    shape = [1, c] + [1] * (input.dim() - 2)
    if use_input_stats:
        m = input.numel() // max(n * c, 1)
        if m <= 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size {list(input.shape)}")
        normed, mean, rstd = _core._norm_rows(input.reshape(n * c, m), eps, True)
        out = normed.reshape(*input.shape)
        if running_mean is not None or running_var is not None:
            with _no_grad():
                if running_mean is not None:
                    bm = mean.reshape(n, c).mean(0)
                    running_mean.mul_(1 - momentum).add_(bm.to(running_mean.dtype) * momentum)
                if running_var is not None:
                    var = (1.0 / (rstd * rstd) - eps).clamp(min=0.0).reshape(n, c).mean(0) * (m / (m - 1))
                    running_var.mul_(1 - momentum).add_(var.to(running_var.dtype) * momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
        out = _normalize_by(input, running_mean, running_var, eps, shape)
    return _channel_affine(out, weight, bias, shape)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha/size * sum of x^2 over the ``size`` channels around c)^beta: the channel
    window average is one native avg_pool2d over [N, 1, C + size - 1, rest], as PyTorch's."""
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    from .functional import avg_pool2d, pad

    n, c = input.shape[0], input.shape[1]
    div = (input * input).reshape(n, 1, c, -1)
    div = pad(div, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(div, (size, 1), stride=1).reshape(*input.shape)
    div = (div * alpha + k).pow(beta)
    return input / div


# ---- adaptive pooling ----
def _single(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise RuntimeError(f"{name}() argument 'output_size' should contain one int (got {len(v)})")
        return v[0]
    return v


def _bins(n_in, n_out):
    """PyTorch's adaptive bins: start = floor(i*in/out), end = ceil((i+1)*in/out)."""
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    return start, end


def _bin_table(n_in, n_out):
    """[n_out, K] input positions of each bin, K the widest bin; short bins repeat their last
    position (it never wins over the first occurrence of the max)."""
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    start, end = _bins(n_in, n_out)
    width = int((end - start).max()) if n_out else 1
    t = start[:, None] + np.arange(width)[None, :]
    return np.minimum(t, end[:, None] - 1), width


def _check_adaptive(input, name, spatial, output_size):
    if input.dim() not in (spatial + 1, spatial + 2):
        if spatial == 1:
            raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.dim()}-dimensional tensor for argument #1 'self' (while checking arguments for {name})")
        raise RuntimeError(f"{name}(): Expected 3D or 4D tensor, but got: {list(input.shape)}")
    for d in range(1, input.dim()):
        if input.shape[d] == 0:
            raise RuntimeError(f"{name}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {list(input.shape)} with dimension {d} being empty")
    for o in output_size:
        if o is not None and o < 0:
            raise RuntimeError(f"{name}(): output_size must be non-negative, got {list(output_size)}")


def bin_average_matrix(n_in, n_out):
    """The adaptive average over one axis as a NumPy matrix [n_out, n_in] (row o averages bin
    o): adaptive_avg_pool1d's product, and F.interpolate's 'area' mode one axis at a time."""
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    start, end = _bins(n_in, n_out)
    pos = np.arange(n_in)
    return ((pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])) / (end - start)[:, None]


def adaptive_avg_pool1d(input, output_size):
    out = _single(output_size, "adaptive_avg_pool1d")
    _check_adaptive(input, "adaptive_avg_pool1d", 1, (out,))
    m = bin_average_matrix(input.shape[-1], out)
    return input @ _core.tensor(m.T, dtype=input.dtype, device=input.device)


def _max_over_table(x, tables, shapes):
    """Max over each output bin. ``tables`` are per-axis [n_out, K] position tables for the
    trailing len(tables) axes; returns (values, flat input indices)."""
    lead = list(x.shape[: x.dim() - len(tables)])
    dev = x.device
    g = x
    for a, (t, _) in enumerate(tables):
        axis = x.dim() - len(tables) + a
        g = g.index_select(axis, _core.tensor(t.reshape(-1), dtype=_core.int64, device=dev))
    if len(tables) == 1:
        (t1, k1), = tables
        g = g.reshape(*lead, t1.shape[0], k1)
        vals, arg = g.max(dim=-1)
        idx = _core.tensor(t1, dtype=_core.int64, device=dev).expand(*lead, *t1.shape).gather(-1, arg.unsqueeze(-1)).squeeze(-1)
        return vals, idx
    (th, kh), (tw, kw) = tables
    oh, ow = th.shape[0], tw.shape[0]
    g = g.reshape(*lead, oh, kh, ow, kw).transpose(-3, -2).reshape(*lead, oh, ow, kh * kw)
    vals, arg = g.max(dim=-1)
    # The flat index h*W + w of every window element, [oh, ow, kh*kw], gathered at the argmax.
    w_in = shapes[1]
    flat = (th[:, None, :, None] * w_in + tw[None, :, None, :]).reshape(oh, ow, kh * kw)
    idx = _core.tensor(flat, dtype=_core.int64, device=dev).expand(*lead, oh, ow, kh * kw).gather(-1, arg.unsqueeze(-1)).squeeze(-1)
    return vals, idx


def adaptive_max_pool1d(input, output_size, return_indices=False):
    out = _single(output_size, "adaptive_max_pool1d")
    _check_adaptive(input, "adaptive_max_pool1d", 1, (out,))
    vals, idx = _max_over_table(input, [_bin_table(input.shape[-1], out)], (input.shape[-1],))
    return (vals, idx) if return_indices else vals


def adaptive_max_pool2d(input, output_size, return_indices=False):
    oh, ow = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    _check_adaptive(input, "adaptive_max_pool2d", 2, (oh, ow))
    h, w = input.shape[-2], input.shape[-1]
    oh = h if oh is None else oh
    ow = w if ow is None else ow
    vals, idx = _max_over_table(input, [_bin_table(h, oh), _bin_table(w, ow)], (h, w))
    return (vals, idx) if return_indices else vals


# ---- im2col / col2im ----
def _pair(v, name):
    v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(v) != 2:
        raise RuntimeError(f"{name} must be an int or a tuple of two ints, got {v}")
    return v


def _im2col_index(h, w, k, d, p, s):
    """The flat positions in the padded [h + 2p, w + 2p] image of every (c-free) column entry:
    [kh*kw, L] with L = oh*ow blocks, row-major over blocks, as im2col's."""
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    hp, wp = h + 2 * p[0], w + 2 * p[1]
    oh = (hp - (d[0] * (k[0] - 1) + 1)) // s[0] + 1
    ow = (wp - (d[1] * (k[1] - 1) + 1)) // s[1] + 1
    ki = np.arange(k[0])[:, None, None, None] * d[0]
    kj = np.arange(k[1])[None, :, None, None] * d[1]
    bi = np.arange(max(oh, 0))[None, None, :, None] * s[0]
    bj = np.arange(max(ow, 0))[None, None, None, :] * s[1]
    flat = (ki + bi) * wp + (kj + bj)
    return flat.reshape(k[0] * k[1], -1), oh, ow, hp, wp


def _check_im2col(name, k, d, p, s):
    if min(k) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel_height: {k[0]} kernel_width: {k[1]}")
    if min(s) <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got stride_height: {s[0]} stride_width: {s[1]}")
    if min(d) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilation_height: {d[0]} dilation_width: {d[1]}")
    if min(p) < 0:
        raise RuntimeError(f"padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: [N, C, H, W] -> [N, C*kh*kw, L], one index_select of the padded, flattened image."""
    k, d, p, s = (_pair(v, n) for v, n in ((kernel_size, "kernel_size"), (dilation, "dilation"), (padding, "padding"), (stride, "stride")))
    _check_im2col("im2col", k, d, p, s)
    if input.dim() not in (3, 4):
        raise RuntimeError(f"Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions for input, but got: {list(input.shape)}")
    squeeze = input.dim() == 3
    x = input.unsqueeze(0) if squeeze else input
    n, c, h, w = x.shape
    flat, oh, ow, hp, wp = _im2col_index(h, w, k, d, p, s)
    if oh < 1 or ow < 1:
        raise RuntimeError(f"Given input with spatial size ({h}, {w}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), calculated shape of the array of sliding blocks as ({oh}, {ow}), but its components must be at least one.")
    if p != (0, 0):
        from .functional import pad

        x = pad(x, (p[1], p[1], p[0], p[0]))
    cols = x.reshape(n, c, hp * wp).index_select(2, _core.tensor(flat.reshape(-1), dtype=_core.int64, device=x.device))
    cols = cols.reshape(n, c * k[0] * k[1], oh * ow)
    return cols.squeeze(0) if squeeze else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, unfold's adjoint: [N, C*kh*kw, L] -> [N, C, H, W], one scatter_add of every
    column entry onto its position in the padded image (overlaps add up), then the crop."""
    o = _pair(output_size, "output_size")
    k, d, p, s = (_pair(v, n) for v, n in ((kernel_size, "kernel_size"), (dilation, "dilation"), (padding, "padding"), (stride, "stride")))
    _check_im2col("col2im", k, d, p, s)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"Expected 2D or 3D (batch mode) tensor with possibly 0 batch size and non-zero dimensions for input, but got: {list(input.shape)}")
    squeeze = input.dim() == 2
    x = input.unsqueeze(0) if squeeze else input
    n, ck, length = x.shape
    kk = k[0] * k[1]
    if ck % kk:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size(1)={ck} and kernel_size=({k[0]}, {k[1]})")
    flat, oh, ow, hp, wp = _im2col_index(o[0], o[1], k, d, p, s)
    if oh * ow != length:
        raise RuntimeError(f"Given output_size=({o[0]}, {o[1]}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), expected size of input's dimension 2 to match the calculated number of sliding blocks {oh} * {ow} = {oh * ow}, but got input.size(2)={length}.")
    c = ck // kk
    src = x.reshape(n, c, kk * length)
    idx = _core.tensor(flat.reshape(-1), dtype=_core.int64, device=x.device).expand(n, c, kk * length)
    img = _core.zeros(n, c, hp * wp, dtype=x.dtype, device=x.device).scatter_add(2, idx, src)
    img = img.reshape(n, c, hp, wp)
    if p != (0, 0):
        img = img[:, :, p[0]: p[0] + o[0], p[1]: p[1] + o[1]]
    return img.squeeze(0) if squeeze else img
