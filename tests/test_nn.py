"""ember.nn layers against NumPy references written here: forward values, gradients (finite
differences of the NumPy reference, and float64 gradcheck of the layer itself), PyTorch's
initialisation bounds and shapes; then the Module machinery (registration, weight tying,
state_dict errors, train/eval, hooks, apply, repr, zero_grad)."""

import math
import os

import numpy as np
import pytest
from scipy.special import erf

import ember
from conftest import DEVICES
from ember import nn
from ember.nn import functional as F


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)


def T(a, device="cpu", requires_grad=False, dtype=None):
    """An ember leaf with the values of ``a`` (float64 arrays stay float64)."""
    a = np.asarray(a)
    t = ember.tensor(a.tolist(), dtype=dtype, device=device) if dtype is not None else ember.from_numpy(np.ascontiguousarray(a)).to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def A(t):
    return np.array(t.detach().cpu().numpy(), copy=True)


def assert_close(t, expected, rtol=1e-5, atol=1e-6):
    got = A(t) if isinstance(t, ember.Tensor) else np.asarray(t)
    exp = np.asarray(expected)
    assert got.shape == exp.shape, f"shape {got.shape} != {exp.shape}"
    np.testing.assert_allclose(got, exp, rtol=rtol, atol=atol)


def num_grad(f, x, eps=1e-6):
    """Central differences of the scalar NumPy function ``f`` at the float64 array ``x``."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def set_params(module, **arrays):
    with ember.no_grad():
        for name, a in arrays.items():
            getattr(module, name).copy_(T(np.asarray(a, dtype=np.float64)).to(getattr(module, name).dtype))


def gradcheck(fn, *inputs):
    """float64 finite differences against the tape; 0-dim outputs are checked through a 1-element
    view (gradcheck's own seed for a 0-dim output comes out 1-dim: see test_autograd.py)."""
    def wrapped(*args):
        out = fn(*args)
        return out.reshape(1) if out.dim() == 0 else out

    assert ember.autograd.gradcheck(wrapped, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


# ------------------------------------------------------------------------------------ NumPy refs
def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_gelu(x):
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def np_conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    x = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (wd - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for g in range(groups):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]
        for a in range(kh):
            for c in range(kw):
                patch = xs[:, :, a * dh: a * dh + sh * (ho - 1) + 1: sh, c * dw: c * dw + sw * (wo - 1) + 1: sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, ws[:, :, a, c])
    if b is not None:
        out += b[None, :, None, None]
    return out


def np_conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1, dilation=(1, 1)):
    n, cin, h, wd = x.shape
    _, ocg, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    icg = cin // groups
    fh, fw = (h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    full = np.zeros((n, ocg * groups, fh, fw))
    for g in range(groups):
        xs = x[:, g * icg:(g + 1) * icg]
        for a in range(kh):
            for c in range(kw):
                contrib = np.einsum("nchw,co->nohw", xs, w[g * icg:(g + 1) * icg, :, a, c])
                full[:, g * ocg:(g + 1) * ocg, a * dh: a * dh + sh * (h - 1) + 1: sh, c * dw: c * dw + sw * (wd - 1) + 1: sw] += contrib
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wo = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    out = full[:, :, ph: ph + ho, pw: pw + wo]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def np_pool2d(x, k, s, p, kind, count_include_pad=True):
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    ones = np.pad(np.ones(x.shape[2:]), ((p[0], p[0]), (p[1], p[1])))
    h, w = xp.shape[2:]
    ho, wo = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            win = xp[:, :, i * s[0]: i * s[0] + k[0], j * s[1]: j * s[1] + k[1]]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                cnt = k[0] * k[1] if count_include_pad else ones[i * s[0]: i * s[0] + k[0], j * s[1]: j * s[1] + k[1]].sum()
                out[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return out


def np_layer_norm(x, w, b, axes, eps=1e-5):
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    out = (x - mu) / np.sqrt(var + eps)
    return out * w + b if w is not None else out


def np_group_norm(x, g, w, b, eps=1e-5):
    n, c = x.shape[:2]
    xr = x.reshape(n, g, -1)
    out = ((xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return out * w.reshape(shape) + b.reshape(shape)


def np_rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


# -------------------------------------------------------------------------------------- Linear
def test_linear_forward_backward_and_init(device):
    rng = np.random.default_rng(0)
    m = nn.Linear(5, 3).to(device)
    bound = 1 / math.sqrt(5)
    w0, b0 = A(m.weight), A(m.bias)
    assert w0.shape == (3, 5) and b0.shape == (3,)
    assert np.abs(w0).max() <= bound + 1e-7 and np.abs(b0).max() <= bound + 1e-7
    assert w0.std() > bound / 4, "weights should be spread over the kaiming-uniform range"
    x = rng.standard_normal((4, 5)).astype(np.float32)
    g = rng.standard_normal((4, 3)).astype(np.float32)
    xt = T(x, device, requires_grad=True)
    out = m(xt)
    assert_close(out, x @ w0.T + b0, rtol=1e-5, atol=1e-5)
    (out * T(g, device)).sum().backward()
    assert_close(xt.grad, g @ w0, atol=1e-5)
    assert_close(m.weight.grad, g.T @ x, atol=1e-5)
    assert_close(m.bias.grad, g.sum(0), atol=1e-5)
    # Extra leading dims broadcast; no bias registers None.
    assert tuple(m(T(rng.standard_normal((2, 4, 5)).astype(np.float32), device)).shape) == (2, 4, 3)
    nb = nn.Linear(5, 3, bias=False)
    assert nb.bias is None and [n for n, _ in nb.named_parameters()] == ["weight"]


def test_linear_gradcheck(device):
    m = nn.Linear(3, 2).double().to(device)
    x = T(np.random.default_rng(1).standard_normal((2, 3)), device, requires_grad=True)
    gradcheck(lambda x, w, b: F.linear(x, w, b), x, m.weight, m.bias)


@pytest.mark.parametrize("lead", [(), (7,), (2, 3, 70)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_functional_linear_is_one_node_over_any_leading_dims(device, lead, with_bias):
    # F.linear is one native op: every row of a [.., in] input times w^T plus the bias (on the
    # GPU in the matmul's epilogue), with the gradients of x, w and b.
    rng = np.random.default_rng(2)
    x = rng.standard_normal(lead + (20,)).astype(np.float32)
    w = rng.standard_normal((70, 20)).astype(np.float32)
    b = rng.standard_normal(70).astype(np.float32)
    g = rng.standard_normal(lead + (70,)).astype(np.float32)
    xt, wt, bt = (T(v, device, requires_grad=True) for v in (x, w, b))
    out = F.linear(xt, wt, bt if with_bias else None)
    want = x @ w.T + (b if with_bias else 0)
    assert tuple(out.shape) == want.shape
    assert_close(out, want, rtol=1e-4, atol=1e-4)
    (out * T(g, device)).sum().backward()
    g2, x2 = g.reshape(-1, 70), x.reshape(-1, 20)
    assert_close(xt.grad, (g2 @ w).reshape(x.shape), rtol=1e-4, atol=1e-4)
    assert_close(wt.grad, g2.T @ x2, rtol=1e-4, atol=1e-4)
    if with_bias:
        assert_close(bt.grad, g2.sum(0), rtol=1e-4, atol=1e-4)
    else:
        assert bt.grad is None


def test_functional_linear_strided_operands_and_errors(device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)  # used transposed: a strided weight
    b = rng.standard_normal(10).astype(np.float32)  # used with a step: a strided bias
    out = F.linear(T(x, device).t().contiguous().t(), T(w, device).t(), T(b, device)[::2])
    assert_close(out, x @ w + b[::2], rtol=1e-5, atol=1e-5)
    # No input features: the output is the bias on every row.
    out = F.linear(T(np.zeros((3, 0), np.float32), device), T(np.zeros((2, 0), np.float32), device),
                   T(np.array([1.0, 2.0], np.float32), device))
    assert_close(out, np.array([[1.0, 2.0]] * 3, np.float32))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(6x4 and 3x5\)"):
        F.linear(T(x, device), T(np.zeros((5, 3), np.float32), device))
    with pytest.raises(RuntimeError):
        F.linear(T(x, device), T(np.zeros((5, 4), np.float32), device), T(np.zeros(3, np.float32), device))


# -------------------------------------------------------------------------------------- Conv2d
CONV_CASES = [
    # (cin, cout, k, stride, padding, dilation, groups)
    (2, 3, 3, 1, 0, 1, 1),
    (2, 4, 3, 2, 1, 1, 1),
    (2, 3, (2, 3), (2, 1), (1, 2), 1, 1),
    (2, 3, 3, 1, "same", 1, 1),
    (2, 3, 4, 1, "same", 1, 1),
    (2, 3, (2, 3), 1, "same", (2, 1), 1),
    (2, 3, 3, 1, "valid", 1, 1),
    (2, 2, 3, 1, 2, 2, 1),
    (4, 6, 3, 1, 1, 1, 2),
    (4, 4, 3, 2, 1, 1, 4),
]


def _conv_pads(padding, k, dilation):
    k, d = (k, k) if isinstance(k, int) else k, (dilation, dilation) if isinstance(dilation, int) else dilation
    if padding == "same":
        tot = [d[i] * (k[i] - 1) for i in range(2)]
        return tuple((t // 2, t - t // 2) for t in tot)
    if padding == "valid":
        return ((0, 0), (0, 0))
    p = (padding, padding) if isinstance(padding, int) else padding
    return ((p[0], p[0]), (p[1], p[1]))


@pytest.mark.parametrize("cin,cout,k,stride,padding,dilation,groups", CONV_CASES)
def test_conv2d_forward_backward(device, cin, cout, k, stride, padding, dilation, groups):
    rng = np.random.default_rng(2)
    m = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups).double().to(device)
    kk = (k, k) if isinstance(k, int) else k
    assert tuple(m.weight.shape) == (cout, cin // groups) + kk
    bound = 1 / math.sqrt(cin // groups * kk[0] * kk[1])
    assert np.abs(A(m.weight)).max() <= bound + 1e-7 and np.abs(A(m.bias)).max() <= bound + 1e-7
    w, b = A(m.weight), A(m.bias)
    x = rng.standard_normal((2, cin, 6, 5))
    st = (stride, stride) if isinstance(stride, int) else stride
    dl = (dilation, dilation) if isinstance(dilation, int) else dilation
    pads = _conv_pads(padding, k, dilation)
    ref = lambda x_, w_: np_conv2d(x_, w_, b, st, pads, dl, groups)  # noqa: E731
    expected = ref(x, w)
    if padding == "same":
        assert expected.shape[2:] == x.shape[2:]
    xt = T(x, device, requires_grad=True)
    out = m(xt)
    assert_close(out, expected, rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(expected.shape)
    (out * T(g, device)).sum().backward()
    assert_close(xt.grad, num_grad(lambda x_: (ref(x_, w) * g).sum(), x), rtol=1e-6, atol=1e-6)
    assert_close(m.weight.grad, num_grad(lambda w_: (ref(x, w_) * g).sum(), w), rtol=1e-6, atol=1e-6)
    assert_close(m.bias.grad, g.sum(axis=(0, 2, 3)), rtol=1e-10, atol=1e-10)


def test_conv2d_gradcheck_and_unbatched(device):
    rng = np.random.default_rng(3)
    x = T(rng.standard_normal((1, 2, 4, 4)), device, requires_grad=True)
    w = T(rng.standard_normal((2, 1, 2, 2)), device, requires_grad=True)
    b = T(rng.standard_normal(2), device, requires_grad=True)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2), x, w, b)
    m = nn.Conv2d(2, 3, 3, padding=1).to(device)
    xi = rng.standard_normal((2, 5, 5)).astype(np.float32)
    assert_close(m(T(xi, device)), A(m(T(xi[None], device)))[0], atol=1e-6)


def test_conv1d_matches_reference(device):
    rng = np.random.default_rng(4)
    m = nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=1).double().to(device)
    x = rng.standard_normal((2, 2, 7))
    ref = np_conv2d(x[:, :, None], A(m.weight)[:, :, None], A(m.bias), (1, 2), ((0, 0), (1, 1)))[:, :, 0]
    assert_close(m(T(x, device)), ref, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- ConvTranspose2d
CONVT_CASES = [
    # (cin, cout, k, stride, padding, output_padding, groups, dilation)
    (2, 3, 3, 1, 0, 0, 1, 1),
    (2, 3, 3, 2, 1, 1, 1, 1),
    (2, 4, (2, 3), (2, 3), (1, 0), (1, 2), 2, 1),
    (4, 2, 3, (1, 2), (2, 1), (0, 1), 2, (2, 1)),
    (2, 2, 2, 2, 2, 0, 1, 1),  # padding beyond dilation * (k - 1): the output is cropped
    (3, 3, 2, 2, 0, 0, 3, 1),
]


@pytest.mark.parametrize("cin,cout,k,stride,padding,output_padding,groups,dilation", CONVT_CASES)
def test_conv_transpose2d_forward_backward(device, cin, cout, k, stride, padding, output_padding, groups, dilation):
    rng = np.random.default_rng(5)
    m = nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation).double().to(device)
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    kk = pair(k)
    assert tuple(m.weight.shape) == (cin, cout // groups) + kk
    # torch computes fan_in from weight.shape[1] * kernel area.
    bound = 1 / math.sqrt(cout // groups * kk[0] * kk[1])
    assert np.abs(A(m.weight)).max() <= bound + 1e-7 and np.abs(A(m.bias)).max() <= bound + 1e-7
    w, b = A(m.weight), A(m.bias)
    x = rng.standard_normal((2, cin, 4, 3))
    args = (pair(stride), pair(padding), pair(output_padding), groups, pair(dilation))
    ref = lambda x_, w_: np_conv_transpose2d(x_, w_, b, *args)  # noqa: E731
    expected = ref(x, w)
    xt = T(x, device, requires_grad=True)
    out = m(xt)
    assert_close(out, expected, rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(expected.shape)
    (out * T(g, device)).sum().backward()
    assert_close(xt.grad, num_grad(lambda x_: (ref(x_, w) * g).sum(), x), rtol=1e-6, atol=1e-6)
    assert_close(m.weight.grad, num_grad(lambda w_: (ref(x, w_) * g).sum(), w), rtol=1e-6, atol=1e-6)
    assert_close(m.bias.grad, g.sum(axis=(0, 2, 3)), rtol=1e-10, atol=1e-10)


def test_conv_transpose2d_is_adjoint_of_conv2d(device):
    # <conv_transpose2d(x, W), y> == <x, conv2d(y, W)> for the same stride/padding/dilation/groups.
    rng = np.random.default_rng(6)
    w = T(rng.standard_normal((4, 3, 3, 3)), device)  # conv2d: 4 out, 6 in (groups=2); transpose: 4 in, 6 out
    x = T(rng.standard_normal((2, 4, 3, 4)), device)
    y = F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    z = T(rng.standard_normal(tuple(y.shape)), device)
    lhs = (y * z).sum().item()
    rhs = (x * F.conv2d(z, w, stride=2, padding=1, groups=2)).sum().item()
    assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))


def test_conv_transpose2d_gradcheck_output_size_and_errors(device):
    rng = np.random.default_rng(7)
    x = T(rng.standard_normal((1, 2, 2, 3)), device, requires_grad=True)
    w = T(rng.standard_normal((2, 1, 2, 2)), device, requires_grad=True)
    b = T(rng.standard_normal(2), device, requires_grad=True)
    gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2), x, w, b)
    m = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).to(device)
    xi = T(rng.standard_normal((1, 2, 5, 5)).astype(np.float32), device)
    assert tuple(m(xi).shape) == (1, 3, 9, 9)
    assert tuple(m(xi, output_size=(10, 10)).shape) == (1, 3, 10, 10)
    assert tuple(m(xi, output_size=[1, 3, 10, 9]).shape) == (1, 3, 10, 9)
    with pytest.raises(ValueError):
        m(xi, output_size=(12, 12))
    assert tuple(m(xi[0]).shape) == (3, 9, 9)  # unbatched
    with pytest.raises(RuntimeError):
        F.conv_transpose2d(xi, m.weight, stride=1, output_padding=1)  # output_padding >= stride
    with pytest.raises(ValueError):
        nn.ConvTranspose2d(3, 2, 3, groups=2)
    r = repr(nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1, bias=False))
    assert r == "ConvTranspose2d(2, 3, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1), bias=False)"


# --------------------------------------------------------------------------------------- pools
@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))])
def test_max_and_avg_pool2d(device, k, s, p):
    rng = np.random.default_rng(8)
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    # Distinct values: the max is never tied, so its gradient is well defined.
    x = (rng.permutation(2 * 2 * 5 * 6) / 10.0 - 3.0).reshape(2, 2, 5, 6)
    g_shape = np_pool2d(x, pair(k), pair(s), pair(p), "max").shape
    g = rng.standard_normal(g_shape)
    for module, kind, extra in [(nn.MaxPool2d(k, s, p), "max", {}), (nn.AvgPool2d(k, s, p), "avg", {}), (nn.AvgPool2d(k, s, p, count_include_pad=False), "avg", {"count_include_pad": False})]:
        ref = lambda x_: np_pool2d(x_, pair(k), pair(s), pair(p), kind, **extra)  # noqa: E731
        xt = T(x, device, requires_grad=True)
        out = module(xt)
        assert_close(out, ref(x), rtol=1e-12, atol=1e-12)
        (out * T(g, device)).sum().backward()
        assert_close(xt.grad, num_grad(lambda x_: (ref(x_) * g).sum(), x), rtol=1e-6, atol=1e-6)


def test_max_pool2d_indices_and_1d_pools(device):
    x = np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 9.0, 8.0]]]])
    out, idx = F.max_pool2d(T(x, device), 2, return_indices=True)
    assert_close(out, [[[[5.0, 9.0]]]])
    assert A(idx).tolist() == [[[[1, 6]]]]
    x1 = np.arange(14, dtype=np.float64).reshape(1, 2, 7) % 5
    assert_close(nn.MaxPool1d(3, 2)(T(x1, device)), np_pool2d(x1[:, :, None], (1, 3), (1, 2), (0, 0), "max")[:, :, 0])
    assert_close(nn.AvgPool1d(2, 2, 1)(T(x1, device)), np_pool2d(x1[:, :, None], (1, 2), (1, 2), (0, 1), "avg")[:, :, 0])


@pytest.mark.parametrize("out_size", [(1, 1), (2, 3), (3, 2), (5, 7)])
def test_adaptive_avg_pool2d(device, out_size):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 5, 7))
    oh, ow = out_size
    ref = np.zeros((2, 3, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * 5) // oh, -(-((i + 1) * 5) // oh)
            w0, w1 = (j * 7) // ow, -(-((j + 1) * 7) // ow)
            ref[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    xt = T(x, device, requires_grad=True)
    out = nn.AdaptiveAvgPool2d(out_size)(xt)
    assert_close(out, ref, rtol=1e-12, atol=1e-12)
    out.sum().backward()
    assert_close(xt.grad, num_grad(lambda x_: sum(x_[:, :, (i * 5) // oh: -(-((i + 1) * 5) // oh), (j * 7) // ow: -(-((j + 1) * 7) // ow)].mean(axis=(2, 3)).sum() for i in range(oh) for j in range(ow)), x), atol=1e-6)


# ---------------------------------------------------------------------------------- BatchNorm
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 4, 2)])
def test_batchnorm_train_eval_running_stats(device, shape):
    rng = np.random.default_rng(10)
    bn = (nn.BatchNorm2d(3, momentum=0.2) if len(shape) == 4 else nn.BatchNorm1d(3, momentum=0.2)).double().to(device)
    w, b = rng.uniform(0.5, 1.5, 3), rng.standard_normal(3)
    set_params(bn, weight=w, bias=b)
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, 3) + (1,) * (len(shape) - 2)
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        xt = T(x, device, requires_grad=True)
        out = bn(xt)
        mu, var = x.mean(axis=axes), x.var(axis=axes)
        n = x.size // 3
        ref = (x - mu.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5) * w.reshape(bshape) + b.reshape(bshape)
        assert_close(out, ref, rtol=1e-10, atol=1e-10)
        rm = 0.8 * rm + 0.2 * mu
        rv = 0.8 * rv + 0.2 * var * n / (n - 1)  # running_var uses the unbiased batch variance
        assert_close(bn.running_mean, rm, rtol=1e-10, atol=1e-12)
        assert_close(bn.running_var, rv, rtol=1e-10, atol=1e-12)
        assert int(bn.num_batches_tracked.item()) == step + 1
    # Backward in training mode (the batch statistics depend on x).
    g = rng.standard_normal(shape)
    f = lambda x_: ((x_ - x_.mean(axis=axes, keepdims=True)) / np.sqrt(x_.var(axis=axes, keepdims=True) + 1e-5) * w.reshape(bshape) * g).sum()  # noqa: E731
    xt.grad = None
    (out * T(g, device)).sum().backward()
    assert_close(xt.grad, num_grad(f, x), rtol=1e-5, atol=1e-6)
    assert_close(bn.bias.grad, g.sum(axis=axes), rtol=1e-10, atol=1e-10)
    # Eval: the running statistics, no update.
    bn.eval()
    x = rng.standard_normal(shape)
    ref = (x - rm.reshape(bshape)) / np.sqrt(rv.reshape(bshape) + 1e-5) * w.reshape(bshape) + b.reshape(bshape)
    assert_close(bn(T(x, device)), ref, rtol=1e-10, atol=1e-10)
    assert_close(bn.running_mean, rm, rtol=1e-12, atol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 3


def test_batchnorm_without_running_stats_and_shape_checks(device):
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False).double()
    assert bn.running_mean is None and list(bn.parameters()) == []
    assert set(bn.state_dict()) == set()
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    bn.eval()  # no running stats: eval still normalises with the batch statistics
    assert_close(bn(T(x, device)), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)
    with pytest.raises(ValueError):
        nn.BatchNorm2d(2)(T(x, device))
    assert set(nn.BatchNorm2d(3).state_dict()) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}


def test_batchnorm_momentum_none_is_cumulative_average(device):
    bn = nn.BatchNorm1d(1, momentum=None).double().to(device)
    xs = [np.array([[1.0], [3.0]]), np.array([[5.0], [9.0]])]
    for x in xs:
        bn(T(x, device))
    assert_close(bn.running_mean, [(2.0 + 7.0) / 2], rtol=1e-12)  # factor 1 / num_batches_tracked


# ------------------------------------------------------------------------------ other norms
def test_layer_norm_forward_backward(device):
    rng = np.random.default_rng(11)
    ln = nn.LayerNorm((3, 4), eps=1e-5).double().to(device)
    w, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    set_params(ln, weight=w, bias=b)
    x = rng.standard_normal((2, 3, 4))
    g = rng.standard_normal((2, 3, 4))
    ref = lambda x_: np_layer_norm(x_, w, b, (1, 2))  # noqa: E731
    xt = T(x, device, requires_grad=True)
    out = ln(xt)
    assert_close(out, ref(x), rtol=1e-10, atol=1e-10)
    (out * T(g, device)).sum().backward()
    assert_close(xt.grad, num_grad(lambda x_: (ref(x_) * g).sum(), x), rtol=1e-5, atol=1e-6)
    assert_close(ln.weight.grad, num_grad(lambda w_: (np_layer_norm(x, w_, b, (1, 2)) * g).sum(), w), rtol=1e-5, atol=1e-6)
    assert_close(ln.bias.grad, g.sum(0), rtol=1e-10, atol=1e-10)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    assert nn.LayerNorm(4, bias=False).bias is None


def test_group_norm_forward_backward(device):
    rng = np.random.default_rng(12)
    gn = nn.GroupNorm(2, 4).double().to(device)
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    set_params(gn, weight=w, bias=b)
    x = rng.standard_normal((2, 4, 3))
    g = rng.standard_normal(x.shape)
    xt = T(x, device, requires_grad=True)
    out = gn(xt)
    assert_close(out, np_group_norm(x, 2, w, b), rtol=1e-10, atol=1e-10)
    (out * T(g, device)).sum().backward()
    assert_close(xt.grad, num_grad(lambda x_: (np_group_norm(x_, 2, w, b) * g).sum(), x), rtol=1e-5, atol=1e-6)
    assert_close(gn.weight.grad, num_grad(lambda w_: (np_group_norm(x, 2, w_, b) * g).sum(), w), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        nn.GroupNorm(3, 4)


def test_rms_norm_forward_backward_and_default_eps(device):
    rng = np.random.default_rng(13)
    rn = nn.RMSNorm(5, eps=1e-6).double().to(device)
    w = rng.standard_normal(5)
    set_params(rn, weight=w)
    x = rng.standard_normal((3, 5))
    g = rng.standard_normal(x.shape)
    xt = T(x, device, requires_grad=True)
    out = rn(xt)
    assert_close(out, np_rms_norm(x, w, 1e-6), rtol=1e-10, atol=1e-10)
    (out * T(g, device)).sum().backward()
    assert_close(xt.grad, num_grad(lambda x_: (np_rms_norm(x_, w, 1e-6) * g).sum(), x), rtol=1e-5, atol=1e-6)
    assert_close(rn.weight.grad, (x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * g).sum(0), rtol=1e-10)
    # eps=None means the dtype's machine epsilon (float32 here): visible on a tiny input.
    tiny = np.full((1, 4), 1e-4, dtype=np.float32)
    assert_close(nn.RMSNorm(4).to(device)(T(tiny, device)), tiny / np.sqrt(1e-8 + np.finfo(np.float32).eps), rtol=1e-4)


def test_norms_gradcheck(device):
    rng = np.random.default_rng(14)
    x = T(rng.standard_normal((2, 4)), device, requires_grad=True)
    w = T(rng.standard_normal(4), device, requires_grad=True)
    b = T(rng.standard_normal(4), device, requires_grad=True)
    gradcheck(lambda x, w, b: F.layer_norm(x, (4,), w, b), x, w, b)
    gradcheck(lambda x, w, b: F.group_norm(x.reshape(2, 4, 1), 2, w, b), x, w, b)
    gradcheck(lambda x, w: F.rms_norm(x, (4,), w, 1e-6), x, w)
    rm, rv = ember.zeros(4, dtype=ember.float64, device=device), ember.ones(4, dtype=ember.float64, device=device)
    gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True), x, w, b)


# ---------------------------------------------------------------------------------- Embedding
def test_embedding_lookup_and_padding_idx(device):
    emb = nn.Embedding(5, 3, padding_idx=1).to(device)
    w = A(emb.weight)
    assert np.all(w[1] == 0), "the padding row starts at zero"
    assert w.shape == (5, 3) and abs(float(np.delete(w, 1, 0).std()) - 1.0) < 0.8  # N(0, 1) init
    idx = np.array([[0, 1, 4], [4, 4, 1]])
    out = emb(T(idx, device))
    assert_close(out, w[idx], rtol=0, atol=0)
    (out * T(np.arange(18, dtype=np.float32).reshape(2, 3, 3), device)).sum().backward()
    g = np.zeros((5, 3), dtype=np.float32)
    gout = np.arange(18, dtype=np.float32).reshape(2, 3, 3)
    for i in range(2):
        for j in range(3):
            if idx[i, j] != 1:
                g[idx[i, j]] += gout[i, j]
    assert_close(emb.weight.grad, g, rtol=0, atol=0)
    assert np.all(A(emb.weight.grad)[1] == 0), "the padding row gets no gradient"
    assert nn.Embedding(5, 3, padding_idx=-1).padding_idx == 4


def test_embedding_padding_row_value_is_returned(device):
    emb = nn.Embedding(3, 2, padding_idx=0).to(device)
    with ember.no_grad():
        emb.weight[0] = 7.0
    assert_close(emb(T(np.array([0, 2]), device))[0], [7.0, 7.0])


# ----------------------------------------------------------------------------------- Dropout
def test_dropout_train_and_eval(device):
    p = 0.3
    d = nn.Dropout(p)
    x = T(np.ones((100, 100), dtype=np.float32), device, requires_grad=True)
    out = d(x)
    o = A(out)
    zero_frac = float((o == 0).mean())
    assert 0.27 < zero_frac < 0.33
    np.testing.assert_allclose(o[o != 0], 1 / (1 - p), rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(A(x.grad), (o != 0) / (1 - p), rtol=1e-6)
    assert not np.array_equal(A(d(x)) == 0, o == 0), "each call draws a new mask"
    d.eval()
    assert_close(d(x), np.ones((100, 100)), rtol=0, atol=0)
    assert_close(nn.Dropout(0.0)(x), np.ones((100, 100)), rtol=0, atol=0)
    assert np.all(A(nn.Dropout(1.0)(x)) == 0)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


# ------------------------------------------------------------------------ MultiheadAttention
def np_mha(q, k, v, wq, wk, wv, bq, bk, bv, wo, bo, h, add_mask=None):
    """Batch-first NumPy multi-head attention: returns (output [N,L,E], weights [N,h,L,S])."""
    Q, K, V = q @ wq.T + bq, k @ wk.T + bk, v @ wv.T + bv
    n, L, E = Q.shape
    S, d = K.shape[1], E // h
    Q = Q.reshape(n, L, h, d).transpose(0, 2, 1, 3)
    K = K.reshape(n, S, h, d).transpose(0, 2, 1, 3)
    V = V.reshape(n, S, h, d).transpose(0, 2, 1, 3)
    scores = Q @ K.transpose(0, 1, 3, 2) / math.sqrt(d)
    if add_mask is not None:
        scores = scores + add_mask
    P = np_softmax(scores)
    O = (P @ V).transpose(0, 2, 1, 3).reshape(n, L, E)
    return O @ wo.T + bo, P


def _mha_params(m):
    E = m.embed_dim
    w = A(m.in_proj_weight)
    bi = A(m.in_proj_bias)
    return (w[:E], w[E:2 * E], w[2 * E:], bi[:E], bi[E:2 * E], bi[2 * E:], A(m.out_proj.weight), A(m.out_proj.bias))


def test_mha_init_and_parameters():
    m = nn.MultiheadAttention(8, 2)
    assert [n for n, _ in m.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert tuple(m.in_proj_weight.shape) == (24, 8) and tuple(m.in_proj_bias.shape) == (24,)
    assert np.abs(A(m.in_proj_weight)).max() <= math.sqrt(6 / (24 + 8)) + 1e-7  # xavier_uniform
    assert np.all(A(m.in_proj_bias) == 0) and np.all(A(m.out_proj.bias) == 0)
    m2 = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    assert m2.in_proj_weight is None and tuple(m2.k_proj_weight.shape) == (8, 3) and tuple(m2.v_proj_weight.shape) == (8, 5)
    assert m2.in_proj_bias is None and m2.out_proj.bias is None
    with pytest.raises(AssertionError):
        nn.MultiheadAttention(7, 2)


@pytest.mark.parametrize("batch_first", [True, False])
def test_mha_against_numpy(device, batch_first):
    rng = np.random.default_rng(15)
    m = nn.MultiheadAttention(6, 3, batch_first=batch_first).double().to(device)
    set_params(m, in_proj_bias=rng.standard_normal(18))
    with ember.no_grad():
        m.out_proj.bias.copy_(T(rng.standard_normal(6), device))
    q, k, v = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 5, 6))
    wq, wk, wv, bq, bk, bv, wo, bo = _mha_params(m)
    conv = (lambda a: a) if batch_first else (lambda a: a.transpose(1, 0, 2))
    back = (lambda t: A(t)) if batch_first else (lambda t: A(t).transpose(1, 0, 2))
    # Masks: a bool attn_mask (True = may not attend) and a key padding mask.
    attn_mask = np.zeros((4, 5), dtype=bool)
    attn_mask[0, 3:] = True
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[1, 4] = True
    add = np.where(attn_mask, -np.inf, 0.0)[None, None] + np.where(kpm, -np.inf, 0.0)[:, None, None, :]
    exp_out, exp_p = np_mha(q, k, v, wq, wk, wv, bq, bk, bv, wo, bo, 3, add)
    out, weights = m(T(conv(q), device), T(conv(k), device), T(conv(v), device), key_padding_mask=T(kpm, device), attn_mask=T(attn_mask, device))
    assert_close(back(out), exp_out, rtol=1e-10, atol=1e-10)
    assert_close(weights, exp_p.mean(1), rtol=1e-10, atol=1e-12)
    assert np.all(A(weights)[:, 0, 3:] == 0) and np.all(A(weights)[1, :, 4] == 0)
    _, per_head = m(T(conv(q), device), T(conv(k), device), T(conv(v), device), key_padding_mask=T(kpm, device), attn_mask=T(attn_mask, device), average_attn_weights=False)
    assert_close(per_head, exp_p, rtol=1e-10, atol=1e-12)
    # A float mask is added; need_weights=False takes the fused path and returns None.
    fmask = rng.standard_normal((4, 5))
    exp_out, _ = np_mha(q, k, v, wq, wk, wv, bq, bk, bv, wo, bo, 3, fmask[None, None])
    out, none = m(T(conv(q), device), T(conv(k), device), T(conv(v), device), attn_mask=T(fmask, device), need_weights=False)
    assert none is None
    assert_close(back(out), exp_out, rtol=1e-10, atol=1e-10)
    # A 3-D attn_mask is per (batch, head).
    m3 = rng.standard_normal((2 * 3, 4, 5))
    exp_out, _ = np_mha(q, k, v, wq, wk, wv, bq, bk, bv, wo, bo, 3, m3.reshape(2, 3, 4, 5))
    assert_close(back(m(T(conv(q), device), T(conv(k), device), T(conv(v), device), attn_mask=T(m3, device))[0]), exp_out, rtol=1e-10, atol=1e-10)


def test_mha_kdim_vdim_unbatched_and_gradcheck(device):
    rng = np.random.default_rng(16)
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=5).double().to(device)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((2, 3)), rng.standard_normal((2, 5))
    bi = A(m.in_proj_bias)
    exp_out, exp_p = np_mha(q[None], k[None], v[None], A(m.q_proj_weight), A(m.k_proj_weight), A(m.v_proj_weight), bi[:4], bi[4:8], bi[8:], A(m.out_proj.weight), A(m.out_proj.bias), 2)
    out, w = m(T(q, device), T(k, device), T(v, device))  # unbatched [L, E]
    assert_close(out, exp_out[0], rtol=1e-10, atol=1e-10)
    assert_close(w, exp_p.mean(1)[0], rtol=1e-10, atol=1e-12)
    small = nn.MultiheadAttention(4, 2, batch_first=True).double().to(device)
    x = T(rng.standard_normal((1, 2, 4)), device, requires_grad=True)
    gradcheck(lambda x, w, b: small(x, x, x, need_weights=False)[0], x, small.in_proj_weight, small.in_proj_bias)


def test_mha_bias_kv_and_zero_attn(device):
    rng = np.random.default_rng(28)
    m = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True).double().to(device)
    assert tuple(m.bias_k.shape) == (1, 1, 4) and tuple(m.bias_v.shape) == (1, 1, 4)
    x = rng.standard_normal((2, 3, 4))
    wq, wk, wv, bq, bk, bv, wo, bo = _mha_params(m)
    K = np.concatenate([x @ wk.T + bk, np.broadcast_to(A(m.bias_k), (2, 1, 4)), np.zeros((2, 1, 4))], axis=1)
    V = np.concatenate([x @ wv.T + bv, np.broadcast_to(A(m.bias_v), (2, 1, 4)), np.zeros((2, 1, 4))], axis=1)
    eye = np.eye(4)
    kpm = np.array([[False, False, True], [False, False, False]])
    add = np.where(np.concatenate([kpm, np.zeros((2, 2), bool)], axis=1), -np.inf, 0.0)[:, None, None, :]
    exp_out, exp_p = np_mha(x, K, V, wq, eye, eye, bq, 0.0, 0.0, wo, bo, 2, add)
    out, w = m(T(x, device), T(x, device), T(x, device), key_padding_mask=T(kpm, device))
    assert tuple(w.shape) == (2, 3, 5)
    assert_close(out, exp_out, rtol=1e-10, atol=1e-10)
    assert_close(w, exp_p.mean(1), rtol=1e-10, atol=1e-12)


def test_mha_dropout_only_in_training(device):
    m = nn.MultiheadAttention(4, 1, dropout=0.5, batch_first=True)
    x = ember.randn(2, 6, 4)
    m.eval()
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    assert_close(a, A(b), rtol=0, atol=0)
    m.train()
    _, w = m(x, x, x)
    assert np.any(A(w) == 0), "training-mode dropout zeroes some attention weights"


# --------------------------------------------------------------------------------- Transformer
def np_encoder_layer(x, p, nhead, norm_first, act):
    """Batch-first NumPy TransformerEncoderLayer (eval mode: no dropout)."""
    def sa(y):
        return np_mha(y, y, y, *p["attn"], nhead)[0]

    def ff(y):
        return act(y @ p["w1"].T + p["b1"]) @ p["w2"].T + p["b2"]

    ln1 = lambda y: np_layer_norm(y, p["n1w"], p["n1b"], (-1,))  # noqa: E731
    ln2 = lambda y: np_layer_norm(y, p["n2w"], p["n2b"], (-1,))  # noqa: E731
    if norm_first:
        x = x + sa(ln1(x))
        return x + ff(ln2(x))
    x = ln1(x + sa(x))
    return ln2(x + ff(x))


def _layer_params(layer, rng):
    with ember.no_grad():
        for n, prm in layer.named_parameters():
            if "norm" in n or "bias" in n:
                prm.copy_(ember.from_numpy(rng.standard_normal(tuple(prm.shape)) * 0.5 + (1.0 if n.endswith("weight") else 0.0)))
    return {
        "attn": _mha_params(layer.self_attn), "w1": A(layer.linear1.weight), "b1": A(layer.linear1.bias),
        "w2": A(layer.linear2.weight), "b2": A(layer.linear2.bias), "n1w": A(layer.norm1.weight),
        "n1b": A(layer.norm1.bias), "n2w": A(layer.norm2.weight), "n2b": A(layer.norm2.bias),
    }


@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_layer_against_numpy(device, norm_first, activation):
    rng = np.random.default_rng(17)
    layer = nn.TransformerEncoderLayer(6, 2, dim_feedforward=10, activation=activation, batch_first=True, norm_first=norm_first).double().to(device)
    assert layer.dropout.p == 0.1 and layer.norm1.eps == 1e-5
    p = _layer_params(layer, rng)
    layer.eval()
    x = rng.standard_normal((2, 3, 6))
    act = (lambda y: np.maximum(y, 0)) if activation == "relu" else np_gelu
    assert_close(layer(T(x, device)), np_encoder_layer(x, p, 2, norm_first, act), rtol=1e-9, atol=1e-9)
    # Sequence-first layout gives the transposed result.
    seq_first = nn.TransformerEncoderLayer(6, 2, dim_feedforward=10, activation=activation, norm_first=norm_first).double().to(device)
    seq_first.load_state_dict(layer.state_dict())
    seq_first.eval()
    assert_close(seq_first(T(x.transpose(1, 0, 2), device)), np_encoder_layer(x, p, 2, norm_first, act).transpose(1, 0, 2), rtol=1e-9, atol=1e-9)


def test_transformer_encoder_stack_masks_and_training(device):
    rng = np.random.default_rng(18)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, batch_first=True).double()
    enc = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(4).double()).to(device)
    assert len(enc.layers) == 2 and enc.layers[0] is not enc.layers[1]
    assert len(list(enc.parameters())) == 2 * 12 + 2, "each layer is an independent copy"
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    enc.eval()
    x = rng.standard_normal((2, 3, 4))
    ps = [_layer_params(lyr, rng) for lyr in enc.layers]
    y = x
    for p in ps:
        y = np_encoder_layer(y, p, 2, False, lambda z: np.maximum(z, 0))
    y = np_layer_norm(y, np.ones(4), np.zeros(4), (-1,))
    assert_close(enc(T(x, device)), y, rtol=1e-9, atol=1e-9)
    # A key padding mask hides the padded position from every query.
    kpm = T(np.array([[False, False, True], [False, False, False]]), device)
    x2 = x.copy()
    x2[0, 2] += 5.0
    a = A(enc(T(x, device), src_key_padding_mask=kpm))
    b = A(enc(T(x2, device), src_key_padding_mask=kpm))
    np.testing.assert_allclose(a[0, :2], b[0, :2], rtol=1e-10, atol=1e-10)
    # A causal bool src mask (True = may not attend): earlier positions ignore later ones.
    causal = T(np.triu(np.ones((3, 3), dtype=bool), 1), device)
    x3 = x.copy()
    x3[:, 2] -= 3.0
    a, b = A(enc(T(x, device), mask=causal)), A(enc(T(x3, device), mask=causal))
    np.testing.assert_allclose(a[:, :2], b[:, :2], rtol=1e-10, atol=1e-10)
    assert not np.allclose(A(enc(T(x, device))), a), "the mask changes the result"
    # Training: gradients reach every parameter.
    enc.train()
    out = enc(T(x, device))
    out.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())


# ------------------------------------------------------------------------------------ RNNs
def np_lstm_cell(x, h, c, wih, whh, bih, bhh):
    gates = x @ wih.T + bih + h @ whh.T + bhh
    i, f, g, o = np.split(gates, 4, axis=-1)
    c2 = np_sigmoid(f) * c + np_sigmoid(i) * np.tanh(g)
    return np_sigmoid(o) * np.tanh(c2), c2


def np_gru_cell(x, h, wih, whh, bih, bhh):
    gi, gh = x @ wih.T + bih, h @ whh.T + bhh
    ir, iz, in_ = np.split(gi, 3, axis=-1)
    hr, hz, hn = np.split(gh, 3, axis=-1)
    r, z = np_sigmoid(ir + hr), np_sigmoid(iz + hz)
    n = np.tanh(in_ + r * hn)
    return (1 - z) * n + z * h


def np_rnn_cell(x, h, wih, whh, bih, bhh, act=np.tanh):
    return act(x @ wih.T + bih + h @ whh.T + bhh)


def _cell_weights(m, sfx=""):
    return [A(getattr(m, n + sfx)) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def test_rnn_parameter_shapes_and_init():
    hidden = 4
    for cls, gates in [(nn.RNN, 1), (nn.LSTM, 4), (nn.GRU, 3)]:
        m = cls(3, hidden, num_layers=2, bidirectional=True)
        names = [n for n, _ in m.named_parameters()]
        assert names[:8] == [
            "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
            "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
        ]
        assert len(names) == 16
        assert tuple(m.weight_ih_l0.shape) == (gates * hidden, 3)
        assert tuple(m.weight_ih_l1.shape) == (gates * hidden, 2 * hidden)
        assert tuple(m.weight_hh_l1_reverse.shape) == (gates * hidden, hidden)
        allw = np.concatenate([A(p).ravel() for p in m.parameters()])
        assert np.abs(allw).max() <= 1 / math.sqrt(hidden) + 1e-7 and allw.std() > 0.2 / math.sqrt(hidden)
        assert len(m.all_weights) == 4 and len(m.all_weights[0]) == 4
    assert len(list(nn.GRU(3, 4, bias=False).parameters())) == 2
    cell = nn.LSTMCell(3, 5)
    assert tuple(cell.weight_ih.shape) == (20, 3) and tuple(cell.bias_hh.shape) == (20,)
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True)) == "LSTM(3, 4, num_layers=2, batch_first=True)"
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"


def test_lstm_gru_one_step_against_gate_equations(device):
    rng = np.random.default_rng(19)
    x = rng.standard_normal((1, 2, 3))  # [T=1, N, H_in]
    h0, c0 = rng.standard_normal((1, 2, 4)), rng.standard_normal((1, 2, 4))
    lstm = nn.LSTM(3, 4).double().to(device)
    out, (h, c) = lstm(T(x, device), (T(h0, device), T(c0, device)))
    eh, ec = np_lstm_cell(x[0], h0[0], c0[0], *_cell_weights(lstm, "_l0"))
    assert_close(out, eh[None], rtol=1e-12, atol=1e-12)
    assert_close(h, eh[None], rtol=1e-12, atol=1e-12)
    assert_close(c, ec[None], rtol=1e-12, atol=1e-12)
    gru = nn.GRU(3, 4).double().to(device)
    out, h = gru(T(x, device), T(h0, device))
    assert_close(h, np_gru_cell(x[0], h0[0], *_cell_weights(gru, "_l0"))[None], rtol=1e-12, atol=1e-12)
    for nl, act in [("tanh", np.tanh), ("relu", lambda z: np.maximum(z, 0))]:
        rnn = nn.RNN(3, 4, nonlinearity=nl).double().to(device)
        out, h = rnn(T(x, device), T(h0, device))
        assert_close(h, np_rnn_cell(x[0], h0[0], *_cell_weights(rnn, "_l0"), act=act)[None], rtol=1e-12, atol=1e-12)
    # The cells: same equations; a missing state means zeros; unbatched input works.
    lc = nn.LSTMCell(3, 4).double().to(device)
    h1, c1 = lc(T(x[0], device), (T(h0[0], device), T(c0[0], device)))
    eh, ec = np_lstm_cell(x[0], h0[0], c0[0], *_cell_weights(lc))
    assert_close(h1, eh, rtol=1e-12, atol=1e-12)
    assert_close(c1, ec, rtol=1e-12, atol=1e-12)
    gc = nn.GRUCell(3, 4).double().to(device)
    assert_close(gc(T(x[0], device)), np_gru_cell(x[0], np.zeros((2, 4)), *_cell_weights(gc)), rtol=1e-12, atol=1e-12)
    rc = nn.RNNCell(3, 4).double().to(device)
    assert_close(rc(T(x[0, 0], device), T(h0[0, 0], device)), np_rnn_cell(x[0, 0], h0[0, 0], *_cell_weights(rc)), rtol=1e-12, atol=1e-12)


def _np_run(cell, x, h0, c0, layers, bidir, weights):
    """A multi-layer (bi)directional NumPy recurrence over sequence-first x: (out, h_n, c_n)."""
    D = 2 if bidir else 1
    inp = x
    hs, cs = [], []
    for layer in range(layers):
        outs = []
        for d in range(D):
            idx = layer * D + d
            w = weights[idx]
            h, c = h0[idx], (c0[idx] if c0 is not None else None)
            seq = [None] * len(inp)
            for t in (range(len(inp)) if d == 0 else reversed(range(len(inp)))):
                if cell == "lstm":
                    h, c = np_lstm_cell(inp[t], h, c, *w)
                else:
                    h = np_gru_cell(inp[t], h, *w)
                seq[t] = h
            outs.append(np.stack(seq))
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, axis=-1)
    return inp, np.stack(hs), (np.stack(cs) if c0 is not None else None)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_multilayer_bidirectional_sequence(device, cell):
    rng = np.random.default_rng(20)
    layers, hidden = 2, 3
    cls = nn.LSTM if cell == "lstm" else nn.GRU
    m = cls(2, hidden, num_layers=layers, bidirectional=True, batch_first=True).double().to(device)
    x = rng.standard_normal((2, 4, 2))  # batch-first [N, T, H_in]
    h0 = rng.standard_normal((layers * 2, 2, hidden))
    c0 = rng.standard_normal((layers * 2, 2, hidden)) if cell == "lstm" else None
    weights = [_cell_weights(m, f"_l{layer}" + ("_reverse" if d else "")) for layer in range(layers) for d in range(2)]
    eo, eh, ec = _np_run(cell, x.transpose(1, 0, 2), h0, c0, layers, True, weights)
    hx = (T(h0, device), T(c0, device)) if cell == "lstm" else T(h0, device)
    out, hn = m(T(x, device), hx)
    assert_close(out, eo.transpose(1, 0, 2), rtol=1e-12, atol=1e-12)
    assert tuple(out.shape) == (2, 4, 2 * hidden)
    if cell == "lstm":
        hn, cn = hn
        assert_close(cn, ec, rtol=1e-12, atol=1e-12)
    assert_close(hn, eh, rtol=1e-12, atol=1e-12)
    # h_n of the forward direction is the last step's output; of the reverse, the first step's.
    np.testing.assert_allclose(A(hn)[-2], A(out)[:, -1, :hidden], rtol=1e-12)
    np.testing.assert_allclose(A(hn)[-1], A(out)[:, 0, hidden:], rtol=1e-12)
    # No initial state: zeros. Unbatched input: the batch dim is dropped from everything.
    out0, _ = m(T(x, device))
    eo0, _, _ = _np_run(cell, x.transpose(1, 0, 2), np.zeros_like(h0), None if c0 is None else np.zeros_like(c0), layers, True, weights)
    assert_close(out0, eo0.transpose(1, 0, 2), rtol=1e-12, atol=1e-12)
    ou, hu = m(T(x[0], device))
    assert_close(ou, eo0[:, 0], rtol=1e-12, atol=1e-12)
    assert tuple((hu[0] if cell == "lstm" else hu).shape) == (layers * 2, hidden)
    with pytest.raises(RuntimeError):
        m(T(x, device), (T(h0[:1], device), T(c0, device)) if cell == "lstm" else T(h0[:1], device))


def test_rnn_gradcheck_and_backward(device):
    rng = np.random.default_rng(21)
    gru = nn.GRU(2, 2).double().to(device)
    x = T(rng.standard_normal((3, 1, 2)), device, requires_grad=True)
    gradcheck(lambda x, w: gru(x)[0], x, gru.weight_hh_l0)
    lstm = nn.LSTM(2, 2, num_layers=2, dropout=0.0).double().to(device)
    gradcheck(lambda x, w: lstm(x)[1][1], x, lstm.weight_ih_l1)
    # Inter-layer dropout only in training, and never after the last layer.
    d = nn.LSTM(2, 3, num_layers=2, dropout=0.5)
    xs = ember.randn(4, 1, 2)
    d.eval()
    ref = A(d(xs)[0])
    assert_close(d(xs)[0], ref, rtol=0, atol=0)
    d.train()
    assert not np.allclose(A(d(xs)[0]), ref), "dropout acts between layers in training"
    with pytest.warns(UserWarning):
        nn.GRU(2, 3, num_layers=1, dropout=0.2)
    # Backward through a sequence matches finite differences of the NumPy recurrence.
    rnn = nn.LSTM(2, 2).double().to(device)
    xv = rng.standard_normal((3, 1, 2))
    g = rng.standard_normal((3, 1, 2))
    w = _cell_weights(rnn, "_l0")
    xt = T(xv, device, requires_grad=True)
    (rnn(xt)[0] * T(g, device)).sum().backward()
    f = lambda x_: (_np_run("lstm", x_, np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), 1, False, [w])[0] * g).sum()  # noqa: E731
    assert_close(xt.grad, num_grad(f, xv), rtol=1e-6, atol=1e-8)
    fw = lambda w_: (_np_run("lstm", xv, np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), 1, False, [[w[0], w_, w[2], w[3]]])[0] * g).sum()  # noqa: E731
    assert_close(rnn.weight_hh_l0.grad, num_grad(fw, w[1]), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------- losses
def test_regression_losses(device):
    rng = np.random.default_rng(22)
    x, y = rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4)) * 2
    d = x - y
    cases = [
        (nn.MSELoss(), (d**2).mean(), 2 * d / d.size),
        (nn.MSELoss(reduction="sum"), (d**2).sum(), 2 * d),
        (nn.L1Loss(), np.abs(d).mean(), np.sign(d) / d.size),
        (nn.SmoothL1Loss(beta=0.5), np.where(np.abs(d) < 0.5, 0.5 * d**2 / 0.5, np.abs(d) - 0.25).mean(), np.where(np.abs(d) < 0.5, d / 0.5, np.sign(d)) / d.size),
        (nn.HuberLoss(delta=0.7), np.where(np.abs(d) < 0.7, 0.5 * d**2, 0.7 * (np.abs(d) - 0.35)).mean(), np.where(np.abs(d) < 0.7, d, 0.7 * np.sign(d)) / d.size),
    ]
    for loss, val, grad in cases:
        xt = T(x, device, requires_grad=True)
        out = loss(xt, T(y, device))
        assert_close(out, val, rtol=1e-12, atol=1e-12)
        out.backward()
        assert_close(xt.grad, grad, rtol=1e-10, atol=1e-12)
    assert_close(nn.MSELoss(reduction="none")(T(x, device), T(y, device)), d**2, rtol=1e-12)
    with pytest.raises(ValueError):
        nn.MSELoss(reduction="avg")


def np_cross_entropy(x, y, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """torch's cross_entropy for class-index targets, x: [N, C] (or [N, C, d]), y: [N] (or [N, d])."""
    if x.ndim > 2:
        x = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
        y = y.reshape(-1)
    n, c = x.shape
    logp = np_log_softmax(x, 1)
    w = np.ones(c) if weight is None else weight
    valid = y != ignore_index
    ys = np.where(valid, y, 0)
    wy = w[ys] * valid
    nll = -logp[np.arange(n), ys] * wy
    smooth = -(logp * w).sum(1) * valid
    if reduction == "mean":
        nll_r, smooth_r = nll.sum() / wy.sum(), smooth.sum() / wy.sum()
    elif reduction == "sum":
        nll_r, smooth_r = nll.sum(), smooth.sum()
    else:
        nll_r, smooth_r = nll, smooth
    return (1 - label_smoothing) * nll_r + label_smoothing / c * smooth_r


CE_CASES = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(weight=True),
    dict(ignore_index=2),
    dict(weight=True, ignore_index=1, reduction="sum"),
    dict(label_smoothing=0.2),
    dict(label_smoothing=0.1, ignore_index=0),
    dict(label_smoothing=0.3, weight=True, reduction="sum"),
    dict(label_smoothing=0.2, weight=True),
]


@pytest.mark.parametrize("kw", CE_CASES)
def test_cross_entropy_class_indices(device, kw):
    rng = np.random.default_rng(23)
    x = rng.standard_normal((5, 4)) * 2
    y = np.array([0, 2, 1, 3, 2])
    kw = dict(kw)
    if kw.pop("weight", False):
        kw["weight"] = np.array([0.5, 2.0, 1.0, 3.0])
    ref = lambda x_: np_cross_entropy(x_, y, **kw)  # noqa: E731
    ekw = {k: (T(v, device) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    xt = T(x, device, requires_grad=True)
    out = nn.CrossEntropyLoss(**ekw)(xt, T(y, device))
    assert_close(out, ref(x), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(np.shape(ref(x)))
    (out * T(np.asarray(g), device)).sum().backward()
    assert_close(xt.grad, num_grad(lambda x_: (ref(x_) * g).sum(), x), rtol=1e-6, atol=1e-7)


def test_cross_entropy_probabilities_and_kdim(device):
    rng = np.random.default_rng(24)
    x = rng.standard_normal((3, 4))
    p = np_softmax(rng.standard_normal((3, 4)))
    w = np.array([1.0, 0.5, 2.0, 1.5])
    logp = np_log_softmax(x, 1)
    for ls in (0.0, 0.25):
        t = p * (1 - ls) + ls / 4
        assert_close(F.cross_entropy(T(x, device), T(p, device), label_smoothing=ls), (-(logp * t).sum(1)).mean(), rtol=1e-10)
        assert_close(F.cross_entropy(T(x, device), T(p, device), weight=T(w, device), reduction="sum", label_smoothing=ls), -(logp * t * w).sum(), rtol=1e-10)
    xt = T(x, device, requires_grad=True)
    F.cross_entropy(xt, T(p, device)).backward()
    assert_close(xt.grad, (np_softmax(x) - p) / 3, rtol=1e-10, atol=1e-12)
    # [N, C, d] input with [N, d] targets.
    xk = rng.standard_normal((2, 3, 4))
    yk = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    assert_close(F.cross_entropy(T(xk, device), T(yk, device)), np_cross_entropy(xk, yk), rtol=1e-10)
    assert_close(F.cross_entropy(T(xk, device), T(yk, device), reduction="none"), np_cross_entropy(xk, yk, reduction="none").reshape(2, 4), rtol=1e-10)
    # NLLLoss on log-probabilities equals cross entropy on logits.
    y = np.array([1, 0, 3])
    assert_close(nn.NLLLoss()(T(logp, device), T(y, device)), np_cross_entropy(x, y), rtol=1e-10)


def test_bce_losses(device):
    rng = np.random.default_rng(25)
    x = rng.standard_normal((4, 3)) * 3
    y = (rng.random((4, 3)) > 0.5).astype(np.float64)
    w = rng.uniform(0.5, 2, (4, 3))
    pw = np.array([0.5, 2.0, 3.0])
    s = np_sigmoid(x)

    def ref(x_, pos_weight=None, weight=None):
        ls, l1s = -np.logaddexp(0, -x_), -np.logaddexp(0, x_)  # log(sigmoid), log(1 - sigmoid)
        pw_ = 1.0 if pos_weight is None else pos_weight
        out = -(pw_ * y * ls + (1 - y) * l1s)
        return (out * (1.0 if weight is None else weight)).mean()

    for kw in (dict(), dict(pos_weight=pw), dict(pos_weight=pw, weight=w)):
        xt = T(x, device, requires_grad=True)
        out = nn.BCEWithLogitsLoss(**{k: T(v, device) for k, v in kw.items()})(xt, T(y, device))
        assert_close(out, ref(x, **kw), rtol=1e-10)
        out.backward()
        assert_close(xt.grad, num_grad(lambda x_: ref(x_, **kw), x), rtol=1e-6, atol=1e-8)
    # Stable for large logits.
    big = F.binary_cross_entropy_with_logits(T(np.array([200.0, -200.0]), device), T(np.array([0.0, 1.0]), device), reduction="none")
    assert_close(big, [200.0, 200.0], rtol=1e-12)
    st = T(s, device, requires_grad=True)
    out = nn.BCELoss(weight=T(w, device))(st, T(y, device))
    assert_close(out, (-(y * np.log(s) + (1 - y) * np.log(1 - s)) * w).mean(), rtol=1e-10)
    out.backward()
    assert_close(st.grad, -w * (y / s - (1 - y) / (1 - s)) / y.size, rtol=1e-8)


def test_kl_div(device):
    rng = np.random.default_rng(26)
    logq = np_log_softmax(rng.standard_normal((3, 4)), 1)
    p = np_softmax(rng.standard_normal((3, 4)))
    p[0, 1] = 0.0  # 0 * log 0 counts as 0
    pointwise = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - logq), 0.0)
    assert_close(nn.KLDivLoss(reduction="batchmean")(T(logq, device), T(p, device)), pointwise.sum() / 3, rtol=1e-10)
    assert_close(nn.KLDivLoss(reduction="sum")(T(logq, device), T(p, device)), pointwise.sum(), rtol=1e-10)
    assert_close(nn.KLDivLoss()(T(logq, device), T(p, device)), pointwise.mean(), rtol=1e-10)
    assert_close(nn.KLDivLoss(reduction="none")(T(logq, device), T(p, device)), pointwise, rtol=1e-10, atol=1e-15)
    logp = np_log_softmax(rng.standard_normal((3, 4)), 1)
    assert_close(nn.KLDivLoss(reduction="batchmean", log_target=True)(T(logq, device), T(logp, device)), (np.exp(logp) * (logp - logq)).sum() / 3, rtol=1e-10)
    qt = T(logq, device, requires_grad=True)
    F.kl_div(qt, T(p, device), reduction="batchmean").backward()
    assert_close(qt.grad, -p / 3, rtol=1e-12, atol=1e-15)


def test_losses_gradcheck(device):
    rng = np.random.default_rng(27)
    x = T(rng.standard_normal((2, 3)), device, requires_grad=True)
    y = T(np.array([2, 0]), device)
    yf = T((rng.random((2, 3)) > 0.5).astype(np.float64), device)
    w = T(np.array([1.0, 2.0, 0.5]), device)
    gradcheck(lambda x: F.cross_entropy(x, y, weight=w, label_smoothing=0.1), x)
    gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, yf, pos_weight=w), x)
    gradcheck(lambda x: F.smooth_l1_loss(x, yf, beta=0.5), x)


# ---------------------------------------------------------------------------- Module machinery
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(ember.ones(1))
        self.register_buffer("steps", ember.zeros(1))
        self.register_buffer("cache", ember.zeros(2), persistent=False)

    def forward(self, x):
        return self.norm(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, bias=False))

    def forward(self, x):
        return self.head(self.block(x))


def test_registration_and_traversal():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["block.scale", "block.fc.weight", "block.fc.bias", "block.norm.weight", "block.norm.bias", "head.1.weight"]
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.cache", "block.norm.running_mean", "block.norm.running_var", "block.norm.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.norm", "head", "head.0", "head.1"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    sd = net.state_dict()
    assert "block.cache" not in sd and "block.steps" in sd, "non-persistent buffers stay out of the state_dict"
    assert len(sd) == 6 + 4
    with pytest.raises(TypeError):
        net.block.scale = ember.ones(1)  # a plain tensor cannot replace a parameter
    net.block.scale = None
    assert "block.scale" not in dict(net.named_parameters())
    del net.head
    assert [n for n, _ in net.named_children()] == ["block"]
    with pytest.raises(AttributeError):
        net.nothing_here  # noqa: B018


def test_weight_tying_counts_once_and_accumulates():
    a, b = nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False)
    b.weight = a.weight
    model = nn.Sequential(a, nn.Tanh(), b)
    params = list(model.parameters())
    assert len(params) == 1 and params[0] is a.weight
    assert set(model.state_dict()) == {"0.weight", "2.weight"}
    x = ember.randn(2, 3)
    model(x).sum().backward()
    W, xa = A(a.weight), A(x)
    h = np.tanh(xa @ W.T)
    g_h = np.ones((2, 3)) @ W * (1 - h**2)
    expected = np.ones((2, 3)).T @ h + g_h.T @ xa  # both uses add into the one gradient
    assert_close(a.weight.grad, expected, rtol=1e-5, atol=1e-5)
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 1


def test_load_state_dict_strict_errors():
    net = Net()
    sd = {k: v.clone() for k, v in Net().state_dict().items()}
    net.load_state_dict(sd)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(A(v), A(sd[k]))
    bad = dict(sd)
    del bad["block.fc.bias"]
    bad["block.extra"] = ember.zeros(1)
    bad["head.1.weight"] = ember.zeros(3, 4)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(bad)
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "block.fc.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "block.extra"' in msg
    assert "size mismatch for head.1.weight" in msg and "(3, 4)" in msg and "(2, 4)" in msg
    del bad["head.1.weight"]
    res = net.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["block.fc.bias", "head.1.weight"] and res.unexpected_keys == ["block.extra"]
    np.testing.assert_array_equal(A(net.block.fc.weight), A(sd["block.fc.weight"]))


def test_train_eval_hooks_apply_and_zero_grad():
    net = Net()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert net.head[1].training
    calls = []
    h1 = net.head.register_forward_pre_hook(lambda mod, args: (args[0] * 0.0,))
    h2 = net.head.register_forward_hook(lambda mod, args, out: calls.append(tuple(out.shape)) or out + 1.0)
    out = net(ember.randn(5, 3))
    assert_close(out, np.ones((5, 2)), rtol=0, atol=0)  # zeroed input, no bias, then +1
    assert calls == [(5, 2)]
    h1.remove()
    h2.remove()
    out = net(ember.randn(5, 3))
    assert calls == [(5, 2)] and not np.allclose(A(out), 1.0)
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "BatchNorm1d", "Block", "ReLU", "Linear", "Sequential", "Net"]
    net.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert np.all(A(net.block.fc.weight) == 0)
    out = net(ember.randn(5, 3)).sum()
    out.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and np.all(A(p.grad) == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_nested_repr_and_dtype_conversion():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (block): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "    (norm): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Linear(in_features=4, out_features=2, bias=False)\n"
        "  )\n"
        ")"
    )
    net.double()
    assert all(p.dtype == ember.float64 for p in net.parameters())
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())
    assert net.block.norm.num_batches_tracked.dtype == ember.int64
    net.float()
    assert net.block.fc.weight.dtype == ember.float32


@pytest.mark.skipif("gpu" not in DEVICES, reason="no gpu in this run")
@pytest.mark.parametrize("rows,c", [(6, 5), (3, 300)])
def test_fused_nn_gpu_matches_cpu(rows, c):
    """The float32 WGSL kernels of the fused nn ops (cross entropy, row norms, attention, forward
    and backward) agree with the CPU kernels."""
    rng = np.random.default_rng(5)

    def run(device, fn, arrays):
        ts = [T(a, device, requires_grad=a.dtype == np.float32) for a in arrays]
        out = fn(*ts)
        g_rng = np.random.default_rng(9)
        g = g_rng.standard_normal(tuple(out.shape)).astype(np.float32)
        (out * T(g, device)).sum().backward()
        return [A(out)] + [A(t.grad) for t in ts if t.grad is not None]

    def same(fn, *arrays):
        cpu, gpu = run("cpu", fn, arrays), run("gpu", fn, arrays)
        assert len(cpu) == len(gpu) > 1
        for want, got in zip(cpu, gpu):
            assert want.dtype == got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    x = (rng.standard_normal((rows, c)) * 3).astype(np.float32)
    y = rng.integers(0, c, rows)
    y[1] = 2
    w = rng.uniform(0.5, 2.0, c).astype(np.float32)
    for kw in [dict(), dict(ignore_index=2), dict(label_smoothing=0.2), dict(reduction="none", ignore_index=2, label_smoothing=0.1)]:
        same(lambda x_, y_: F.cross_entropy(x_, y_, **kw), x, y)
        same(lambda x_, y_, w_: F.cross_entropy(x_, y_, weight=w_, reduction="sum", **{k: v for k, v in kw.items() if k != "reduction"}), x, y, w)
    bad = y.copy()
    bad[-1] = c
    for device in ["cpu", "gpu"]:
        with pytest.raises(IndexError, match=f"Target {c} is out of bounds"):
            F.cross_entropy(T(x, device), T(bad, device)).item()  # a GPU raises at the read

    xs = (rng.standard_normal((2, rows, c)) * 2 + 1).astype(np.float32)
    same(lambda x_: F.layer_norm(x_, (c,)), xs)
    same(lambda x_: F.rms_norm(x_, (c,), eps=1e-5), xs)
    same(lambda x_: F.group_norm(x_.reshape(2, rows, c, 1), 1 if rows % 2 else 2), xs)

    b, h, l, s, e, ev = 2, 2, rows, c % 7 + 4, 4, 3
    q = rng.standard_normal((b, h, l, e)).astype(np.float32)
    k = rng.standard_normal((b, h, s, e)).astype(np.float32)
    v = rng.standard_normal((b, h, s, ev)).astype(np.float32)
    m = rng.standard_normal((l, s)).astype(np.float32)
    keep = rng.uniform(size=(b, 1, l, s)) > 0.3
    keep[..., 0] = True
    same(F.scaled_dot_product_attention, q, k, v)
    same(lambda q_, k_, v_: F.scaled_dot_product_attention(q_, k_, v_, is_causal=True, scale=0.3), q, k, v)
    same(lambda q_, k_, v_, m_: F.scaled_dot_product_attention(q_, k_, v_, attn_mask=m_), q, k, v, m)
    same(lambda q_, k_, v_, m_: F.scaled_dot_product_attention(q_, k_, v_, attn_mask=m_), q, k, v, keep)
