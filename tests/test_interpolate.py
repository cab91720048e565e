"""F.interpolate and nn.Upsample: PyTorch's published values, a per-pixel NumPy reference of
ATen's formulas, gradients in float64, both devices, and PyTorch's errors."""

import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from conftest import check_grad

X22 = np.array([[1.0, 2.0], [3.0, 4.0]])

# What PyTorch returns for X22 (1x1x2x2) at scale_factor=2.
TORCH_VALUES = {
    ("nearest", None): [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]],
    ("bilinear", False): [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]],
    ("bilinear", True): [[1, 4 / 3, 5 / 3, 2], [5 / 3, 2, 7 / 3, 8 / 3], [7 / 3, 8 / 3, 3, 10 / 3], [3, 10 / 3, 11 / 3, 4]],
    ("bicubic", False): [[0.68359375, 1.015625, 1.5625, 1.89453125], [1.34765625, 1.6796875, 2.2265625, 2.55859375],
                         [2.44140625, 2.7734375, 3.3203125, 3.65234375], [3.10546875, 3.4375, 3.984375, 4.31640625]],
}


@pytest.mark.parametrize("mode,align", list(TORCH_VALUES))
def test_pytorch_values_at_scale_two(mode, align, device):
    x = ember.tensor(X22[None, None], device=device)
    kw = {} if align is None else {"align_corners": align}
    got = F.interpolate(x, scale_factor=2, mode=mode, **kw)
    np.testing.assert_allclose(got.cpu().numpy()[0, 0], TORCH_VALUES[(mode, align)], rtol=1e-6, atol=1e-6)


# ---- an independent reference: ATen's source-index rules, one output element at a time ----

def _src(d, n_in, n_out, scale, align, cubic):
    if align:
        r = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return d * r
    r = 1 / scale if scale else n_in / n_out
    s = (d + 0.5) * r - 0.5
    return s if cubic else max(s, 0.0)


def _cubic(t, a=-0.75):
    t = abs(t)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t < 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def _axis_weights(mode, n_in, n_out, scale, align):
    """W[o, i]: the output o of one axis as a weighted sum over the input."""
    w = np.zeros((n_out, n_in))
    for o in range(n_out):
        if mode == "nearest":
            r = np.float32(1 / scale if scale else n_in / n_out)
            i = n_in if n_in == n_out else int(np.floor(np.float32(o) * r))
            w[o, o if n_in == n_out else min(i, n_in - 1)] = 1
        elif mode == "nearest-exact":
            r = np.float32(1 / scale if scale else n_in / n_out)
            w[o, min(int(np.floor((np.float32(o) + np.float32(0.5)) * r)), n_in - 1)] = 1
        elif mode == "linear":
            s = _src(o, n_in, n_out, scale, align, False)
            i0 = int(math.floor(s))
            lam = s - i0
            w[o, i0] += 1 - lam
            w[o, min(i0 + 1, n_in - 1)] += lam
        elif mode == "cubic":
            s = _src(o, n_in, n_out, scale, align, True)
            i = math.floor(s)
            for k in range(-1, 3):
                w[o, min(max(i + k, 0), n_in - 1)] += _cubic(s - (i + k))
        elif mode == "area":
            start, end = (o * n_in) // n_out, math.ceil((o + 1) * n_in / n_out)
            w[o, start:end] = 1 / (end - start)
    return w


def _reference(x, sizes, scales, mode, align):
    axis_mode = {"bilinear": "linear", "trilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    out = x
    for k, (n_out, scale) in enumerate(zip(sizes, scales)):
        w = _axis_weights(axis_mode, out.shape[2 + k], n_out, scale, align)
        out = np.moveaxis(np.tensordot(w, np.moveaxis(out, 2 + k, 0), axes=1), 0, 2 + k)
    return out


CASES = [
    # (input shape, mode, size, scale_factor, align_corners)
    ((2, 3, 7), "linear", 12, None, False),
    ((2, 3, 7), "linear", None, 0.6, False),
    ((2, 3, 7), "linear", 5, None, True),
    ((2, 3, 7), "nearest", 11, None, None),
    ((2, 3, 9), "nearest-exact", 4, None, None),
    ((1, 2, 5, 6), "bilinear", (7, 3), None, False),
    ((1, 2, 5, 6), "bilinear", None, (1.5, 0.7), False),
    ((1, 2, 5, 6), "bilinear", (9, 11), None, True),
    ((1, 2, 5, 6), "bicubic", (8, 4), None, False),
    ((1, 2, 5, 6), "bicubic", None, 1.7, True),
    ((1, 2, 5, 6), "nearest", None, 2.5, None),
    ((1, 2, 5, 6), "nearest", (3, 12), None, None),
    ((1, 2, 7, 6), "area", (3, 4), None, None),
    ((1, 1, 3, 4, 5), "trilinear", (4, 6, 3), None, False),
    ((1, 1, 3, 4, 5), "nearest", None, 2, None),
]


@pytest.mark.parametrize("shape,mode,size,scale,align", CASES)
def test_matches_the_reference(shape, mode, size, scale, align, device, rng):
    x = rng.standard_normal(shape)
    n = len(shape) - 2
    if size is not None:
        sizes = list(size) if isinstance(size, tuple) else [size] * n
        scales = [None] * n
    else:
        scales = list(scale) if isinstance(scale, tuple) else [scale] * n
        sizes = [int(math.floor(d * s)) for d, s in zip(shape[2:], scales)]
    kw = {} if align is None else {"align_corners": align}
    got = F.interpolate(ember.tensor(x, device=device), size=size, scale_factor=scale, mode=mode, **kw)
    want = _reference(x, sizes, scales if mode != "area" else [None] * n, mode, bool(align))
    assert tuple(got.shape) == shape[:2] + tuple(sizes)
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-12, atol=1e-12)


def test_area_equals_adaptive_average_pooling(device, rng):
    x = ember.tensor(rng.standard_normal((2, 3, 9, 7)).astype(np.float32), device=device)
    np.testing.assert_allclose(F.interpolate(x, size=(4, 3), mode="area").cpu().numpy(),
                               F.adaptive_avg_pool2d(x, (4, 3)).cpu().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode,kw", [("bilinear", {"align_corners": False}), ("bicubic", {"align_corners": True}),
                                     ("nearest", {}), ("area", {})])
def test_gradients_match_finite_differences(mode, kw, device, rng):
    x = ember.tensor(rng.standard_normal((1, 2, 4, 3)), device=device, requires_grad=True)
    check_grad(lambda t: F.interpolate(t, size=(5, 2), mode=mode, **kw), x)


def test_upsample_modules(device):
    x = ember.tensor(X22[None, None], dtype=ember.float32, device=device)
    up = nn.Upsample(scale_factor=2, mode="bilinear")
    assert repr(up) == "Upsample(scale_factor=2.0, mode='bilinear')"
    assert repr(nn.Upsample(size=(3, 4))) == "Upsample(size=(3, 4), mode='nearest')"
    np.testing.assert_allclose(up(x).cpu().numpy()[0, 0], TORCH_VALUES[("bilinear", False)], rtol=1e-6)
    np.testing.assert_allclose(nn.UpsamplingBilinear2d(scale_factor=2)(x).cpu().numpy()[0, 0],
                               TORCH_VALUES[("bilinear", True)], rtol=1e-6)
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(scale_factor=2)(x).cpu().numpy()[0, 0],
                                  TORCH_VALUES[("nearest", None)])
    assert up(x).device == x.device and up(x).dtype == ember.float32


def test_sizes_equal_are_a_copy():
    x = ember.randn(1, 1, 3, 3)
    for mode in ("nearest", "bilinear", "bicubic"):
        y = F.interpolate(x, size=(3, 3), mode=mode)
        np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6, atol=1e-6)
        assert y.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("call,error,match", [
    (lambda x: F.interpolate(x), ValueError, "either size or scale_factor"),
    (lambda x: F.interpolate(x, size=2, scale_factor=2), ValueError, "only one of size or scale_factor"),
    (lambda x: F.interpolate(x, size=(2, 2, 2)), ValueError, "same number of spatial dimensions"),
    (lambda x: F.interpolate(x, scale_factor=2, align_corners=True), ValueError, "align_corners option"),
    (lambda x: F.interpolate(x, scale_factor=2, mode="linear"), NotImplementedError, "linear mode needs 3D input"),
    (lambda x: F.interpolate(x, scale_factor=2, mode="lanczos"), NotImplementedError, "got lanczos"),
    (lambda x: F.interpolate(x[0, 0], scale_factor=2), NotImplementedError, "Only 3D, 4D and 5D"),
    (lambda x: F.interpolate(x, scale_factor=0.1), ValueError, "greater than 0"),
    (lambda x: F.interpolate(x, scale_factor=-1.0), ValueError, "positive"),
    (lambda x: F.interpolate(x.long(), scale_factor=2, mode="bilinear"), RuntimeError, "not implemented for"),
])
def test_bad_arguments_raise_pytorch_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(ember.ones(1, 1, 2, 2))
