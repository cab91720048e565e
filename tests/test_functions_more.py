"""Torch-level functions composed from native ops (python/ember/_functions.py, ember.special,
ember.testing) against NumPy/SciPy, on every device, with float64 gradient checks."""

import numpy as np
import pytest
import scipy.special as sp

import ember
from conftest import assert_close, check_grad, leaf, make, to_np


def T(a, device, dtype=None):
    return make(np.asarray(a), device, dtype=dtype)


@pytest.fixture
def x34(rng):
    return rng.standard_normal((3, 4))


# ----------------------------------------------------------------------------------- shape

def test_atleast_and_stacks(device, rng):
    s = T(np.float64(2.0), device)
    v = T(np.arange(3.0), device)
    m = T(np.arange(6.0).reshape(2, 3), device)
    for f, g in ((ember.atleast_1d, np.atleast_1d), (ember.atleast_2d, np.atleast_2d), (ember.atleast_3d, np.atleast_3d)):
        for t in (s, v, m):
            assert_close(f(t), g(to_np(t)))
        out = f(s, v)
        assert isinstance(out, tuple) and len(out) == 2
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    ta, tb = T(a, device), T(b, device)
    for f, g in ((ember.hstack, np.hstack), (ember.vstack, np.vstack), (ember.row_stack, np.vstack),
                 (ember.dstack, np.dstack), (ember.column_stack, np.column_stack)):
        assert_close(f([ta, tb]), g([a, b]))
    assert_close(ember.hstack([v, v]), np.hstack([np.arange(3.0)] * 2))
    assert_close(ember.column_stack([v, v]), np.column_stack([np.arange(3.0)] * 2))
    with pytest.raises(RuntimeError):
        ember.vstack([])
    with pytest.raises(TypeError):
        ember.hstack(ta)
    check_grad(lambda p, q: ember.column_stack([p, q]), leaf(a, device), leaf(b, device))


def test_movedim_swap_tile_flips(device, rng):
    a = rng.standard_normal((2, 3, 4))
    t = T(a, device)
    assert_close(ember.movedim(t, 0, -1), np.moveaxis(a, 0, -1))
    assert_close(ember.moveaxis(t, (0, 1), (2, 0)), np.moveaxis(a, (0, 1), (2, 0)))
    assert_close(ember.swapaxes(t, 0, 2), np.swapaxes(a, 0, 2))
    assert_close(ember.swapdims(t, 1, 2), np.swapaxes(a, 1, 2))
    assert_close(ember.tile(t, (2,)), np.tile(a, (2,)))
    assert_close(ember.tile(t, (2, 1, 1, 2)), np.tile(a, (2, 1, 1, 2)))
    assert_close(ember.fliplr(t), np.fliplr(a))
    assert_close(ember.flipud(t), np.flipud(a))
    for k in range(-1, 5):
        assert_close(ember.rot90(t, k, [0, 2]), np.rot90(a, k, (0, 2)))
    with pytest.raises(RuntimeError):
        ember.movedim(t, (0, 0), (1, 2))
    with pytest.raises(IndexError):
        ember.movedim(t, 3, 0)
    with pytest.raises(RuntimeError):
        ember.fliplr(T(np.arange(3.0), device))
    with pytest.raises(RuntimeError):
        ember.rot90(t, 1, [1, 1])
    check_grad(lambda p: ember.rot90(ember.movedim(p, 0, 1), 1), leaf(a, device))


def test_tensor_split(device):
    a = np.arange(14.0).reshape(7, 2)
    t = T(a, device)
    for arg in (3, 7, 8, [1, 5], [2, -1, 10], ember.tensor(3), ember.tensor([1, 4])):
        np_arg = arg.tolist() if isinstance(arg, ember.Tensor) else arg
        got, want = ember.tensor_split(t, arg), np.array_split(a, np_arg)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_close(g, w)
    got = ember.tensor_split(t, 2, dim=1)
    assert_close(got[1], a[:, 1:])
    with pytest.raises(RuntimeError):
        ember.tensor_split(t, 0)


def test_block_diag_cartesian_combinations_meshgrid(device, rng):
    import itertools
    import scipy.linalg

    a, b = rng.standard_normal((2, 2)), rng.standard_normal((1, 3))
    got = ember.block_diag(T(a, device), T(b, device), T(np.float64(5.0), device))
    assert_close(got, scipy.linalg.block_diag(a, b, [[5.0]]))
    assert ember.block_diag(T(np.ones((1, 1), dtype=np.int64), device), T(a, device)).dtype == ember.float64
    x, y = np.array([1, 2, 3]), np.array([4, 5])
    assert_close(ember.cartesian_prod(T(x, device), T(y, device)), np.array(list(itertools.product(x, y))))
    tx = T(x, device)
    assert_close(ember.combinations(tx), np.array(list(itertools.combinations(x, 2))))
    assert_close(ember.combinations(tx, 3, with_replacement=True),
                 np.array(list(itertools.combinations_with_replacement(x, 3))))
    assert_close(ember.combinations(tx, 1), x.reshape(3, 1))
    assert ember.combinations(tx, 4).shape == (0, 4)
    assert ember.combinations(tx, 0).shape == (0,)
    with pytest.raises(RuntimeError):
        ember.combinations(tx, -1)
    for indexing in ("ij", "xy"):
        got = ember.meshgrid(tx, T(y, device), indexing=indexing)
        want = np.meshgrid(x, y, indexing=indexing)
        for g, w in zip(got, want):
            assert_close(g, w)
    with pytest.raises(ValueError):
        ember.meshgrid(tx, indexing="yx")
    check_grad(lambda p, q: ember.block_diag(p, q), leaf(a, device), leaf(b, device))


def test_kron_tensordot(device, rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2, 2))
    ta, tb = T(a, device), T(b, device)
    assert_close(ember.kron(ta, tb), np.kron(a, b))
    assert_close(ember.kron(T(np.arange(3), device), T(np.arange(2), device)), np.kron(np.arange(3), np.arange(2)))
    assert_close(ember.tensordot(ta, tb, dims=([1], [0])), np.tensordot(a, b, axes=([1], [0])))
    c = rng.standard_normal((3, 2))
    d = rng.standard_normal((2, 2))
    assert_close(ember.tensordot(tb, T(d, device), dims=2), np.tensordot(b, d, axes=2))
    assert_close(ember.tensordot(ta, T(c, device), dims=0), np.tensordot(a, c, axes=0))
    with pytest.raises(RuntimeError):
        ember.tensordot(ta, tb, dims=([0], [0]))
    check_grad(lambda p, q: ember.kron(p, q), leaf(a, device), leaf(d, device))
    check_grad(lambda p, q: ember.tensordot(p, q, dims=([1], [0])), leaf(a, device), leaf(b, device))


def test_cdist(device, rng):
    from scipy.spatial.distance import cdist as scd

    x, y = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    tx, ty = T(x, device), T(y, device)
    for p, metric in ((2.0, "euclidean"), (1.0, "cityblock"), (3.0, "minkowski"), (float("inf"), "chebyshev")):
        kw = {"p": p} if metric == "minkowski" else {}
        assert_close(ember.cdist(tx, ty, p=p), scd(x, y, metric, **kw), rtol=1e-10, atol=1e-10)
    xb, yb = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5, 3))
    got = ember.cdist(T(xb, device), T(yb, device))
    assert_close(got, np.stack([scd(xb[i], yb[i]) for i in range(2)]))
    with pytest.raises(RuntimeError):
        ember.cdist(tx, T(rng.standard_normal((5, 2)), device))
    with pytest.raises(RuntimeError):
        ember.cdist(tx, ty, p=-1)
    check_grad(lambda p, q: ember.cdist(p, q), leaf(x, device), leaf(y, device))
    check_grad(lambda p, q: ember.cdist(p, q, p=1), leaf(x, device), leaf(y, device))


def test_diag_embed_tri_indices_logspace(device, rng):
    a = rng.standard_normal((2, 3))
    t = T(a, device)
    for off in (0, 1, -2):
        want = np.stack([np.diag(r, off) for r in a])
        assert_close(ember.diag_embed(t, off), want)
    got = ember.diag_embed(t, 0, 0, 2)
    assert_close(got, np.moveaxis(np.stack([np.diag(r) for r in a]), (1, 2), (0, 2)))
    for off in (0, 1, -1, 3):
        assert_close(ember.triu_indices(3, 4, off, device=device), np.stack(np.triu_indices(3, off, 4)))
        assert_close(ember.tril_indices(3, 4, off, device=device), np.stack(np.tril_indices(3, off, 4)))
    assert ember.triu_indices(3, 3).dtype == ember.int64
    assert_close(ember.logspace(-1, 2, 7, dtype=ember.float64, device=device), np.logspace(-1, 2, 7))
    assert_close(ember.logspace(0, 3, 4, base=2.0, device=device), np.logspace(0, 3, 4, base=2.0).astype(np.float32))
    check_grad(lambda p: ember.diag_embed(p, 1), leaf(a, device))


# ------------------------------------------------------------------------------------ math

def test_elementwise_math(device, rng):
    a, b = rng.standard_normal(6) * 3, rng.standard_normal(6) * 3
    ta, tb = T(a, device), T(b, device)
    assert_close(ember.logaddexp(ta, tb), np.logaddexp(a, b))
    assert_close(ember.logaddexp2(ta, tb), np.logaddexp2(a, b))
    big = T(np.array([1000.0, -1000.0, -np.inf, np.inf]), device)
    assert_close(ember.logaddexp(big, big), np.logaddexp(to_np(big), to_np(big)))
    assert_close(ember.exp2(ta), np.exp2(a))
    assert ember.exp2(T(np.arange(3), device)).dtype == ember.float32
    assert_close(ember.frac(ta), a - np.trunc(a))
    assert_close(ember.hypot(ta, tb), np.hypot(a, b))
    assert_close(ember.hypot(T(np.array([1e300, 0.0]), device), T(np.array([1e300, 0.0]), device)), np.hypot([1e300, 0], [1e300, 0]))
    h = np.array([-1.0, 0.0, 2.0])
    assert_close(ember.heaviside(T(h, device), T(np.array([0.5, 0.5, 0.5]), device)), np.heaviside(h, 0.5))
    with pytest.raises(RuntimeError):
        ember.heaviside(T(h, device), T(np.array([1, 1, 1]), device))
    assert_close(ember.sgn(ta), np.sign(a))
    p = rng.uniform(0.05, 0.95, 6)
    assert_close(ember.logit(T(p, device)), sp.logit(p))
    assert_close(ember.logit(T(np.array([0.0, 1.0]), device), eps=1e-6), sp.logit([1e-6, 1 - 1e-6]))
    xs, ys = np.array([0.0, 0.0, 1.0, 2.0]), np.array([0.0, np.nan, 3.0, 0.5])
    assert_close(ember.xlogy(T(xs, device), T(ys, device)), sp.xlogy(xs, ys))
    assert_close(ember.xlogy(T(xs, device), 2.0), sp.xlogy(xs, 2.0))
    r = ember.float_power(T(np.arange(4, dtype=np.int64), device), 0.5)
    assert r.dtype == ember.float64
    assert_close(r, np.float_power(np.arange(4), 0.5))
    assert_close(ember.deg2rad(ta), np.deg2rad(a))
    assert_close(ember.rad2deg(ta), np.rad2deg(a))
    n = np.array([np.nan, np.inf, -np.inf, 1.5], dtype=np.float32)
    assert_close(ember.nan_to_num(T(n, device)), np.nan_to_num(n))
    assert_close(ember.nan_to_num(T(n, device), nan=1.0, posinf=2.0, neginf=-2.0), np.nan_to_num(n, nan=1.0, posinf=2.0, neginf=-2.0))
    assert_close(ember.clamp_min(ta, 0.5), np.maximum(a, 0.5))
    assert_close(ember.clamp_max(ta, 0.5), np.minimum(a, 0.5))
    assert_close(ember.clamp_min(ta, tb), np.maximum(a, b))
    assert_close(ember.clamp_max(ta, tb), np.minimum(a, b))
    c = rng.uniform(1, 2, 6)
    tc = T(c, device)
    assert_close(ember.addcmul(ta, tb, tc, value=0.5), a + 0.5 * b * c)
    assert_close(ember.addcdiv(ta, tb, tc, value=-2), a - 2 * b / c)
    with pytest.raises(RuntimeError):
        ember.addcdiv(ta, T(np.arange(6), device), T(np.arange(1, 7), device))
    w = rng.uniform(0, 1, 6)
    assert_close(ember.lerp(ta, tb, 0.3), a + 0.3 * (b - a))
    assert_close(ember.lerp(ta, tb, T(w, device)), a + w * (b - a))
    with pytest.raises(RuntimeError):
        ember.lerp(ta, T(b.astype(np.float32), device), 0.5)
    assert_close(ember.square(ta), a * a)
    check_grad(ember.logaddexp, leaf(a, device), leaf(b, device))
    check_grad(ember.logaddexp2, leaf(a, device), leaf(b, device))
    check_grad(ember.hypot, leaf(a, device), leaf(b, device))
    check_grad(lambda x: ember.xlogy(x, x * x + 1), leaf(a, device))
    check_grad(lambda x, y, z: ember.addcdiv(x, y, z, value=0.5), leaf(a, device), leaf(b, device), leaf(c, device))
    check_grad(lambda x, y, z: ember.lerp(x, y, z), leaf(a, device), leaf(b, device), leaf(w, device))
    check_grad(lambda x: ember.logit(x), leaf(p, device))


def test_diff(device, rng):
    a = rng.standard_normal((3, 5))
    t = T(a, device)
    for n in (0, 1, 2, 6):
        assert_close(ember.diff(t, n), np.diff(a, n))
    assert_close(ember.diff(t, dim=0), np.diff(a, axis=0))
    pre, app = rng.standard_normal((3, 1)), rng.standard_normal((3, 2))
    assert_close(ember.diff(t, 2, prepend=T(pre, device), append=T(app, device)), np.diff(a, 2, prepend=pre, append=app))
    bo = np.array([True, False, False, True])
    assert_close(ember.diff(T(bo, device)), np.diff(bo))
    with pytest.raises(RuntimeError):
        ember.diff(t, -1)
    with pytest.raises(RuntimeError):
        ember.diff(T(np.float64(1.0), device))
    check_grad(lambda x: ember.diff(x, 2), leaf(a, device))


def test_cov_corrcoef_trace(device, rng):
    a = rng.standard_normal((3, 6))
    t = T(a, device)
    assert_close(ember.cov(t), np.cov(a))
    assert_close(ember.cov(t, correction=0), np.cov(a, ddof=0))
    fw, aw = rng.integers(1, 4, 6), rng.uniform(0.5, 2, 6)
    assert_close(ember.cov(t, fweights=T(fw, device), aweights=T(aw, device)), np.cov(a, fweights=fw, aweights=aw))
    assert_close(ember.cov(t, correction=0, aweights=T(aw, device)), np.cov(a, ddof=0, aweights=aw))
    assert_close(ember.cov(T(a[0], device)), np.cov(a[0]))
    assert_close(ember.corrcoef(t), np.corrcoef(a))
    m = rng.standard_normal((3, 4))
    assert_close(ember.trace(T(m, device)), np.trace(m))
    assert_close(ember.trace(T(np.arange(6).reshape(3, 2), device)), np.trace(np.arange(6).reshape(3, 2)))
    with pytest.raises(RuntimeError):
        ember.trace(T(a[0], device))
    with pytest.raises(RuntimeError):
        ember.cov(T(np.zeros((2, 2, 2)), device))
    with pytest.raises(RuntimeError):
        ember.cov(t, fweights=T(aw, device))
    check_grad(ember.cov, leaf(a, device))
    check_grad(ember.corrcoef, leaf(a, device))
    check_grad(ember.trace, leaf(m, device))


def test_reductions(device, rng):
    a = rng.standard_normal((3, 4))
    a[0, 1] = a[2, 3] = 0
    t = T(a, device)
    assert_close(ember.count_nonzero(t), np.count_nonzero(a))
    assert_close(ember.count_nonzero(t, dim=1), np.count_nonzero(a, axis=1))
    assert_close(ember.count_nonzero(t, dim=(0, 1)), np.count_nonzero(a, axis=(0, 1)))
    an = a.copy()
    an[1, 2] = np.nan
    tn = T(an, device)
    assert_close(ember.nansum(tn), np.nansum(an))
    assert_close(ember.nansum(tn, 1, keepdim=True), np.nansum(an, 1, keepdims=True))
    assert_close(ember.nanmean(tn, 0), np.nanmean(an, 0))
    with pytest.raises(RuntimeError):
        ember.nanmean(T(np.arange(3), device))
    s, m = ember.std_mean(t, 1)
    assert_close(s, a.std(1, ddof=1))
    assert_close(m, a.mean(1))
    v, m = ember.var_mean(t, dim=0, correction=0, keepdim=True)
    assert_close(v, a.var(0, keepdims=True))
    v, _ = ember.var_mean(t, None, False)
    assert_close(v, a.var())
    r = ember.aminmax(t)
    assert_close(r.min, a.min())
    assert_close(r.max, a.max())
    mn, mx = ember.aminmax(t, dim=1, keepdim=True)
    assert_close(mn, a.min(1, keepdims=True))
    assert_close(mx, a.max(1, keepdims=True))
    with pytest.raises(RuntimeError):
        ember.aminmax(T(np.zeros(0), device))
    check_grad(lambda x: ember.nansum(x, 1), leaf(a, device))
    check_grad(lambda x: ember.std_mean(x, 1), leaf(a, device))


def test_cumprod_logcumsumexp_renorm(device, rng):
    a = np.array([[1.5, -2.0, 0.0, 3.0, -0.5, 2.0, 1.0],
                  [0.5, 0.0, 0.0, -4.0, 1.0, -1.0, 2.0]])
    t = T(a, device)
    assert_close(ember.cumprod(t, 1), np.cumprod(a, 1))
    assert_close(ember.cumprod(t, 0), np.cumprod(a, 0))
    i = np.array([2, -3, 1, 4], dtype=np.int32)
    got = ember.cumprod(T(i, device), 0)
    assert got.dtype == ember.int64
    assert_close(got, np.cumprod(i))
    x = np.array([[-1000.0, 0.0, 1000.0, 1.0, -5.0], [3.0, 2.0, 1.0, -np.inf, 0.5]])
    want = np.logaddexp.accumulate(x, axis=1)
    assert_close(ember.logcumsumexp(T(x, device), 1), want)
    b = rng.standard_normal((3, 4, 2))
    assert_close(ember.logcumsumexp(T(b, device), 1), np.logaddexp.accumulate(b, axis=1))
    r = rng.standard_normal((3, 4)) * 3
    got = ember.renorm(T(r, device), 2, 0, 2.0)
    norms = np.linalg.norm(r, axis=1, keepdims=True)
    assert_close(got, np.where(norms > 2.0, r * 2.0 / (norms + 1e-7), r))
    got = ember.renorm(T(r, device), 1, 1, 3.0)
    norms = np.abs(r).sum(0, keepdims=True)
    assert_close(got, np.where(norms > 3.0, r * 3.0 / (norms + 1e-7), r))
    with pytest.raises(RuntimeError):
        ember.renorm(T(r, device), 0, 0, 1.0)
    check_grad(lambda y: ember.cumprod(y, 1), leaf(a, device))
    check_grad(lambda y: ember.logcumsumexp(y, 1), leaf(b.reshape(3, 8), device))
    check_grad(lambda y: ember.renorm(y, 2, 0, 2.0), leaf(r, device))


# --------------------------------------------------------------------------------- special

def test_special(device, rng):
    from ember import special

    x = np.array([-40.0, -12.0, -6.0, -2.5, -1.0, -0.3, 0.0, 0.4, 1.7, 3.0, 9.0, 30.0])
    t = T(x, device)
    for f, g, tol in ((special.erf, sp.erf, 1e-12), (special.erfc, sp.erfc, 1e-12), (special.expit, sp.expit, 1e-12),
                      (special.ndtr, sp.ndtr, 1e-12), (special.log_ndtr, sp.log_ndtr, 1e-12),
                      (special.sinc, np.sinc, 1e-12), (special.entr, sp.entr, 1e-12)):
        assert_close(f(t), g(x), rtol=tol, atol=1e-300)
    assert np.isfinite(to_np(special.log_ndtr(T(np.array([-1e3]), device)))).all()
    # float32 keeps relative precision in the tails too (no cancellation; exp(-z^2) in float32
    # costs a few 1e-6 at x = -12).
    x32 = x.astype(np.float32)
    for f, g in ((special.erfc, sp.erfc), (special.ndtr, sp.ndtr), (special.log_ndtr, sp.log_ndtr)):
        want = g(x32.astype(np.float64))
        got = to_np(f(T(x32, device))).astype(np.float64)
        fin = np.abs(want) > 1e-37  # representable in float32
        assert np.allclose(got[fin], want[fin], rtol=3e-5, atol=0), (f, got, want)
    p = rng.uniform(0.05, 0.95, 5)
    assert_close(special.logit(T(p, device)), sp.logit(p))
    xs, ys = np.array([0.0, 0.0, 1.0, 2.0]), np.array([-1.0, np.nan, 3.0, 0.5])
    assert_close(special.xlog1py(T(xs, device), T(ys, device)), sp.xlog1py(xs, ys))
    assert_close(special.xlogy(T(xs, device), T(ys + 2, device)), sp.xlogy(xs, ys + 2))
    m = rng.standard_normal((2, 5))
    assert_close(special.softmax(T(m, device), 1), sp.softmax(m, 1))
    assert_close(special.log_softmax(T(m, device), 0), sp.log_softmax(m, 0))
    g = np.array([-6.0, -2.5, -0.7, 0.0, 0.4, 1.7, 3.0])
    for f in (special.erfc, special.ndtr, special.log_ndtr, special.sinc):
        check_grad(f, leaf(g, device))
    check_grad(special.entr, leaf(rng.uniform(0.1, 2, 5), device))
    check_grad(lambda a, b: special.xlog1py(a, b), leaf(p, device), leaf(p, device))


# ------------------------------------------------------------------------ testing and dtypes

def test_assert_close_and_make_tensor(device):
    from ember.testing import assert_close as ac, make_tensor

    a = T(np.array([1.0, 2.0, 3.0], dtype=np.float32), device)
    ac(a, a + 1e-6)
    with pytest.raises(AssertionError) as info:
        ac(a, a + T(np.array([0.0, 0.5, 1e-3], dtype=np.float32), device))
    text = str(info.value)
    assert "Mismatched elements: 2 / 3 (66.7%)" in text
    assert "Greatest absolute difference: 0.5 at index (1,)" in text
    ac(a.double(), a.double() + 1e-8)
    with pytest.raises(AssertionError):
        ac(a.double(), a.double() + 1e-6)
    with pytest.raises(AssertionError, match="dtype"):
        ac(a, a.double())
    with pytest.raises(AssertionError, match="shape"):
        ac(a, a[:2])
    with pytest.raises(ValueError):
        ac(a, a, rtol=1e-3)
    ac(a, a + 0.1, rtol=0, atol=0.2)
    nan = T(np.array([np.nan]), device)
    with pytest.raises(AssertionError):
        ac(nan, nan)
    ac(nan, nan, equal_nan=True)
    ac([a, a], [a, a])
    ac(1.0, 1.0 + 1e-9)
    with pytest.raises(AssertionError, match="Scalars are not close"):
        ac(1.0, 1.0 + 1e-6)  # Python floats compare with float64's tolerances
    ints = T(np.array([1, 2, 3]), device)
    with pytest.raises(AssertionError, match="Tensor-likes are not equal"):
        ac(ints, ints + T(np.array([0, 0, 1]), device))
    with pytest.raises(TypeError):
        ac(a, np.array([1.0, 2.0, 3.0], dtype=np.float32))
    with pytest.raises(AssertionError, match="custom"):
        ac(a, a + 1, msg="custom")
    t = make_tensor(3, 4, dtype=ember.float32, device=device, low=-2, high=2)
    assert t.shape == (3, 4) and t.dtype == ember.float32 and t.device.type == ember.device(device).type
    v = to_np(t)
    assert (v >= -2).all() and (v < 2).all()
    i = make_tensor((50,), dtype=ember.int64, device=device, low=0, high=3)
    assert set(to_np(i).tolist()) <= {0, 1, 2}
    assert not make_tensor(2, 3, dtype=ember.float64, device=device, noncontiguous=True).is_contiguous()
    assert make_tensor(2, dtype=ember.float64, device=device, requires_grad=True).requires_grad
    assert make_tensor(4, dtype=ember.bool, device=device).dtype == ember.bool
    with pytest.raises(ValueError):
        make_tensor(2, dtype=ember.float32, device=device, low=3, high=1)


def test_promotion_and_predicates(device):
    f16, f32, f64, i32, i64, b = ember.float16, ember.float32, ember.float64, ember.int32, ember.int64, ember.bool
    assert ember.promote_types(i32, f16) == f16
    assert ember.promote_types(f16, ember.bfloat16) == f32
    assert ember.promote_types(b, i32) == i32
    assert ember.promote_types(i64, f64) == f64
    ti = T(np.array([1, 2], dtype=np.int32), device)
    assert ember.result_type(ti, 1) == i32
    assert ember.result_type(ti, 1.0) == f32
    assert ember.result_type(ti, T(np.array([1]), device)) == i64
    assert ember.result_type(ti, T(np.float64(1.0), device)) == f64
    assert ember.result_type(T(np.array([1.0], dtype=np.float16), device), T(np.float64(1.0), device)) == f16
    assert ember.result_type(T(np.array([True]), device), 2) == i64
    assert ember.result_type(ti, ti + 0.5) == (ti + 0.5).dtype
    assert ember.can_cast(i32, f32) and ember.can_cast(f32, f64) and ember.can_cast(b, i64)
    assert not ember.can_cast(f32, i64) and not ember.can_cast(i64, b) and not ember.can_cast(f64, b)
    assert ember.iinfo(i32).max == 2 ** 31 - 1 and ember.iinfo(i64).min == -(2 ** 63)
    with pytest.raises(TypeError):
        ember.iinfo(f32)
    assert ember.is_nonzero(T(np.array([0.5]), device)) and not ember.is_nonzero(T(np.float64(0.0), device))
    with pytest.raises(RuntimeError):
        ember.is_nonzero(T(np.array([1.0, 2.0]), device))
    with pytest.raises(RuntimeError):
        ember.is_nonzero(T(np.zeros(0), device))
    v = np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan])
    t = T(v, device)
    assert_close(ember.isposinf(t), np.isposinf(v))
    assert_close(ember.isneginf(t), np.isneginf(v))
    assert_close(ember.signbit(t[:6]), np.signbit(v[:6]))
    assert_close(ember.signbit(T(np.array([-2, 0, 3]), device)), np.array([True, False, False]))


def test_cdist_mm_route_and_equal_points(device, rng):
    from scipy.spatial.distance import cdist as scd

    x, y = rng.standard_normal((30, 3)), rng.standard_normal((4, 3))
    assert_close(ember.cdist(T(x, device), T(y, device)), scd(x, y), rtol=1e-8, atol=1e-8)
    assert_close(ember.cdist(T(x, device), T(y, device), compute_mode="donot_use_mm_for_euclid_dist"), scd(x, y))
    # cdist(x, x): the zero distances have a zero gradient, not NaN.
    for p in (2.0, 3.0):
        t = leaf(x[:4], device)
        ember.cdist(t, t, p=p).sum().backward()
        assert np.isfinite(to_np(t.grad)).all()
    check_grad(lambda a, b: ember.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), leaf(x[:5], device), leaf(y, device))
    with pytest.raises(ValueError):
        ember.cdist(T(x, device), T(y, device), compute_mode="fast")


def test_broadcast_tensors_and_shapes(device, rng):
    a, b = rng.standard_normal((3, 1)), rng.standard_normal(4)
    ga, gb = ember.broadcast_tensors(T(a, device), T(b, device))
    wa, wb = np.broadcast_arrays(a, b)
    assert_close(ga, wa)
    assert_close(gb, wb)
    assert ember.broadcast_shapes((3, 1), (4,), 1) == (3, 4) == np.broadcast_shapes((3, 1), (4,), 1)
    assert ember.broadcast_shapes((10 ** 6, 1), (1, 10 ** 6)) == (10 ** 6, 10 ** 6)
    with pytest.raises(RuntimeError):
        ember.broadcast_shapes((2,), (3,))


def test_shape_function_gradients(device, rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    v = rng.standard_normal(3)
    check_grad(lambda p, q: ember.hstack([p, q]), leaf(a, device), leaf(b, device))
    check_grad(lambda p, q: ember.dstack([p, q]), leaf(a, device), leaf(b, device))
    check_grad(lambda p: ember.tile(p, (2, 1, 2)), leaf(a, device))
    check_grad(lambda p: ember.tensor_split(p, [1, 2], dim=1), leaf(a, device))
    check_grad(lambda p, q: ember.meshgrid(p, q, indexing="xy"), leaf(v, device), leaf(v[:2], device))
    check_grad(lambda p, q: ember.cartesian_prod(p, q), leaf(v, device), leaf(v[:2], device))
    check_grad(lambda p: ember.combinations(p, 2), leaf(v, device))
    check_grad(lambda p: ember.fliplr(ember.swapaxes(p, 0, 1)), leaf(a, device))
