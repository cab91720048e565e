"""The rest of torch.nn (activations, distances, padding, pixel shuffles, losses, feature dropout,
parameter containers) against NumPy references of PyTorch's documented formulas, on every device:
forward values, float64 gradcheck for a representative subset, PyTorch's exception types for bad
input, and PyTorch's reprs."""

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import ember
from conftest import assert_close, check_grad, grad_input, leaf, make, to_np
from ember import nn
from ember.nn import functional as F


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)


def R(*shape, seed=0, lo=-3.0, hi=3.0):
    return np.random.default_rng(seed).uniform(lo, hi, size=shape)


def away_from(x, points, gap=0.05):
    """x with every value within ``gap`` of a kink moved off it (for finite differences)."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = p + np.where(x[near] >= p, gap, -gap)
    return x


def softplus_np(x):
    return np.logaddexp(0.0, x)


def sigmoid_np(x):
    return 1.0 / (1.0 + np.exp(-x))


SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# name: (module, functional form, NumPy reference, kinks to keep gradcheck points away from)
ACTIVATIONS = {
    "selu": (lambda: nn.SELU(), F.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x)), [0]),
    "celu": (lambda: nn.CELU(0.7), lambda x: F.celu(x, 0.7), lambda x: np.maximum(0, x) + np.minimum(0, 0.7 * np.expm1(x / 0.7)), [0]),
    "hardswish": (lambda: nn.Hardswish(), F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, [-3, 3]),
    "hardsigmoid": (lambda: nn.Hardsigmoid(), F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, [-3, 3]),
    "relu6": (lambda: nn.ReLU6(), F.relu6, lambda x: np.clip(x, 0, 6), [0, 6]),
    "logsigmoid": (lambda: nn.LogSigmoid(), F.logsigmoid, lambda x: -softplus_np(-x), []),
    "softsign": (lambda: nn.Softsign(), F.softsign, lambda x: x / (1 + np.abs(x)), [0]),
    "tanhshrink": (lambda: nn.Tanhshrink(), F.tanhshrink, lambda x: x - np.tanh(x), []),
    "threshold": (lambda: nn.Threshold(0.5, -2.0), lambda x: F.threshold(x, 0.5, -2.0), lambda x: np.where(x > 0.5, x, -2.0), [0.5]),
    "hardshrink": (lambda: nn.Hardshrink(0.7), lambda x: F.hardshrink(x, 0.7), lambda x: np.where(np.abs(x) > 0.7, x, 0.0), [-0.7, 0.7]),
    "softshrink": (lambda: nn.Softshrink(0.7), lambda x: F.softshrink(x, 0.7),
                   lambda x: np.where(x > 0.7, x - 0.7, np.where(x < -0.7, x + 0.7, 0.0)), [-0.7, 0.7]),
    "hardtanh": (lambda: nn.Hardtanh(-2.0, 1.5), lambda x: F.hardtanh(x, -2.0, 1.5), lambda x: np.clip(x, -2.0, 1.5), [-2, 1.5]),
    "mish": (lambda: nn.Mish(), F.mish, lambda x: x * np.tanh(softplus_np(x)), []),
    "rrelu_eval": (lambda: nn.RReLU(0.1, 0.3).eval(), lambda x: F.rrelu(x, 0.1, 0.3), lambda x: np.where(x >= 0, x, 0.2 * x), [0]),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_reference(device, name):
    make_module, fn, ref, _ = ACTIVATIONS[name]
    x = R(3, 5, seed=1, lo=-7, hi=7).astype(np.float32)
    x[0, :4] = [0.0, -3.0, 3.0, 6.0]
    t = make(x, device)
    assert_close(fn(t), ref(x.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6)
    assert_close(make_module()(t), ref(x.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["selu", "celu", "hardswish", "logsigmoid", "softsign", "softshrink", "threshold", "rrelu_eval"])
def test_activation_gradcheck(device, name):
    _, fn, _, kinks = ACTIVATIONS[name]
    x = away_from(R(2, 3, seed=2, lo=-4, hi=4), kinks)
    check_grad(fn, leaf(x, device))


@pytest.mark.parametrize("name", ["selu", "celu", "hardswish", "hardsigmoid", "relu6", "threshold", "rrelu_eval"])
def test_activation_inplace(device, name):
    make_module, fn, ref, _ = ACTIVATIONS[name]
    x = R(4, 3, seed=3).astype(np.float32)
    m = make_module()
    m.inplace = True
    t = make(x, device)
    out = m(t)
    assert_close(t, ref(x.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6)
    assert_close(out, ref(x.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_inplace_functional_forms(device):
    x = R(5, seed=4).astype(np.float32)
    for fn, ref in [(F.selu_, ACTIVATIONS["selu"][2]), (lambda t: F.celu_(t, 0.7), ACTIVATIONS["celu"][2]),
                    (lambda t: F.threshold_(t, 0.5, -2.0), ACTIVATIONS["threshold"][2]),
                    (lambda t: F.hardtanh_(t, -2.0, 1.5), ACTIVATIONS["hardtanh"][2])]:
        t = make(x, device)
        fn(t)
        assert_close(t, ref(x.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_glu(device):
    x = R(2, 6, 3, seed=5)
    for dim in (1, -2):
        a, b = np.split(x, 2, axis=1)
        assert_close(F.glu(make(x, device), dim), a * sigmoid_np(b))
        assert_close(nn.GLU(dim)(make(x, device)), a * sigmoid_np(b))
    check_grad(lambda t: F.glu(t, 1), leaf(x, device))
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(make(x, device), -1)
    with pytest.raises(RuntimeError, match="scalars"):
        F.glu(make(np.array(1.0), device))


def test_softmin_and_softmax2d(device):
    x = R(2, 3, 4, 5, seed=6)
    e = np.exp(-x - (-x).max(axis=1, keepdims=True))
    assert_close(F.softmin(make(x, device), dim=1), e / e.sum(axis=1, keepdims=True))
    assert_close(nn.Softmin(dim=1)(make(x, device)), e / e.sum(axis=1, keepdims=True))
    e = np.exp(x - x.max(axis=-3, keepdims=True))
    assert_close(nn.Softmax2d()(make(x, device)), e / e.sum(axis=-3, keepdims=True))
    assert_close(nn.Softmax2d()(make(x[0], device)), e[0] / e[0].sum(axis=0, keepdims=True))
    check_grad(lambda t: F.softmin(t, -1), leaf(x[0, :2, :3], device))
    with pytest.raises(AssertionError, match="3D or 4D"):
        nn.Softmax2d()(make(x[0, 0], device))
    # No dim: PyTorch's implicit choice (dim 1 for a 2-D input), with its deprecation warning.
    x2 = x[0, 0]
    e = np.exp(-x2 - (-x2).max(axis=1, keepdims=True))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        assert_close(F.softmin(make(x2, device)), e / e.sum(axis=1, keepdims=True))


def test_prelu(device):
    x = R(2, 3, 4, seed=7)
    m = nn.PReLU().double().to(device)
    assert m.weight.shape == (1,) and to_np(m.weight)[0] == 0.25
    assert_close(m(make(x, device)), np.where(x > 0, x, 0.25 * x))
    m = nn.PReLU(3, init=0.1).double().to(device)
    w = np.array([0.1, 0.1, 0.1])
    assert_close(m(make(x, device)), np.where(x > 0, x, w.reshape(1, 3, 1) * x))
    out = m(make(x, device)).sum()
    out.backward()
    np.testing.assert_allclose(to_np(m.weight.grad), np.where(x > 0, 0, x).sum(axis=(0, 2)), rtol=1e-10)
    xs = away_from(x, [0])
    check_grad(lambda t, w: F.prelu(t, w), leaf(xs, device), leaf(np.array([0.3, -0.2, 0.5]), device))
    # A 1-D input has a single channel; a per-channel weight must match dim 1.
    assert_close(F.prelu(make(x[0, 0], device), make(np.array([0.5]), device)), np.where(x[0, 0] > 0, x[0, 0], 0.5 * x[0, 0]))
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        nn.PReLU(4).double().to(device)(make(x, device))
    assert repr(nn.PReLU(3)) == "PReLU(num_parameters=3)"


def test_rrelu_training_slopes_lie_in_range(device):
    x = -np.abs(R(400, seed=8)) - 0.1
    m = nn.RReLU(0.1, 0.3)
    slope = to_np(m(make(x, device))) / x
    assert slope.min() >= 0.1 - 1e-6 and slope.max() <= 0.3 + 1e-6 and slope.std() > 0.03
    pos = np.abs(x)
    assert_close(m(make(pos, device)), pos)
    # eval (and F.rrelu's default training=False) is deterministic: the mean slope.
    m.eval()
    assert_close(m(make(x, device)), 0.2 * x)
    assert_close(m(make(x, device)), 0.2 * x)


def test_activation_errors(device):
    t = make(R(3, seed=9), device)
    with pytest.raises(RuntimeError, match="lambda must be greater or equal to 0"):
        F.softshrink(t, -1.0)
    with pytest.raises(RuntimeError, match="alpha cannot be 0"):
        F.celu(t, 0.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(t, 2.0, 1.0)


def test_activation_reprs():
    assert repr(nn.SELU()) == "SELU()" and repr(nn.SELU(inplace=True)) == "SELU(inplace=True)"
    assert repr(nn.CELU()) == "CELU(alpha=1.0)" and repr(nn.CELU(0.5, True)) == "CELU(alpha=0.5, inplace=True)"
    assert repr(nn.GLU()) == "GLU(dim=-1)"
    assert repr(nn.Hardswish()) == "Hardswish()" and repr(nn.Hardsigmoid(True)) == "Hardsigmoid()"
    assert repr(nn.ReLU6()) == "ReLU6()" and repr(nn.ReLU6(True)) == "ReLU6(inplace=True)"
    assert repr(nn.Softmax2d()) == "Softmax2d()" and repr(nn.Softmin(1)) == "Softmin(dim=1)"
    assert repr(nn.LogSigmoid()) == "LogSigmoid()" and repr(nn.Softsign()) == "Softsign()"
    assert repr(nn.Tanhshrink()) == "Tanhshrink()"
    assert repr(nn.Threshold(0.1, 20)) == "Threshold(threshold=0.1, value=20)"
    assert repr(nn.Threshold(0.1, 20, True)) == "Threshold(threshold=0.1, value=20, inplace=True)"
    assert repr(nn.Hardshrink()) == "Hardshrink(0.5)" and repr(nn.Softshrink(0.2)) == "Softshrink(0.2)"
    assert repr(nn.RReLU()) == f"RReLU(lower={1 / 8}, upper={1 / 3})"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert nn.ReLU6().min_val == 0.0 and isinstance(nn.ReLU6(), nn.Hardtanh)


# ---- distances ----
def np_norm(x, p, axis, keepdims=False):
    a = np.abs(x)
    if p == math.inf:
        return a.max(axis=axis, keepdims=keepdims)
    if p == 0:
        return (a != 0).sum(axis=axis, keepdims=keepdims).astype(x.dtype)
    return (a ** p).sum(axis=axis, keepdims=keepdims) ** (1.0 / p)


def test_cosine_similarity(device):
    x1, x2 = R(4, 5, 3, seed=10), R(4, 5, 3, seed=11)
    for dim in (1, -1, 0):
        n1 = np.maximum(np.linalg.norm(x1, axis=dim), 1e-8)
        n2 = np.maximum(np.linalg.norm(x2, axis=dim), 1e-8)
        exp = (x1 * x2).sum(axis=dim) / (n1 * n2)
        assert_close(F.cosine_similarity(make(x1, device), make(x2, device), dim=dim), exp, rtol=1e-6)
        assert_close(nn.CosineSimilarity(dim=dim)(make(x1, device), make(x2, device)), exp, rtol=1e-6)
    # Broadcasting, and a zero vector: eps bounds each norm from below.
    b = R(1, 5, 3, seed=12)
    exp = (x1 * b).sum(axis=1) / (np.linalg.norm(x1, axis=1) * np.linalg.norm(b, axis=1))
    assert_close(F.cosine_similarity(make(x1, device), make(b, device)), exp, rtol=1e-6)
    z = np.zeros((2, 3))
    assert_close(F.cosine_similarity(make(z, device), make(x1[:2, 0], device)), np.zeros(2))
    check_grad(lambda a, b: F.cosine_similarity(a, b, dim=-1), leaf(x1[:2], device), leaf(x2[:2], device))
    with pytest.raises(RuntimeError):
        F.cosine_similarity(make(x1, device), make(R(4, 2, 3), device))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf])
def test_pairwise_distance(device, p):
    x1, x2 = R(6, 4, seed=13), R(6, 4, seed=14)
    exp = np_norm(x1 - x2 + 1e-6, p, -1)
    assert_close(F.pairwise_distance(make(x1, device), make(x2, device), p), exp, rtol=1e-6)
    m = nn.PairwiseDistance(p, keepdim=True)
    assert_close(m(make(x1, device), make(x2, device)), exp[:, None], rtol=1e-6)
    # Broadcast: one row against many, and 1-D inputs.
    assert_close(F.pairwise_distance(make(x1, device), make(x2[:1], device), p), np_norm(x1 - x2[:1] + 1e-6, p, -1), rtol=1e-6)
    assert_close(F.pairwise_distance(make(x1[0], device), make(x2[0], device), p), np_norm(x1[0] - x2[0] + 1e-6, p, -1), rtol=1e-6)
    if p != math.inf:
        check_grad(lambda a, b: F.pairwise_distance(a, b, p), leaf(x1[:3], device), leaf(x2[:3], device))


def test_normalize(device):
    x = R(3, 4, 2, seed=15)
    for p, dim in [(2.0, 1), (1.0, -1), (3.0, 0)]:
        exp = x / np.maximum(np_norm(x, p, dim, keepdims=True), 1e-12)
        assert_close(F.normalize(make(x, device), p=p, dim=dim), exp, rtol=1e-6)
    assert_close(F.normalize(make(np.zeros((2, 3)), device)), np.zeros((2, 3)))
    check_grad(lambda t: F.normalize(t, dim=-1), leaf(x[0], device))


# ---- padding ----
NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def np_pad(x, pad, mode, value=0.0):
    """F.pad's semantics in NumPy: pad pairs from the last dim backwards; negative amounts crop."""
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    crop = tuple(slice(-lo if lo < 0 else 0, x.shape[d] + hi if hi < 0 else None) for d, (lo, hi) in enumerate(widths))
    pos = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return np.pad(x[crop], pos, mode="constant", constant_values=value)
    if mode == "circular":
        # ATen crops first and wraps around what is left.
        return np.pad(x[crop], pos, mode="wrap")
    # Reflection and replication index the whole input, then crop.
    return np.pad(x, pos, mode=NP_MODE[mode])[tuple(slice(-lo if lo < 0 else 0, (x.shape[d] + max(lo, 0) + hi) if hi < 0 else None)
                                                     for d, (lo, hi) in enumerate(widths))]


PAD_CASES = [((3, 5), (2, 1)), ((2, 3, 5), (0, 4)), ((2, 3, 4, 5), (1, 2, 3, 0)), ((3, 4, 5), (2, 2, 1, 3)),
             ((1, 2, 3, 4, 5), (1, 0, 2, 1, 2, 2)), ((2, 3, 4, 5), (1, 1, 1, 1, 2, 0)), ((2, 3, 6), (-1, 2)), ((2, 3, 6), (2, -1)),
             ((2, 5, 6), (-2, 1, 1, -1))]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", PAD_CASES)
def test_pad_modes_match_numpy(device, mode, shape, pad):
    x = R(*shape, seed=16)
    assert_close(F.pad(make(x, device), pad, mode=mode), np_pad(x, pad, mode))


def test_pad_negative_amounts_follow_aten():
    # Circular crops, then wraps what is left; reflection and replication index the whole input.
    x = np.arange(6.0)[None, None]
    assert to_np(F.pad(make(x), (-1, 2), mode="circular")).ravel().tolist() == [1, 2, 3, 4, 5, 1, 2]
    assert to_np(F.pad(make(x), (-4, 3), mode="reflect")).ravel().tolist() == [4, 5, 4, 3, 2]
    assert to_np(F.pad(make(x), (-1, 2), mode="replicate")).ravel().tolist() == [1, 2, 3, 4, 5, 5, 5]


def test_pad_constant_value_and_crop(device):
    x = R(2, 3, 4, seed=17)
    assert_close(F.pad(make(x, device), (1, 2, 0, 1), value=-1.5), np_pad(x, (1, 2, 0, 1), "constant", -1.5))
    assert_close(F.pad(make(x, device), (-1, 2)), np_pad(x, (-1, 2), "constant"))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_gradcheck(device, mode):
    x = R(1, 2, 3, 4, seed=18)
    check_grad(lambda t: F.pad(t, (2, 1, 1, 2), mode=mode), leaf(x, device))


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
def test_strided_inputs_gradcheck(device, layout):
    x = R(1, 4, 3, 4, seed=27)
    check_grad(lambda t: F.pad(t, (1, 2, 2, 1), mode="reflect"), grad_input(x, device, layout))
    check_grad(lambda t: F.pixel_shuffle(t, 2), grad_input(x, device, layout))
    check_grad(lambda t: F.softshrink(F.glu(t, 1), 0.2), grad_input(away_from(x, [0]), device, layout))
    check_grad(lambda t: F.cosine_similarity(t, t * t, dim=-1), grad_input(x, device, layout))


def test_pad_errors(device):
    t = make(R(1, 2, 3, seed=19), device)
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode"):
        F.pad(t, (1, 1), mode="symmetric")
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        F.pad(t, (3, 0), mode="reflect")
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        F.pad(t, (0, 4), mode="circular")
    with pytest.raises(NotImplementedError, match="non-constant padding"):
        F.pad(make(R(3, seed=1), device), (1, 1), mode="reflect")
    with pytest.raises(NotImplementedError, match="non-constant padding"):
        F.pad(t, (1, 1, 1, 1, 1, 1), mode="replicate")
    with pytest.raises(RuntimeError, match="doesn't take in value argument"):
        F.pad(t, (1, 1), mode="replicate", value=2.0)
    with pytest.raises(RuntimeError, match="divisible by 2"):
        F.pad(t, (1,), mode="reflect")
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.CircularPad1d(1)(make(R(1, 1, 2, 3), device))


@pytest.mark.parametrize("cls,mode,dims", [
    (nn.ZeroPad1d, "constant", 1), (nn.ZeroPad2d, "constant", 2), (nn.ZeroPad3d, "constant", 3),
    (nn.ReflectionPad1d, "reflect", 1), (nn.ReflectionPad2d, "reflect", 2), (nn.ReflectionPad3d, "reflect", 3),
    (nn.ReplicationPad1d, "replicate", 1), (nn.ReplicationPad2d, "replicate", 2), (nn.ReplicationPad3d, "replicate", 3),
    (nn.CircularPad1d, "circular", 1), (nn.CircularPad2d, "circular", 2), (nn.CircularPad3d, "circular", 3)])
def test_padding_layers(device, cls, mode, dims):
    x = R(*([2, 3] + [4] * dims), seed=20)
    pad = tuple(range(1, 2 * dims + 1)) if mode != "reflect" and mode != "circular" else (1, 2, 3, 0, 2, 1)[:2 * dims]
    assert_close(cls(pad)(make(x, device)), np_pad(x, pad, mode))
    assert_close(cls(1)(make(x, device)), np_pad(x, (1,) * (2 * dims), mode))
    assert cls(1).padding == (1,) * (2 * dims)
    assert repr(cls(pad)) == f"{cls.__name__}({pad})"


def test_constant_padding_layers(device):
    for cls, dims in [(nn.ConstantPad1d, 1), (nn.ConstantPad2d, 2), (nn.ConstantPad3d, 3)]:
        x = R(*([2] + [3] * dims), seed=21)
        m = cls(2, 3.5)
        assert_close(m(make(x, device)), np_pad(x, (2,) * (2 * dims), "constant", 3.5))
        assert repr(m) == f"{cls.__name__}(padding={(2,) * (2 * dims)}, value=3.5)"
    assert repr(nn.ZeroPad2d((1, 1, 2, 0))) == "ZeroPad2d((1, 1, 2, 0))"


# ---- pixel and channel shuffles ----
def np_pixel_shuffle(x, r):
    *b, c, h, w = x.shape
    y = x.reshape(*b, c // (r * r), r, r, h, w)
    n = len(b)
    y = y.transpose(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*b, c // (r * r), h * r, w * r)


def np_pixel_unshuffle(x, r):
    *b, c, h, w = x.shape
    y = x.reshape(*b, c, h // r, r, w // r, r)
    n = len(b)
    y = y.transpose(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*b, c * r * r, h // r, w // r)


@pytest.mark.parametrize("shape,r", [((1, 8, 2, 3), 2), ((2, 9, 2, 2), 3), ((4, 3, 2), 1), ((2, 2, 4, 1, 2), 2)])
def test_pixel_shuffle_roundtrip(device, shape, r):
    x = R(*shape, seed=22)
    y = F.pixel_shuffle(make(x, device), r)
    assert_close(y, np_pixel_shuffle(x, r))
    assert_close(nn.PixelShuffle(r)(make(x, device)), np_pixel_shuffle(x, r))
    assert_close(F.pixel_unshuffle(y, r), x)
    assert_close(nn.PixelUnshuffle(r)(y), np_pixel_unshuffle(np_pixel_shuffle(x, r), r))


def test_pixel_shuffle_reference_layout():
    # PyTorch's documented layout: out[c, h*r + i, w*r + j] = in[c*r*r + i*r + j, h, w].
    x = np.arange(2 * 4 * 2 * 3, dtype=np.float64).reshape(2 * 4, 2, 3)
    out = to_np(F.pixel_shuffle(make(x), 2))
    for c in range(2):
        for h in range(2):
            for w in range(3):
                for i in range(2):
                    for j in range(2):
                        assert out[c, h * 2 + i, w * 2 + j] == x[c * 4 + i * 2 + j, h, w]


def test_pixel_shuffle_gradcheck_and_errors(device):
    check_grad(lambda t: F.pixel_shuffle(t, 2), leaf(R(1, 4, 2, 2, seed=23), device))
    check_grad(lambda t: F.pixel_unshuffle(t, 2), leaf(R(1, 1, 2, 4, seed=24), device))
    with pytest.raises(RuntimeError, match="at least 3 dimensions"):
        F.pixel_shuffle(make(R(4, 4), device), 2)
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        F.pixel_shuffle(make(R(1, 6, 2, 2), device), 2)
    with pytest.raises(RuntimeError, match="height to be divisible by downscale_factor"):
        F.pixel_unshuffle(make(R(1, 1, 3, 4), device), 2)
    with pytest.raises(RuntimeError, match="width to be divisible by downscale_factor"):
        F.pixel_unshuffle(make(R(1, 1, 4, 3), device), 2)
    assert repr(nn.PixelShuffle(3)) == "PixelShuffle(upscale_factor=3)"
    assert repr(nn.PixelUnshuffle(3)) == "PixelUnshuffle(downscale_factor=3)"


def test_channel_shuffle(device):
    x = R(2, 6, 3, 2, seed=25)
    exp = x.reshape(2, 3, 2, 3, 2).transpose(0, 2, 1, 3, 4).reshape(x.shape)
    assert_close(F.channel_shuffle(make(x, device), 3), exp)
    assert_close(nn.ChannelShuffle(3)(make(x, device)), exp)
    assert to_np(F.channel_shuffle(make(np.arange(6.0).reshape(1, 6, 1), device), 2)).ravel().tolist() == [0, 3, 1, 4, 2, 5]
    check_grad(lambda t: F.channel_shuffle(t, 2), leaf(R(1, 4, 3, seed=26), device))
    with pytest.raises(RuntimeError, match="Number of channels must be divisible by groups"):
        F.channel_shuffle(make(x, device), 4)
    with pytest.raises(RuntimeError, match="at least 3 dimensions"):
        F.channel_shuffle(make(x[0, :, :, 0], device), 2)
    assert repr(nn.ChannelShuffle(2)) == "ChannelShuffle(groups=2)"


# ---- losses ----
def reduce_np(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](loss)


def logsig_np(x):
    return -softplus_np(-x)


def np_multi_margin(x, y, p=1, margin=1.0, w=None):
    n, c = x.shape
    out = np.zeros(n)
    for i in range(n):
        for j in range(c):
            if j != y[i]:
                z = max(0.0, margin - x[i, y[i]] + x[i, j]) ** p
                out[i] += z * (w[y[i]] if w is not None else 1.0)
    return out / c


def np_cos_embed(a, b, y, margin):
    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
    return np.where(y == 1, 1 - cos, np.maximum(0.0, cos - margin))


def np_pdist(a, b, p=2.0, eps=1e-6):
    return np_norm(a - b + eps, p, -1)


def signs(n, seed):
    return np.where(np.random.default_rng(seed).random(n) < 0.5, -1.0, 1.0)


def _loss_case(name, device, reduction):
    """(ember loss value, NumPy reference) for one loss, through its module."""
    x1, x2, x3 = R(5, 4, seed=30), R(5, 4, seed=31), R(5, 4, seed=32)
    y = signs(5, 33)
    if name == "margin_ranking":
        m = nn.MarginRankingLoss(margin=0.3, reduction=reduction)
        return m(make(x1[:, 0], device), make(x2[:, 0], device), make(y, device)), np.maximum(0, -y * (x1[:, 0] - x2[:, 0]) + 0.3)
    if name == "hinge_embedding":
        yy = signs(20, 34).reshape(5, 4)
        m = nn.HingeEmbeddingLoss(margin=2.0, reduction=reduction)
        return m(make(x1, device), make(yy, device)), np.where(yy == 1, x1, np.maximum(0, 2.0 - x1))
    if name == "soft_margin":
        yy = signs(20, 35).reshape(5, 4)
        return nn.SoftMarginLoss(reduction=reduction)(make(x1, device), make(yy, device)), np.log1p(np.exp(-yy * x1))
    if name == "multilabel_soft_margin":
        yy = (np.random.default_rng(36).random((5, 4)) < 0.5).astype(np.float64)
        w = np.array([0.5, 1.0, 2.0, 1.5])
        m = nn.MultiLabelSoftMarginLoss(weight=make(w, device), reduction=reduction)
        ref = (-(yy * logsig_np(x1) + (1 - yy) * logsig_np(-x1)) * w).mean(-1)
        return m(make(x1, device), make(yy, device)), ref
    if name == "multi_margin":
        t = np.array([0, 3, 1, 1, 2])
        return (nn.MultiMarginLoss(reduction=reduction)(make(x1, device), make(t, device)), np_multi_margin(x1, t))
    if name == "multi_margin_p2_weight":
        t = np.array([0, 3, 1, 1, 2])
        w = np.array([0.5, 1.0, 2.0, 1.5])
        m = nn.MultiMarginLoss(p=2, margin=0.7, weight=make(w, device), reduction=reduction)
        return m(make(x1, device), make(t, device)), np_multi_margin(x1, t, 2, 0.7, w)
    if name == "cosine_embedding":
        m = nn.CosineEmbeddingLoss(margin=0.2, reduction=reduction)
        return m(make(x1, device), make(x2, device), make(y, device)), np_cos_embed(x1, x2, y, 0.2)
    if name == "triplet_margin":
        m = nn.TripletMarginLoss(margin=1.5, reduction=reduction)
        return m(make(x1, device), make(x2, device), make(x3, device)), np.maximum(0, 1.5 + np_pdist(x1, x2) - np_pdist(x1, x3))
    if name == "triplet_margin_swap_p1":
        m = nn.TripletMarginLoss(margin=1.5, p=1, swap=True, reduction=reduction)
        dn = np.minimum(np_pdist(x1, x3, 1), np_pdist(x2, x3, 1))
        return m(make(x1, device), make(x2, device), make(x3, device)), np.maximum(0, 1.5 + np_pdist(x1, x2, 1) - dn)
    if name == "poisson_nll":
        t = np.random.default_rng(37).poisson(2.0, (5, 4)).astype(np.float64)
        return nn.PoissonNLLLoss(reduction=reduction)(make(x1, device), make(t, device)), np.exp(x1) - t * x1
    if name == "poisson_nll_full_rate":
        t = np.random.default_rng(38).poisson(2.0, (5, 4)).astype(np.float64)
        rate = np.abs(x1) + 0.1
        st = np.where(t > 1, t * np.log(np.where(t > 1, t, 1)) - t + 0.5 * np.log(2 * np.pi * np.where(t > 1, t, 1)), 0)
        m = nn.PoissonNLLLoss(log_input=False, full=True, reduction=reduction)
        return m(make(rate, device), make(t, device)), rate - t * np.log(rate + 1e-8) + st
    if name == "gaussian_nll":
        var = np.abs(x3) + 1e-7  # some entries under eps are clamped
        var[0, 0] = 0.0
        vc = np.maximum(var, 1e-6)
        m = nn.GaussianNLLLoss(reduction=reduction)
        return m(make(x1, device), make(x2, device), make(var, device)), 0.5 * (np.log(vc) + (x1 - x2) ** 2 / vc)
    if name == "gaussian_nll_full_homoscedastic":
        var = np.abs(x3[:, 0]) + 0.5
        m = nn.GaussianNLLLoss(full=True, reduction=reduction)
        ref = 0.5 * (np.log(var[:, None]) + (x1 - x2) ** 2 / var[:, None]) + 0.5 * np.log(2 * np.pi)
        return m(make(x1, device), make(x2, device), make(var, device)), ref
    raise KeyError(name)


LOSSES = ["margin_ranking", "hinge_embedding", "soft_margin", "multilabel_soft_margin", "multi_margin",
          "multi_margin_p2_weight", "cosine_embedding", "triplet_margin", "triplet_margin_swap_p1", "poisson_nll",
          "poisson_nll_full_rate", "gaussian_nll", "gaussian_nll_full_homoscedastic"]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_matches_reference(device, name, reduction):
    got, per = _loss_case(name, device, reduction)
    assert_close(got, reduce_np(per, reduction), rtol=1e-6, atol=1e-9)


def test_losses_gradcheck(device):
    x1, x2, x3 = (away_from(R(3, 4, seed=s), [0]) for s in (40, 41, 42))
    y = signs(3, 43)
    check_grad(lambda a, b: F.margin_ranking_loss(a, b, make(y, device), margin=0.1), leaf(x1[:, 0], device), leaf(x2[:, 0], device))
    check_grad(lambda a: F.soft_margin_loss(a, make(signs(12, 44).reshape(3, 4), device)), leaf(x1, device))
    yy = (np.random.default_rng(45).random((3, 4)) < 0.5).astype(np.float64)
    check_grad(lambda a: F.multilabel_soft_margin_loss(a, make(yy, device)), leaf(x1, device))
    t = make(np.array([2, 0, 3]), device)
    check_grad(lambda a: F.multi_margin_loss(a, t, p=2, margin=3.0), leaf(x1, device))
    check_grad(lambda a, b: F.cosine_embedding_loss(a, b, make(y, device), margin=-1.0), leaf(x1, device), leaf(x2, device))
    check_grad(lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=10.0, swap=True), leaf(x1, device), leaf(x2, device), leaf(x3, device))
    tp = make(np.array([[0.0, 1.0, 2.0, 5.0]] * 3), device)
    check_grad(lambda a: F.poisson_nll_loss(a, tp, full=True, reduction="sum"), leaf(x1, device))
    check_grad(lambda a, b, v: F.gaussian_nll_loss(a, b, v, full=True), leaf(x1, device), leaf(x2, device), leaf(np.abs(x3) + 0.5, device))


def test_loss_errors(device):
    a, b = make(R(3, 4, seed=46), device), make(R(3, 4, seed=47), device)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        nn.MarginRankingLoss(reduction="avg")
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.soft_margin_loss(a, b, reduction="avg")
    with pytest.raises(RuntimeError, match="All input tensors should have same dimension"):
        F.margin_ranking_loss(a, b, make(R(3, seed=1), device))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(RuntimeError, match="inconsistent target size"):
        F.multi_margin_loss(a, make(np.array([0, 1]), device))
    with pytest.raises(RuntimeError, match="target out of range"):
        F.multi_margin_loss(a, make(np.array([0, 1, 4]), device))
    with pytest.raises(RuntimeError, match="1D target tensor expects 2D input tensors"):
        F.cosine_embedding_loss(make(R(3, 4, 2), device), make(R(3, 4, 2), device), make(np.ones(3), device))
    with pytest.raises(RuntimeError, match="multi-target not supported"):
        F.cosine_embedding_loss(a, b, make(np.ones((3, 4)), device))
    with pytest.raises(ValueError, match="expected margin to be greater than 0"):
        nn.TripletMarginLoss(margin=0.0)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        F.triplet_margin_loss(a, b, make(R(4, seed=2), device))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(a, b, make(np.ones((3, 2)), device))
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(a, b, make(-np.ones((3, 4)), device))
    with pytest.raises(TypeError):
        nn.GaussianNLLLoss(True)


def test_loss_misc(device):
    x = R(4, 3, seed=48)
    # multi_margin on a single sample (1-D input, 0-dim target) is a scalar.
    t = make(np.array(2), device)
    got = F.multi_margin_loss(make(x[0], device), t, reduction="none")
    assert got.shape == () and np.isclose(got.item(), np_multi_margin(x[:1], np.array([2]))[0])
    # cosine_embedding_loss on 1-D inputs with a 0-dim target.
    got = F.cosine_embedding_loss(make(x[0], device), make(x[1], device), make(np.array(-1.0), device), reduction="none")
    assert np.isclose(got.item(), np_cos_embed(x[0], x[1], np.array(-1.0), 0.0))
    # gaussian_nll_loss: var of shape (N, 1) broadcast over the last dim, and a float var.
    v = np.abs(x[:, :1]) + 0.5
    assert_close(F.gaussian_nll_loss(make(x, device), make(x[::-1].copy(), device), make(v, device), reduction="none"),
                 0.5 * (np.log(v) + (x - x[::-1]) ** 2 / v))
    assert np.isclose(F.gaussian_nll_loss(make(x, device), make(x[::-1].copy(), device), 2.0).item(),
                      np.mean(0.5 * (np.log(2.0) + (x - x[::-1]) ** 2 / 2.0)))
    # The deprecated size_average/reduce pair maps onto reduction, with PyTorch's warning.
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        m = nn.SoftMarginLoss(size_average=False)
    assert m.reduction == "sum"
    with pytest.warns(UserWarning):
        assert nn.HingeEmbeddingLoss(reduce=False).reduction == "none"
    # The losses' reprs carry no arguments, as in PyTorch; weights are buffers.
    assert repr(nn.TripletMarginLoss()) == "TripletMarginLoss()"
    m = nn.MultiLabelSoftMarginLoss(weight=make(np.ones(3), device))
    assert "weight" in dict(m.named_buffers())
    assert [n for n, _ in nn.MultiMarginLoss().named_buffers()] == []


# ---- feature dropout, alpha dropout ----
@pytest.mark.parametrize("cls,fn,shape", [(nn.Dropout1d, F.dropout1d, (8, 16, 5)), (nn.Dropout1d, F.dropout1d, (16, 5)),
                                          (nn.Dropout2d, F.dropout2d, (8, 16, 3, 2)), (nn.Dropout3d, F.dropout3d, (8, 16, 2, 2, 2)),
                                          (nn.Dropout3d, F.dropout3d, (16, 2, 2, 2))])
def test_feature_dropout_zeroes_whole_channels(device, cls, fn, shape):
    x = R(*shape, seed=50, lo=0.5, hi=2.0)
    m = cls(p=0.4)
    y = to_np(m(make(x, device)))
    batched = len(shape) == {nn.Dropout1d: 3, nn.Dropout2d: 4, nn.Dropout3d: 5}[cls]
    lead = 2 if batched else 1
    per_channel = y.reshape(*shape[:lead], -1)
    kept = np.all(np.isclose(per_channel, x.reshape(*shape[:lead], -1) / 0.6), axis=-1)
    dropped = np.all(per_channel == 0, axis=-1)
    assert np.all(kept | dropped) and kept.any() and dropped.any()
    m.eval()
    assert_close(m(make(x, device)), x)
    assert_close(fn(make(x, device), 0.4, training=False), x)
    assert_close(fn(make(x, device), 1.0), np.zeros(shape))
    # The gradient is the same mask.
    t = make(x, device, requires_grad=True)
    out = fn(t, 0.4)
    out.sum().backward()
    assert_close(t.grad, (to_np(out) != 0) / 0.6)


def test_dropout_variants_errors_and_reprs(device):
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(make(R(2, 3, 4, 5), device))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout2d(p=1.5)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.alpha_dropout(make(R(3), device), p=-0.1, training=True)
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        F.dropout2d(make(R(2, 3, 4), device))
    assert repr(nn.Dropout1d()) == "Dropout1d(p=0.5, inplace=False)"
    assert repr(nn.AlphaDropout(0.2)) == "AlphaDropout(p=0.2, inplace=False)"


def test_alpha_dropout(device):
    p, alpha = 0.3, 1.7580993408473766
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    x = R(2000, seed=51)
    m = nn.AlphaDropout(p)
    y = to_np(m(make(x, device)))
    kept = np.isclose(y, a * x + alpha * a * p)
    dropped = np.isclose(y, a * alpha * (p - 1))
    assert np.all(kept | dropped) and 0.2 < dropped.mean() < 0.4
    # Standard-normal inputs keep (about) zero mean and unit variance.
    z = np.random.default_rng(52).standard_normal(20000)
    yz = to_np(F.alpha_dropout(make(z, device), p, training=True))
    assert abs(yz.mean()) < 0.05 and abs(yz.std() - 1) < 0.05
    m.eval()
    assert_close(m(make(x, device)), x)
    assert_close(F.alpha_dropout(make(x, device), p), x)  # training=False by default, as in PyTorch


# ---- ParameterList, ParameterDict, Embedding.from_pretrained ----
def test_parameter_list(device):
    pl = nn.ParameterList([ember.randn(3, 4, device=device), nn.Parameter(ember.randn(3, device=device))])
    assert len(pl) == 2 and all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pl.append(ember.zeros(2, device=device))
    pl += [ember.ones(1, device=device)]
    pl.extend([ember.ones(5, device=device)])
    assert len(pl) == 5 and tuple(pl[-1].shape) == (5,) and tuple(pl[2].shape) == (2,)
    assert len(pl[1:4]) == 3 and pl[1:4][0] is pl[1]
    pl[0] = ember.full((2, 2), 7.0, device=device)
    assert isinstance(pl[0], nn.Parameter) and to_np(pl[0]).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        pl[5]
    with pytest.raises(TypeError):
        pl.extend(ember.ones(2))
    # Registered parameters: they train through a Module holding the list.
    m = nn.Module()
    m.ps = nn.ParameterList([ember.ones(2, device=device), ember.ones(2, device=device)])
    assert sorted(m.state_dict()) == ["ps.0", "ps.1"]
    (m.ps[0] * 2 + m.ps[1]).sum().backward()
    assert to_np(m.ps[0].grad).tolist() == [2.0, 2.0] and to_np(m.ps[1].grad).tolist() == [1.0, 1.0]
    dev = "" if device == "cpu" else " (gpu:0)"
    assert repr(nn.ParameterList([ember.zeros(3, 4, device=device)])) == (
        f"ParameterList(  (0): Parameter containing: [ember.float32 of size 3x4{dev}])")
    assert repr(nn.ParameterList([ember.zeros(3), ember.zeros(2, 1)])) == (
        "ParameterList(\n    (0): Parameter containing: [ember.float32 of size 3]\n"
        "    (1): Parameter containing: [ember.float32 of size 2x1]\n)")


def test_parameter_dict(device):
    pd = nn.ParameterDict({"b": ember.randn(2, device=device), "a": nn.Parameter(ember.randn(1, 2, device=device))})
    assert list(pd.keys()) == ["a", "b"]  # a plain dict is added in sorted order, as in PyTorch
    pd2 = nn.ParameterDict(OrderedDict([("z", ember.zeros(1)), ("y", ember.zeros(1))]))
    assert list(pd2) == ["z", "y"]
    assert "a" in pd and len(pd) == 2 and isinstance(pd["b"], nn.Parameter)
    pd["c"] = ember.ones(3, device=device)
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c"]
    assert tuple(pd.pop("c").shape) == (3,) and "c" not in pd and len(pd) == 2
    pd.update([("d", ember.ones(1))])
    assert pd.get("d") is pd["d"] and pd.get("nope") is None
    assert list((pd | pd2).keys()) == ["a", "b", "d", "z", "y"]
    with pytest.raises(KeyError):
        pd["nope"]
    with pytest.raises(TypeError, match="not a string"):
        pd[1] = ember.ones(1)
    del pd["d"]
    assert list(pd.items())[0][0] == "a" and len(list(pd.values())) == 2
    m = nn.Module()
    m.pd = pd
    assert sorted(m.state_dict()) == ["pd.a", "pd.b"]
    dev = "" if device == "cpu" else " (gpu:0)"
    assert repr(pd) == (f"ParameterDict(\n    (a): Parameter containing: [ember.float32 of size 1x2{dev}]\n"
                        f"    (b): Parameter containing: [ember.float32 of size 2{dev}]\n)")
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []
    pd["keys"] = ember.ones(2)
    assert isinstance(pd["keys"], nn.Parameter) and list(pd.keys()) == ["keys"]


def test_embedding_from_pretrained(device):
    w = make(R(5, 3, seed=53), device)
    e = nn.Embedding.from_pretrained(w)
    assert e.num_embeddings == 5 and e.embedding_dim == 3 and not e.weight.requires_grad
    idx = make(np.array([[4, 0], [2, 2]]), device)
    assert_close(e(idx), R(5, 3, seed=53)[[[4, 0], [2, 2]]])
    e = nn.Embedding.from_pretrained(w, freeze=False, padding_idx=1)
    assert e.weight.requires_grad and e.padding_idx == 1
    e(make(np.array([1, 3, 3]), device)).sum().backward()
    g = to_np(e.weight.grad)
    assert g[1].tolist() == [0.0, 0.0, 0.0] and g[3].tolist() == [2.0, 2.0, 2.0]
    assert repr(e) == "Embedding(5, 3, padding_idx=1)"
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(make(R(5, seed=1), device))


def test_norm_based_ops_have_finite_gradients_at_zero(device):
    for fn in (lambda t: F.normalize(t, dim=-1), lambda t: F.normalize(t, p=3.0, dim=-1),
               lambda t: F.cosine_similarity(t, t + 1, dim=-1), lambda t: F.pairwise_distance(t, t + 1e-6)):
        t = make(np.zeros((2, 3)), device, requires_grad=True)
        fn(t).sum().backward()
        assert np.all(np.isfinite(to_np(t.grad)))


def test_existing_activations_honour_inplace_and_repr(device):
    x = R(6, seed=60).astype(np.float32)
    for m, ref in [(nn.ReLU(inplace=True), np.maximum(x, 0)), (nn.LeakyReLU(0.2, inplace=True), np.where(x > 0, x, 0.2 * x)),
                   (nn.ELU(0.5, inplace=True), np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0)))),
                   (nn.SiLU(inplace=True), x * sigmoid_np(x)), (nn.Mish(inplace=True), x * np.tanh(softplus_np(x)))]:
        t = make(x, device)
        m(t)
        assert_close(t, ref.astype(np.float32), rtol=1e-5, atol=1e-6)
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ReLU(True)) == "ReLU(inplace=True)"
    assert repr(nn.SiLU(inplace=True)) == "SiLU(inplace=True)" and repr(nn.Mish()) == "Mish()"
    assert repr(nn.LeakyReLU(0.2, True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)" and repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)" and repr(nn.LogSoftmax(dim=-1)) == "LogSoftmax(dim=-1)"
    assert repr(nn.Hardtanh(-2.0, 2.0, True)) == "Hardtanh(min_val=-2.0, max_val=2.0, inplace=True)"
    assert repr(nn.Sigmoid()) == "Sigmoid()" and repr(nn.Tanh()) == "Tanh()"
