"""The native GPU kernels (shaders/index.wgsl, shaders/conv.wgsl) against the CPU kernels on the
same float32 / int64 inputs: gather, scatter(-add), flip, cumsum, the int64 casts, conv2d and
the pools, forward and backward, over strided views and awkward geometries."""

import numpy as np
import pytest

import ember
from ember.nn import functional as F
from conftest import DEVICES

pytestmark = pytest.mark.skipif("gpu" not in DEVICES, reason="needs the GPU backend")


def A(t):
    return np.array(t.detach().cpu().numpy(), copy=True)


def both(a, requires_grad=False, dtype=None):
    """The same values on the CPU and on the GPU (leaves)."""
    out = []
    for dev in ("cpu", "gpu"):
        t = ember.from_numpy(np.ascontiguousarray(a)).to(dev)
        if dtype is not None:
            t = t.to(dtype)
        if requires_grad:
            t.requires_grad_(True)
        out.append(t)
    return out


def assert_close_devices(g, c, rtol=1e-5, atol=1e-5):
    assert "gpu" in str(g.device) and "cpu" in str(c.device)
    np.testing.assert_allclose(A(g), A(c), rtol=rtol, atol=atol)


RNG = np.random.default_rng(3)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_gather_and_backward(dim):
    x = RNG.standard_normal((4, 5, 6)).astype(np.float32)
    ishape = [3, 4, 5]
    ishape[dim] = 7
    idx = RNG.integers(0, x.shape[dim], ishape)
    (xc, xg), (ic, ig) = both(x, True), both(idx)
    gc, gg = xc.gather(dim, ic), xg.gather(dim, ig)
    assert_close_devices(gg, gc, 0, 0)
    w = RNG.standard_normal(ishape).astype(np.float32)
    (wc, wg) = both(w)
    (gc * wc).sum().backward()
    (gg * wg).sum().backward()
    assert_close_devices(xg.grad, xc.grad)


def test_gather_strided_views_and_int_dtypes():
    x = RNG.standard_normal((6, 8)).astype(np.float32)
    (xc, xg) = both(x)
    idx = RNG.integers(0, 8, (6, 3))
    (ic, ig) = both(idx)
    # A transposed source and a transposed index.
    assert_close_devices(xg.t().gather(0, ig.t()), xc.t().gather(0, ic.t()), 0, 0)
    for dtype in (ember.int64, ember.int32, ember.bool):
        xi = (both(x * 1e6, dtype=dtype))
        assert_close_devices(xi[1].gather(1, ig[:6, :2]), xi[0].gather(1, ic[:6, :2]), 0, 0)


def test_embedding_index_select_forward_backward():
    w = RNG.standard_normal((10, 4)).astype(np.float32)
    (wc, wg) = both(w, True)
    tok = RNG.integers(0, 10, (3, 5))  # repeats: the backward accumulates
    (tc, tg) = both(tok)
    yc, yg = F.embedding(tc, wc), F.embedding(tg, wg)
    assert_close_devices(yg, yc, 0, 0)
    g = RNG.standard_normal((3, 5, 4)).astype(np.float32)
    (gc, gg) = both(g)
    (yc * gc).sum().backward()
    (yg * gg).sum().backward()
    assert_close_devices(wg.grad, wc.grad)


@pytest.mark.parametrize("add", [False, True])
@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_duplicates_match_cpu(add, dim):
    x = RNG.standard_normal((5, 6)).astype(np.float32)
    ishape = [4, 3]
    idx = RNG.integers(0, x.shape[dim], ishape)  # many duplicates
    src = RNG.standard_normal(ishape).astype(np.float32)
    (xc, xg), (ic, ig), (sc, sg) = both(x, True), both(idx), both(src, True)
    op = "scatter_add" if add else "scatter"
    rc, rg = getattr(xc, op)(dim, ic, sc), getattr(xg, op)(dim, ig, sg)
    assert_close_devices(rg, rc, 1e-6, 1e-6)
    big = RNG.standard_normal((6, 7)).astype(np.float32)  # a source larger than the index
    (bc, bg) = both(big)
    assert_close_devices(getattr(xg, op)(dim, ig, bg), getattr(xc, op)(dim, ic, bc), 1e-6, 1e-6)
    g = RNG.standard_normal((5, 6)).astype(np.float32)
    (gc, gg) = both(g)
    (rc * gc).sum().backward()
    (rg * gg).sum().backward()
    assert_close_devices(xg.grad, xc.grad)
    assert_close_devices(sg.grad, sc.grad)


def test_scatter_out_of_range_still_raises():
    (xg,) = both(np.ones((2, 3), np.float32))[1:]
    with pytest.raises((RuntimeError, IndexError)):
        xg.scatter_add(0, ember.tensor([[2, 0, 0]], device="gpu"), xg)
        ember.gpu.synchronize()  # the deferred check raises at the next wait
    with pytest.raises((RuntimeError, IndexError)):
        xg.gather(1, ember.tensor([[0, -1]], device="gpu")).cpu()


def test_flip_and_cumsum():
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    (xc, xg) = both(x, True)
    for dims in ([0], [1, 2], [0, 1, 2]):
        assert_close_devices(xg.flip(dims), xc.flip(dims), 0, 0)
        assert_close_devices(xg.transpose(0, 2).flip(dims), xc.transpose(0, 2).flip(dims), 0, 0)
    for d in range(3):
        assert_close_devices(xg.cumsum(d), xc.cumsum(d), 0, 0)
        assert_close_devices(xg.transpose(0, 1).cumsum(d), xc.transpose(0, 1).cumsum(d), 0, 0)
    (xg.cumsum(1) * xg.flip([2])).sum().backward()
    (xc.cumsum(1) * xc.flip([2])).sum().backward()
    assert_close_devices(xg.grad, xc.grad)
    big = np.array([[2**40 + 3, -(2**35), 7], [1, 2, 3]], dtype=np.int64)
    (bc, bg) = both(big)
    assert A(bg.cumsum(1)).tolist() == A(bc.cumsum(1)).tolist()


def test_int64_casts_round_trip_beyond_2_31():
    v = np.array([0, 1, -1, 2**31, -(2**31) - 5, 2**40 + 7, -(2**53) - 3, 2**62 + 2**38 + 1,
                  2**53 + 1, 2**63 - 1, -(2**63), 16777217, -16777219], dtype=np.int64)
    (c, g) = both(v)
    assert A(g.to(ember.int64)).tolist() == v.tolist()
    for dtype in (ember.float32, ember.int32, ember.bool):
        gc, gg = c.to(dtype), g.to(dtype)
        assert A(gg).tolist() == A(gc).tolist(), dtype
        assert A(gg.to(ember.int64)).tolist() == A(gc.to(ember.int64)).tolist(), dtype
    f = np.array([0.0, -0.7, 2.9, -3.5, 1e10, -1e10, 3e18, 1e19, -1e19, 9.3e18, np.nan,
                  np.inf, -np.inf, 2.0**31, -(2.0**31)], dtype=np.float32)
    (fc, fg) = both(f)
    assert A(fg.to(ember.int64)).tolist() == A(fc.to(ember.int64)).tolist()
    # Through a strided view and back.
    m = np.arange(12, dtype=np.int64).reshape(3, 4) * (2**33) - 5
    (mc, mg) = both(m)
    assert A(mg.t().to(ember.float32).to(ember.int64)).tolist() == A(
        mc.t().to(ember.float32).to(ember.int64)).tolist()
    assert A(mg.t()[1:].to(ember.int32)).tolist() == A(mc.t()[1:].to(ember.int32)).tolist()


@pytest.mark.parametrize(
    "cin,cout,k,stride,padding,dilation,groups",
    [
        (3, 4, 3, 1, 0, 1, 1),
        (4, 6, (3, 2), (2, 1), (1, 2), 1, 2),
        (2, 3, 3, 2, 1, (2, 1), 1),
        (4, 4, 1, 1, 0, 1, 4),
    ],
)
def test_conv2d_forward_backward(cin, cout, k, stride, padding, dilation, groups):
    x = RNG.standard_normal((2, cin, 7, 8)).astype(np.float32)
    kh, kw = (k, k) if isinstance(k, int) else k
    w = RNG.standard_normal((cout, cin // groups, kh, kw)).astype(np.float32)
    b = RNG.standard_normal(cout).astype(np.float32)
    (xc, xg), (wc, wg), (bc, bg) = both(x, True), both(w, True), both(b, True)
    kw_ = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    yc, yg = F.conv2d(xc, wc, bc, **kw_), F.conv2d(xg, wg, bg, **kw_)
    assert_close_devices(yg, yc, 1e-4, 1e-4)
    g = RNG.standard_normal(tuple(yc.shape)).astype(np.float32)
    (gc, gg) = both(g)
    (yc * gc).sum().backward()
    (yg * gg).sum().backward()
    assert_close_devices(xg.grad, xc.grad, 1e-4, 1e-4)
    assert_close_devices(wg.grad, wc.grad, 1e-4, 1e-4)
    assert_close_devices(bg.grad, bc.grad, 1e-4, 1e-4)


@pytest.mark.parametrize("k,s,p,d", [(2, 2, 0, 1), (3, 2, 1, 1), ((2, 3), (1, 2), (1, 1), 1), (2, 1, 1, 2)])
def test_pools_forward_backward(k, s, p, d):
    x = RNG.standard_normal((2, 3, 7, 6)).astype(np.float32)
    x[0, 0, 1, 1] = np.nan  # NaN wins the max
    (xc, xg) = both(x, True)
    oc, ic = F.max_pool2d(xc, k, s, p, dilation=d, return_indices=True)
    og, ig = F.max_pool2d(xg, k, s, p, dilation=d, return_indices=True)
    assert_close_devices(og, oc, 0, 0)
    assert A(ig).tolist() == A(ic).tolist()
    if d != 1:
        return
    x2 = np.nan_to_num(x)
    for pad in (True, False):
        (xc, xg) = both(x2, True)
        yc = F.avg_pool2d(xc, k, s, p, count_include_pad=pad)
        yg = F.avg_pool2d(xg, k, s, p, count_include_pad=pad)
        assert_close_devices(yg, yc, 1e-5, 1e-6)
        g = RNG.standard_normal(tuple(yc.shape)).astype(np.float32)
        (gc, gg) = both(g)
        (yc * gc).sum().backward()
        (yg * gg).sum().backward()
        assert_close_devices(xg.grad, xc.grad, 1e-5, 1e-6)
