"""``F.interpolate`` and ``nn.Upsample``: resampling one spatial axis at a time (every mode PyTorch
has is separable), each as one to four index_selects and a weighted sum, so every device and
autograd come with the native ops it is made of.

Source positions follow ATen's conventions exactly (``area_pixel_compute_source_index``, the
float32 nearest index, the cubic convolution with A = -0.75), so results match PyTorch's.
"""

import math
from numbers import Number

from .. import _core

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
# The spatial rank each interpolating mode takes (nearest, nearest-exact and area take any).
_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_CUBIC_A = -0.75

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


def _per_axis(value, n, what):
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"Input and {what} must have the same number of spatial dimensions, but got input with "
                f"{n} spatial dimensions and {what} {list(value)}. Please provide input tensor in "
                f"(N, C, d1, d2, ...,dK) format and {what} in (o1, o2, ...,oK) format.")
        return list(value)
    return [value] * n


def _output_sizes(input, size, scale_factor, recompute_scale_factor):
    """(output sizes, the scales the kernels use or None per axis), as F.interpolate decides them."""
    n = input.dim() - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if size is not None:
        sizes = [int(s) for s in _per_axis(size, n, "output size")]
        if any(s <= 0 for s in sizes):
            raise ValueError(f"Input and output sizes should be greater than 0, but got input {spatial} and output {sizes}")
        return sizes, [None] * n
    scales = [float(s) for s in _per_axis(scale_factor, n, "scale_factor")]
    if any(not math.isfinite(s) or s <= 0 for s in scales):
        raise ValueError(f"scale_factor must be positive and finite, got {scale_factor}")
    sizes = [int(math.floor(d * s)) for d, s in zip(spatial, scales)]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"Input and output sizes should be greater than 0, but got input {spatial} and output {sizes}")
    return sizes, [None] * n if recompute_scale_factor else scales


def _ratio(n_in, n_out, scale, align_corners):
    """ATen's area_pixel_compute_scale: how far one output step moves in the input."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else n_in / n_out


def _source(n_in, n_out, scale, align_corners, cubic):
    """Each output position's (fractional) source coordinate."""
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    r = _ratio(n_in, n_out, scale, align_corners)
    d = np.arange(n_out, dtype=np.float64)
    if align_corners:
        return d * r
    s = (d + 0.5) * r - 0.5
    return s if cubic else np.maximum(s, 0.0)


def _nearest_index(n_in, n_out, scale, exact):
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    # ATen computes these in float32; doing the same keeps every tie on PyTorch's side.
    r = np.float32(1.0 / scale if scale is not None and scale > 0 else n_in / n_out)
    d = np.arange(n_out, dtype=np.float32)
    src = np.floor((d + np.float32(0.5)) * r) if exact else np.floor(d * r)
    if not exact and n_out == 2 * n_in:
        src = np.arange(n_out) >> 1
    return np.minimum(src.astype(np.int64), n_in - 1)


def _cubic_weights(t):
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(mode, n_in, n_out, scale, align_corners):
    """[(source indices, weights or None)] whose weighted sum is the resampled axis."""
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    if mode in ("nearest", "nearest-exact"):
        return [(_nearest_index(n_in, n_out, scale, mode == "nearest-exact"), None)]
    if mode == "bicubic":
        s = _source(n_in, n_out, scale, align_corners, cubic=True)
        i = np.floor(s)
        t = s - i
        i = i.astype(np.int64)
        return [(np.clip(i - 1 + k, 0, n_in - 1), w) for k, w in enumerate(_cubic_weights(t))]
    s = _source(n_in, n_out, scale, align_corners, cubic=False)
    i0 = np.floor(s).astype(np.int64)
    lam = s - i0
    i1 = np.minimum(i0 + 1, n_in - 1)
    return [(i0, 1.0 - lam), (i1, lam)]


def _resample_axis(x, axis, mode, n_out, scale, align_corners):
    n_in = x.shape[axis]
    # The identity, where ATen's kernels short-cut it (nearest: whenever the sizes agree).
    if n_in == n_out and (mode == "nearest" or (mode != "area" and (align_corners or scale in (None, 1.0)))):
        return x
    if mode == "area":
        from ._functional_norm_pool import bin_average_matrix

        m = _core.tensor(bin_average_matrix(n_in, n_out), dtype=x.dtype, device=x.device)
        return (x.transpose(axis, -1) @ m.t()).transpose(axis, -1)
    shape = [1] * x.dim()
    shape[axis] = n_out
    out = None
    for index, weight in _taps(mode, n_in, n_out, scale, align_corners):
        picked = x.index_select(axis, _core.tensor(index, device=x.device))
        if weight is not None:
            picked = picked * _core.tensor(weight, dtype=x.dtype, device=x.device).reshape(*shape)
        out = picked if out is None else out + picked
    return out


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resizes the spatial dimensions of an [N, C, d1, ...] tensor, as ``torch.nn.functional.interpolate``."""
    if mode not in _MODES:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for the modes: "
            f"nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})")
    if input.dim() not in (3, 4, 5):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.dim()}D) for the modes: "
            f"nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})")
    if mode in _RANK and input.dim() - 2 != _RANK[mode]:
        wanted = _RANK[mode] + 2
        raise NotImplementedError(f"Got {input.dim()}D input, but {mode} mode needs {wanted}D input")
    if align_corners is not None and mode not in _RANK:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        raise ValueError("antialias=True is not supported by ember's interpolate (only antialias=False)")
    if not input.is_floating_point() and mode not in ("nearest", "nearest-exact"):
        raise RuntimeError(f"\"upsample_{mode}\" not implemented for '{input.dtype}'")
    sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor)
    out = input
    for k, (n_out, scale) in enumerate(zip(sizes, scales)):
        out = _resample_axis(out, 2 + k, mode, n_out, scale, bool(align_corners))
    return out if out is not input else input.clone()


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """The deprecated spelling of :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _scale_repr(scale_factor):
    if scale_factor is None:
        return None
    if isinstance(scale_factor, Number):
        return float(scale_factor)
    return tuple(float(s) for s in scale_factor)
