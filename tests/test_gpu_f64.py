"""float64 on the GPU: reductions, NaN-propagating maximum/minimum, remainder, floor_divide,
clamp, matmul and linear against NumPy float64 (and the CPU kernel's NaN and tie rules), the
transcendental functions of shaders/float64.wgsl against the CPU's libm to a few units in the
last place, the fused kernels (optimizers, softmax, cumsum, scatter-add, cross entropy, norms,
attention, convolution and pooling) and int64 casts against the CPU kernels, and none of them
on the host path.

Skipped where the adapter has no shader-f64 (wgpu's OpenGL backend): there float64 keeps the
host path by design.
"""


import numpy as np
import pytest

import ember
import ember.nn.functional as F
from conftest import trace_host_paths

pytestmark = pytest.mark.skipif(
    not ember.gpu.get_device_properties().has_float64, reason="adapter without shader-f64"
)

RNG = np.random.default_rng(64)
TIGHT = dict(rtol=1e-12, atol=1e-12)


def _gpu(a, layout="contiguous"):
    """A float64 GPU tensor holding ``a`` in the given layout (same values either way)."""
    a = np.asarray(a, dtype=np.float64)
    if layout == "transposed":
        t = ember.tensor(np.ascontiguousarray(a.T), device="gpu").t()
    elif layout == "sliced":
        wide = np.repeat(a, 2, axis=-1)
        t = ember.tensor(wide, device="gpu")[..., ::2]
    else:
        t = ember.tensor(a, device="gpu")
    assert t.dtype == ember.float64 and t.device.type == "gpu"
    return t


def _values(t):
    assert t.device.type == "gpu"
    return t.cpu().numpy()


# ---- reductions ----


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("op", ["sum", "prod", "amax", "amin"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_value_reductions(op, dim, layout):
    a = RNG.uniform(0.5, 1.5, (37, 41)) if op == "prod" else RNG.standard_normal((37, 41))
    t = _gpu(a, layout)
    got = getattr(t, op)() if dim is None else getattr(t, op)(dim)
    want = getattr(np, op)(a) if dim is None else getattr(np, op)(a, axis=dim)
    np.testing.assert_allclose(_values(got), want, **TIGHT)


def test_sum_keeps_float64_precision():
    # 1 + 1e-13 is lost in float32: only a float64 fold gives this sum.
    a = np.full(1000, 1.0) + 1e-13
    assert abs(_values(_gpu(a).sum()) - a.sum()) < 1e-12
    assert _values(_gpu(a).sum()) != np.float32(a).sum()


def test_column_sum_and_long_rows():
    a = RNG.standard_normal((300, 130))
    np.testing.assert_allclose(_values(_gpu(a).sum(0)), a.sum(0), **TIGHT)
    # Few outputs over many elements: the split reduction with partials.
    b = RNG.standard_normal((2, 40000))
    np.testing.assert_allclose(_values(_gpu(b).sum(1)), b.sum(1), rtol=1e-12, atol=1e-10)
    # Many outputs over few elements: one invocation per output.
    c = RNG.standard_normal((2048, 5))
    np.testing.assert_allclose(_values(_gpu(c).amax(1)), c.max(1), **TIGHT)


@pytest.mark.parametrize("op", ["amax", "amin"])
def test_max_min_propagate_nan(op):
    a = RNG.standard_normal((4, 300))
    a[1, 7] = np.nan
    a[3, 299] = np.nan
    got = _values(getattr(_gpu(a), op)(1))
    want = getattr(np, op)(a, axis=1)
    np.testing.assert_array_equal(np.isnan(got), [False, True, False, True])
    np.testing.assert_allclose(got, want, **TIGHT)
    assert np.isnan(_values(getattr(_gpu(a), op)()))
    # Column reduction with a NaN in one column only.
    cols = RNG.standard_normal((50, 70))
    cols[20, 3] = np.nan
    got = _values(getattr(_gpu(cols), op)(0))
    assert np.isnan(got[3]) and not np.isnan(np.delete(got, 3)).any()


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reductions_ties_and_nan(op, layout):
    # Few distinct values: many ties, which pick the lowest index as NumPy does.
    a = RNG.integers(0, 4, (33, 300)).astype(np.float64)
    got = getattr(_gpu(a, layout), op)(1)
    np.testing.assert_array_equal(_values(got), getattr(np, op)(a, axis=1))
    np.testing.assert_array_equal(_values(getattr(_gpu(a, layout), op)(0)), getattr(np, op)(a, axis=0))
    assert _values(getattr(_gpu(a, layout), op)()) == getattr(np, op)(a)
    # NaN wins, the first NaN where there are several (NumPy's rule too).
    b = a.copy()
    b[2, 40] = np.nan
    b[2, 10] = np.nan
    b[5, 299] = np.nan
    got = _values(getattr(_gpu(b, layout), op)(1))
    assert got[2] == 10 and got[5] == 299
    np.testing.assert_array_equal(got, getattr(np, op)(b, axis=1))


def test_argmax_of_infinities():
    a = np.array([[-np.inf, -np.inf, -np.inf], [1.0, np.inf, np.inf]])
    np.testing.assert_array_equal(_values(_gpu(a).argmax(1)), [0, 1])
    np.testing.assert_array_equal(_values(_gpu(-a).argmin(1)), [0, 1])


# ---- elementwise ----


def _with_specials(shape):
    a = RNG.standard_normal(shape) * 10
    a.flat[::7] = np.nan
    a.flat[3::11] = np.inf
    a.flat[5::13] = -np.inf
    return a


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_propagate_nan(op, layout):
    a, b = _with_specials((20, 30)), _with_specials((30, 20)).T.copy()
    got = _values(getattr(ember, op)(_gpu(a, layout), _gpu(b, layout)))
    want = getattr(np, op)(a, b)
    assert np.isnan(want).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got, want)
    # Broadcast against a row.
    row = _with_specials((30,))
    np.testing.assert_array_equal(_values(getattr(ember, op)(_gpu(a), _gpu(row))), getattr(np, op)(a, row))


def test_remainder_takes_the_divisor_sign():
    a = RNG.standard_normal(500) * 100
    b = RNG.standard_normal(500) * 7
    a[:4] = [-7.5, 7.5, -6.0, 0.0]
    b[:4] = [2.0, -2.0, 3.0, -3.0]
    got = _values(_gpu(a) % _gpu(b))
    np.testing.assert_allclose(got, np.remainder(a, b), rtol=1e-12, atol=1e-12)
    assert (np.sign(got[got != 0]) == np.sign(b[got != 0])).all()
    # A float64 scalar divisor, and a value past float32's precision.
    big = np.array([1e15 + 3.0, -(2.0**40) - 1.0])
    np.testing.assert_array_equal(_values(_gpu(big) % 7.0), np.remainder(big, 7.0))


def test_round_is_half_to_even_and_keeps_signed_zeros():
    # lavapipe's own float64 round truncates; the shader's rounds as NumPy does.
    x = np.array([-2.5, -1.5, -0.5, -0.2, 0.5, 1.5, 2.5, 7.5, 2.0**52 + 1.0, 2.0**49 + 0.5, -(2.0**51) - 0.5, np.inf])
    got = _values(_gpu(x).round())
    np.testing.assert_array_equal(got, np.rint(x))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.rint(x)))


def test_floor_divide():
    a = RNG.standard_normal(400) * 100
    b = RNG.standard_normal(400) * 7
    a[:3] = [-7.0, 7.0, 1e15 + 1.0]
    b[:3] = [2.0, -2.0, 1.0]
    got = _values(_gpu(a) // _gpu(b))
    np.testing.assert_array_equal(got, np.floor(a / b))
    assert got[2] == 1e15 + 1.0


def test_clamp_with_float64_bounds():
    a = _with_specials((40, 25))
    lo, hi = -1.0000000001, 2.0000000003
    got = _values(_gpu(a, "transposed").clamp(lo, hi))
    want = np.clip(a, lo, hi)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got, want)
    assert (got[~np.isnan(got)] == lo).any() and (got[~np.isnan(got)] == hi).any()
    np.testing.assert_array_equal(_values(_gpu(a).clamp(min=0.5)), np.where(np.isnan(a), a, np.maximum(a, 0.5)))
    np.testing.assert_array_equal(_values(_gpu(a).clamp(max=-0.5)), np.where(np.isnan(a), a, np.minimum(a, -0.5)))


# ---- matmul ----


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((5, 7), (7, 3)),
        ((130, 70), (70, 200)),  # several 128-wide tiles, partial edges
        ((64, 33), (33, 40)),  # 64-wide tiles
        ((3, 3000), (3000, 5)),  # split-K
        ((4, 17, 9), (4, 9, 140)),  # batched
        ((2, 1, 30, 12), (3, 12, 20)),  # batch broadcast
    ],
)
def test_matmul(shape_a, shape_b):
    a, b = RNG.standard_normal(shape_a), RNG.standard_normal(shape_b)
    got = _gpu(a) @ _gpu(b)
    assert got.dtype == ember.float64
    np.testing.assert_allclose(_values(got), a @ b, rtol=1e-12, atol=1e-11)


def test_matmul_strided_operands():
    a, b = RNG.standard_normal((60, 45)), RNG.standard_normal((45, 90))
    np.testing.assert_allclose(_values(_gpu(a, "transposed").t().t() @ _gpu(b, "transposed")), a @ b, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(_values(_gpu(a.T.copy()).t() @ _gpu(b)), a @ b, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(_values(_gpu(a, "sliced") @ _gpu(b)), a @ b, rtol=1e-12, atol=1e-11)


def test_matmul_keeps_float64_precision():
    # 1 + 2**-29 per product: float32 would round each to 1.
    a = np.full((2, 3), 1.0 + 2.0**-30)
    b = np.full((3, 2), 1.0 + 2.0**-30)
    got = _values(_gpu(a) @ _gpu(b))
    assert np.abs(got - a @ b).max() < 1e-14
    assert (got != 3.0).all()


def test_linear_with_bias():
    x, w, bias = RNG.standard_normal((33, 20)), RNG.standard_normal((70, 20)), RNG.standard_normal(70)
    got = F.linear(_gpu(x), _gpu(w), _gpu(bias))
    np.testing.assert_allclose(_values(got), x @ w.T + bias, rtol=1e-12, atol=1e-11)
    # Split-K with the bias added once.
    x2, w2, b2 = RNG.standard_normal((3, 3000)), RNG.standard_normal((5, 3000)), RNG.standard_normal(5)
    np.testing.assert_allclose(_values(F.linear(_gpu(x2), _gpu(w2), _gpu(b2))), x2 @ w2.T + b2, rtol=1e-12, atol=1e-10)


def test_matmul_and_sum_gradients_match_the_cpu():
    a, b = RNG.standard_normal((30, 3000)), RNG.standard_normal((3000, 6))
    results = []
    for device in ["cpu", "gpu"]:
        ta = ember.tensor(a, device=device, requires_grad=True)
        tb = ember.tensor(b, device=device, requires_grad=True)
        loss = ((ta @ tb) * ember.tensor(np.arange(6.0), device=device)).sum()
        loss.backward()
        results.append((loss.item(), ta.grad.cpu().numpy(), tb.grad.cpu().numpy()))
    (lc, gac, gbc), (lg, gag, gbg) = results
    assert gag.dtype == np.float64
    np.testing.assert_allclose(lg, lc, rtol=1e-12)
    np.testing.assert_allclose(gag, gac, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gbg, gbc, rtol=1e-12, atol=1e-10)
    # The analytic gradient: d(sum((a @ b) * w))/da = w-weighted rows of b.
    np.testing.assert_allclose(gag, np.tile(b @ np.arange(6.0), (30, 1)), rtol=1e-12, atol=1e-11)


# ---- float64 math (shaders/float64.wgsl) ----

_MATH_X = np.concatenate([
    RNG.standard_normal(400) * 4, RNG.uniform(-700, 700, 100), RNG.standard_normal(50) * 1e-5,
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, 709.7, -745.0, 2.4999, 2.5, 5.99, 6.0, 7.5,
     -0.2929, 0.4142, 1e5]])


def _agree(got, want, ulps):
    """Same NaNs and infinities, finite values within ``ulps`` units in the last place."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    special = ~np.isfinite(want)
    np.testing.assert_array_equal(got[special & ~np.isnan(want)], want[special & ~np.isnan(want)])
    fin = np.isfinite(want)
    err = np.abs(got[fin] - want[fin]) / np.spacing(np.maximum(np.abs(want[fin]), 1e-300))
    assert err.max() <= ulps, (err.max(), _MATH_X[fin][np.argmax(err)] if got.size == _MATH_X.size else None)


@pytest.mark.parametrize("op,ulps", [
    ("exp", 2), ("log", 2), ("log1p", 2), ("expm1", 2), ("sin", 2), ("cos", 2), ("tanh", 4),
    ("sigmoid", 3), ("erf", 12), ("sign", 0), ("round", 0), ("rsqrt", 1), ("sqrt", 0)])
def test_math_matches_the_cpu(op, ulps):
    positive = op in ("log", "rsqrt", "sqrt")
    x = np.abs(_MATH_X) if positive else _MATH_X
    got = getattr(_gpu(x), op)().cpu().numpy()
    want = getattr(ember.tensor(x), op)().numpy()
    _agree(got, want, ulps)


def test_sin_cos_of_huge_arguments():
    # Past 2^20 pi/2 the reduction multiplies by 2/pi's bits (Payne-Hanek); the last one is the
    # double nearest a multiple of pi/2 (its cosine is about 4.7e-19).
    x = np.ldexp(RNG.uniform(0.5, 1, 2000), RNG.integers(20, 1024, 2000)) * RNG.choice([-1, 1], 2000)
    x = np.concatenate([x, [1e10, 1e22, 1e300, 1.7976931348623157e308, 1647098.9, 1647099.1,
                            6381956970095103 * 2.0**797]])
    for op, ulps in (("sin", 2), ("cos", 8)):
        _agree(getattr(_gpu(x), op)().cpu().numpy(), getattr(ember.tensor(x), op)().numpy(), ulps)


@pytest.mark.parametrize("f", [F.silu, F.softplus, F.gelu, lambda t: F.gelu(t, approximate="tanh")])
def test_activations_match_the_cpu(f):
    got, want = f(_gpu(_MATH_X)).cpu().numpy(), f(ember.tensor(_MATH_X)).numpy()
    # gelu's 1 + erf(x / sqrt 2) cancels for negative x: an absolute tolerance there.
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("exponent", [2.0, 3.0, 0.5, -1.0, -2.0, 1.7, -2.3, 64.0, 0.0])
def test_pow_matches_the_cpu(exponent):
    x = np.concatenate([_MATH_X[:300] / 8, [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan]])
    got = (_gpu(x) ** exponent).cpu().numpy()
    want = (ember.tensor(x) ** exponent).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=2e-14, atol=0)
    # A tensor exponent, of either sign, and 1 ** nan = 1 as in C.
    y = RNG.standard_normal(x.size) * 3
    y[-1] = np.nan
    x[-1] = 1.0
    got = (_gpu(np.abs(x)) ** _gpu(y)).cpu().numpy()
    want = (ember.tensor(np.abs(x)) ** ember.tensor(y)).numpy()
    np.testing.assert_allclose(got, want, rtol=5e-14, atol=0)


def test_atan2_quadrants_zeros_and_infinities():
    y = np.concatenate([RNG.standard_normal(200) * 3, [0.0, -0.0, 0.0, -0.0, 1.0, -1.0, np.inf,
                                                       -np.inf, np.inf, 2.0, np.nan]])
    x = np.concatenate([RNG.standard_normal(200) * 3, [0.0, 0.0, -0.0, -0.0, np.inf, -np.inf,
                                                       np.inf, -np.inf, 3.0, 0.0, 1.0]])
    got = ember.atan2(_gpu(y), _gpu(x)).cpu().numpy()
    want = np.arctan2(y, x)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(np.signbit(got[200:-1]), np.signbit(want[200:-1]))


def test_signed_zeros():
    z = _gpu([-0.0, 0.0])
    assert np.signbit((z ** 0.5).cpu().numpy()).tolist() == [False, False]  # C's pow: +0
    assert np.signbit(z.erf().cpu().numpy()).tolist() == [True, False]
    assert np.signbit(z.sin().cpu().numpy()).tolist() == [True, False]
    assert np.signbit(z.tanh().cpu().numpy()).tolist() == [True, False]


def test_cast_to_int32_saturates():
    x = np.array([0.0, -0.0, 2.9, -2.9, 3e9, -3e9, np.inf, -np.inf, np.nan, 2147483647.0])
    np.testing.assert_array_equal(_gpu(x).int().cpu().numpy(), ember.tensor(x).int().numpy())


def test_math_gradients_on_the_gpu():
    a = RNG.uniform(0.2, 2.0, (3, 4))
    for f in [lambda t: t.exp(), lambda t: t.log(), lambda t: t.tanh(), lambda t: t.sin(),
              lambda t: t ** 1.5, lambda t: ember.atan2(t, t.flip(0)), F.gelu]:
        t = _gpu(a).requires_grad_()
        f(t).sum().backward()
        c = ember.tensor(a, requires_grad=True)
        f(c).sum().backward()
        np.testing.assert_allclose(t.grad.cpu().numpy(), c.grad.numpy(), rtol=1e-13, atol=1e-14)


# ---- fused kernels and casts, against the CPU kernels ----


def _on_both(f):
    """``f(device)``'s list of tensors on the CPU and on the GPU, as NumPy arrays."""
    return [[t.detach().cpu().numpy() for t in f(d)] for d in ("cpu", "gpu")]


def _same(pairs, rtol=1e-13, atol=1e-14):
    for c, g in zip(*pairs):
        assert g.dtype == np.float64 or g.dtype == np.int64
        np.testing.assert_allclose(g, c, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)), ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)), ("Adamax", dict(lr=0.1, weight_decay=0.1))])
def test_optimizer_steps_match_the_cpu_exactly(name, kw):
    w0, grads = RNG.standard_normal((5, 7)), [RNG.standard_normal((5, 7)) for _ in range(3)]

    def steps(device):
        p = ember.tensor(w0, device=device, requires_grad=True)
        opt = getattr(ember.optim, name)([p], **kw)
        for g in grads:
            p.grad = ember.tensor(g, device=device)
            opt.step()
        return [p]
    _same(_on_both(steps), rtol=0, atol=0)


def test_softmax_cumsum_and_scatter_add():
    a = RNG.standard_normal((4, 300)) * 10
    idx = np.tile(np.arange(300) % 10, (4, 1))

    def run(device):
        t = ember.tensor(a, device=device)
        i = ember.tensor(idx, device=device)
        zeros = ember.zeros(4, 10, dtype=ember.float64, device=device)
        return [t.softmax(1), t.log_softmax(0), t.cumsum(1), t.t().cumsum(1),
                zeros.scatter_add(1, i, t)]
    _same(_on_both(run))


def test_fused_nn_forward_and_backward():
    x, t, w = RNG.standard_normal((6, 10)), RNG.integers(0, 10, 6), RNG.uniform(0.5, 2, 10)
    q, k, v = (RNG.standard_normal(s) for s in [(2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 4)])
    mask = RNG.standard_normal((5, 7))

    def run(device):
        out = []
        X = ember.tensor(x, device=device, requires_grad=True)
        loss = F.cross_entropy(X, ember.tensor(t, device=device),
                               weight=ember.tensor(w, device=device), label_smoothing=0.1)
        loss.backward()
        out += [loss, X.grad]
        X = ember.tensor(x, device=device, requires_grad=True)
        y = F.layer_norm(X, (10,))
        (y * ember.tensor(x, device=device)).sum().backward()
        out += [y, X.grad]
        for causal, m in ((False, ember.tensor(mask, device=device)), (True, None)):
            Q, K, V = (ember.tensor(a, device=device, requires_grad=True) for a in (q, k, v))
            o = F.scaled_dot_product_attention(Q, K, V, attn_mask=m, is_causal=causal)
            (o * o).sum().backward()
            out += [o, Q.grad, K.grad, V.grad]
        return out
    _same(_on_both(run))


def test_convolution_and_pooling_forward_and_backward():
    x, w, b = RNG.standard_normal((2, 4, 9, 8)), RNG.standard_normal((6, 2, 3, 3)), RNG.standard_normal(6)

    def run(device):
        X = ember.tensor(x, device=device, requires_grad=True)
        W = ember.tensor(w, device=device, requires_grad=True)
        y = F.conv2d(X, W, ember.tensor(b, device=device), stride=(2, 1), padding=1,
                     dilation=(1, 2), groups=2)
        z = F.max_pool2d(y, 2)
        a = F.avg_pool2d(y, 3, stride=2, padding=1, count_include_pad=False)
        (z.sum() + a.sum()).backward()
        return [y, z, a, X.grad, W.grad]
    _same(_on_both(run))


def test_int64_casts_round_and_saturate_as_the_cpu():
    x = np.array([0.0, -0.0, 2.7, -2.7, 1e19, -1e19, 9.2e18, -9.2e18, np.nan, np.inf, -np.inf,
                  2.0**53 + 2, -(2.0**62), 4294967296.5, -4294967297.5, 123456789012.9])
    np.testing.assert_array_equal(_gpu(x).long().cpu().numpy(), ember.tensor(x).long().numpy())
    i = np.array([0, 1, -1, 2**53 + 1, -(2**63), 2**63 - 1, 123456789012345678], dtype=np.int64)
    got = ember.tensor(i, device="gpu").double().cpu().numpy()
    np.testing.assert_array_equal(got, ember.tensor(i).double().numpy())


# ---- none of them on the host path ----

_SETUP = "import sys, ember, numpy as np; x = ember.tensor(np.arange(24.0).reshape(4, 6) - 5.5, device='gpu')"
_TRACED = {
    "sum": "x.sum()",
    "sum columns": "ember.tensor(np.ones((300, 130)), device='gpu').sum(0)",
    "prod": "x.prod(1)",
    "amax": "x.amax(0)",
    "amin": "x.t().amin(1)",
    "argmax": "x.argmax(1)",
    "argmin": "x.argmin()",
    "maximum": "ember.maximum(x, x.t().t() * 0.5)",
    "minimum": "ember.minimum(x, 0.25 * x)",
    "remainder": "x % 2.5",
    "floor_divide": "x // 2.5",
    "clamp": "x.clamp(-1.5, 2.5)",
    "matmul": "x @ x.t()",
    "matmul split-K": "ember.tensor(np.ones((3, 3000)), device='gpu') @ ember.tensor(np.ones((3000, 5)), device='gpu')",
    "linear": "ember.nn.functional.linear(x, x, x[0, :4])",
    "exp, log, sin, cos": "(x.exp() + x.abs().log() + x.sin() * x.cos()).tanh()",
    "erf, sigmoid, expm1, log1p": "x.erf() + x.sigmoid() + x.expm1() + x.abs().log1p()",
    "pow, atan2": "x ** 1.5 + x ** x.abs() + ember.atan2(x, x.t().t() + 1)",
    "sign, round, int32": "x.sign() + x.round() + x.int().double()",
    "int64 casts": "x.long().double()",
    "softmax": "x.softmax(1) + x.log_softmax(0)",
    "cumsum": "x.cumsum(1)",
    "scatter_add": "x.scatter_add(1, ember.tensor([[1, 0, 1]] * 4, device='gpu'), x)",
    "adam step": "(p := x.clone().requires_grad_(), setattr(p, 'grad', x * 1), ember.optim.Adam([p]).step(), p)[-1]",
    "cross entropy": "(z := x.clone().requires_grad_(), ember.nn.functional.cross_entropy(z, ember.tensor([0, 1, 5, 2], device='gpu')).backward(), z.grad)[-1]",
    "layer norm": "(z := x.clone().requires_grad_(), ember.nn.functional.layer_norm(z, (6,)).sum().backward(), z.grad)[-1]",
    "attention": "ember.nn.functional.scaled_dot_product_attention(x[None], x[None], x[None])",
    "conv and pools": "ember.nn.functional.avg_pool2d(ember.nn.functional.max_pool2d(ember.nn.functional.conv2d(x[None, None], x[None, None, :2, :2]), 2, 1), 2)",
}


@pytest.fixture(scope="module")
def host_paths():
    """Host-path trace lines per entry of _TRACED, from one traced interpreter."""
    return trace_host_paths(_TRACED, "\n".join([_SETUP, "x.cpu()"]))


@pytest.mark.parametrize("name", list(_TRACED))
def test_runs_without_the_host_path(host_paths, name):
    assert host_paths[name] == []
