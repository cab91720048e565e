"""Conv3d, ConvTranspose1d, 3-D pools and ceil_mode, EmbeddingBag, gumbel_softmax, affine_grid,
grid_sample and LazyLinear: forwards against NumPy loops written from PyTorch's formulas, float64
gradients, both devices, state_dict shapes, reprs and PyTorch's errors."""

import itertools
import math

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from conftest import assert_close, check_grad, leaf, make, to_np


# ---- NumPy references ----
def ref_conv3d(x, w, b, stride, pad, dil, groups):
    n, c, d, h, wd = x.shape
    o, cg, kd, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (pad[2], pad[2])))
    od, oh, ow = ((s + 2 * p - dl * (k - 1) - 1) // st + 1 for s, p, dl, k, st in zip((d, h, wd), pad, dil, (kd, kh, kw), stride))
    out = np.zeros((n, o, od, oh, ow))
    og = o // groups
    for g in range(groups):
        for a, bb, cc in itertools.product(range(kd), range(kh), range(kw)):
            sl = xp[:, g * cg:(g + 1) * cg,
                    a * dil[0]: a * dil[0] + stride[0] * (od - 1) + 1: stride[0],
                    bb * dil[1]: bb * dil[1] + stride[1] * (oh - 1) + 1: stride[1],
                    cc * dil[2]: cc * dil[2] + stride[2] * (ow - 1) + 1: stride[2]]
            out[:, g * og:(g + 1) * og] += np.einsum("ncdhw,oc->nodhw", sl, w[g * og:(g + 1) * og, :, a, bb, cc])
    if b is not None:
        out += b.reshape(1, -1, 1, 1, 1)
    return out


def ref_conv_transpose1d(x, w, b, s, p, op, groups, d):
    n, cin, length = x.shape
    icg, ocg, k = cin // groups, w.shape[1], w.shape[2]
    lout = (length - 1) * s - 2 * p + d * (k - 1) + op + 1
    full = np.zeros((n, ocg * groups, (length - 1) * s + d * (k - 1) + 1 + op + p))
    for g, i, o, l, kk in itertools.product(range(groups), range(icg), range(ocg), range(length), range(k)):
        full[:, g * ocg + o, l * s + kk * d] += x[:, g * icg + i, l] * w[g * icg + i, o, kk]
    out = full[:, :, p:p + lout]
    if b is not None:
        out = out + b.reshape(1, -1, 1)
    return out


def pool_out(n, k, s, p, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def ref_pool(x, k, s, p, d=None, ceil=False, kind="max", count_include_pad=True, divisor=None):
    """N-D pooling over the trailing len(k) dims, one window at a time (ATen's loops)."""
    nd = len(k)
    d = d or (1,) * nd
    sizes = x.shape[-nd:]
    outs = [pool_out(n, kk, ss, pp, dd, ceil) for n, kk, ss, pp, dd in zip(sizes, k, s, p, d)]
    res = np.zeros(x.shape[:-nd] + tuple(outs))
    for pos in itertools.product(*(range(o) for o in outs)):
        starts = [i * ss - pp for i, ss, pp in zip(pos, s, p)]
        if kind == "max":
            idx = [np.array([st + j * dd for j in range(kk)]) for st, kk, dd in zip(starts, k, d)]
            idx = [ii[(ii >= 0) & (ii < n)] for ii, n in zip(idx, sizes)]
            win = x[(Ellipsis,) + np.ix_(*idx)]
            res[(Ellipsis,) + pos] = win.reshape(x.shape[:-nd] + (-1,)).max(-1)
        else:
            ends = [min(st + kk, n + pp) for st, kk, n, pp in zip(starts, k, sizes, p)]
            pool_size = math.prod(e - st for e, st in zip(ends, starts))
            starts = [max(st, 0) for st in starts]
            ends = [min(e, n) for e, n in zip(ends, sizes)]
            win = x[(Ellipsis,) + tuple(slice(a, b) for a, b in zip(starts, ends))]
            total = win.reshape(x.shape[:-nd] + (-1,)).sum(-1)
            cnt = divisor if divisor else (pool_size if count_include_pad else math.prod(e - a for a, e in zip(starts, ends)))
            res[(Ellipsis,) + pos] = total / cnt
    return res


def ref_grid_sample(x, grid, mode, padding_mode, align):
    n, c, h, w = x.shape
    _, ho, wo, _ = grid.shape

    def reflect(v, lo2, hi2):
        if lo2 == hi2:
            return 0.0
        mn, span = lo2 / 2, (hi2 - lo2) / 2
        v = abs(v - mn)
        extra = math.fmod(v, span)
        flips = math.floor(v / span)
        return extra + mn if flips % 2 == 0 else span - extra + mn

    def src(coord, size):
        v = (coord + 1) / 2 * (size - 1) if align else ((coord + 1) * size - 1) / 2
        if padding_mode == "border":
            v = min(max(v, 0), size - 1)
        elif padding_mode == "reflection":
            v = reflect(v, 0, 2 * (size - 1)) if align else reflect(v, -1, 2 * size - 1)
            v = min(max(v, 0), size - 1)
        return v

    def at(b, yy, xx):
        if 0 <= yy < h and 0 <= xx < w:
            return x[b, :, yy, xx]
        return np.zeros(c)

    out = np.zeros((n, c, ho, wo))
    for b, i, j in itertools.product(range(n), range(ho), range(wo)):
        ix, iy = src(grid[b, i, j, 0], w), src(grid[b, i, j, 1], h)
        if mode == "nearest":
            out[b, :, i, j] = at(b, int(np.rint(iy)), int(np.rint(ix)))
            continue
        x0, y0 = math.floor(ix), math.floor(iy)
        tx, ty = ix - x0, iy - y0
        out[b, :, i, j] = (at(b, y0, x0) * (1 - tx) * (1 - ty) + at(b, y0, x0 + 1) * tx * (1 - ty)
                           + at(b, y0 + 1, x0) * (1 - tx) * ty + at(b, y0 + 1, x0 + 1) * tx * ty)
    return out


def ref_embedding_bag(idx, weight, offsets, mode, psw=None, padding_idx=None, include_last_offset=False):
    idx = np.asarray(idx)
    if idx.ndim == 2:
        bags = [list(range(r * idx.shape[1], (r + 1) * idx.shape[1])) for r in range(idx.shape[0])]
        idx = idx.reshape(-1)
        psw = None if psw is None else np.asarray(psw).reshape(-1)
    else:
        offs = list(offsets)
        ends = offs[1:] if include_last_offset else offs[1:] + [len(idx)]
        starts = offs[:-1] if include_last_offset else offs
        bags = [list(range(a, e)) for a, e in zip(starts, ends)]
    out = np.zeros((len(bags), weight.shape[1]))
    for bi, members in enumerate(bags):
        members = [m for m in members if padding_idx is None or idx[m] != padding_idx]
        if not members:
            continue
        rows = weight[idx[members]]
        if psw is not None:
            rows = rows * np.asarray(psw)[members][:, None]
        out[bi] = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0)}[mode]
    return out


# ---- conv3d / Conv3d ----
@pytest.mark.parametrize("cfg", [
    dict(stride=1, padding=0, dilation=1, groups=1),
    dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=1, groups=2),
    dict(stride=1, padding=(0, 1, 1), dilation=(2, 1, 2), groups=1),
])
def test_conv3d_forward(device, rng, cfg):
    x = rng.standard_normal((2, 4, 5, 6, 5))
    w = rng.standard_normal((6, 4 // cfg["groups"], 2, 3, 2))
    b = rng.standard_normal(6)
    t = lambda v: v if isinstance(v, tuple) else (v,) * 3  # noqa: E731
    exp = ref_conv3d(x, w, b, t(cfg["stride"]), t(cfg["padding"]), t(cfg["dilation"]), cfg["groups"])
    got = F.conv3d(make(x, device), make(w, device), make(b, device), **cfg)
    assert_close(got, exp, rtol=1e-9, atol=1e-9)


def test_conv3d_same_valid_unbatched(device, rng):
    x = rng.standard_normal((3, 4, 5, 6))
    w = rng.standard_normal((2, 3, 2, 3, 4))
    got = F.conv3d(make(x, device), make(w, device), padding="same")
    assert tuple(got.shape) == (2, 4, 5, 6)
    # 'same' puts the odd one of an even effective kernel's padding on the high side.
    xp = np.pad(x, ((0, 0), (0, 1), (1, 1), (1, 2)))
    assert_close(got, ref_conv3d(xp[None], w, None, (1,) * 3, (0,) * 3, (1,) * 3, 1)[0], rtol=1e-9, atol=1e-9)
    assert_close(F.conv3d(make(x, device), make(w, device), padding="valid"), ref_conv3d(x[None], w, None, (1,) * 3, (0,) * 3, (1,) * 3, 1)[0], rtol=1e-9, atol=1e-9)


def test_conv3d_grad(device, rng):
    x = leaf(rng.standard_normal((1, 2, 4, 3, 4)), device)
    w = leaf(rng.standard_normal((2, 1, 2, 2, 3)), device)
    b = leaf(rng.standard_normal(2), device)
    check_grad(lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=(1, 1, 0), groups=2), x, w, b)


def test_conv3d_module(device):
    m = nn.Conv3d(4, 6, (2, 3, 3), stride=2, padding=1, groups=2, bias=True)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {"weight": (6, 2, 2, 3, 3), "bias": (6,)}
    assert repr(m) == "Conv3d(4, 6, kernel_size=(2, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1), groups=2)"
    bound = 1 / math.sqrt(2 * 2 * 3 * 3)
    assert float(m.weight.abs().max()) <= bound and float(m.bias.abs().max()) <= bound
    m = m.to(device)
    y = m(ember.randn(2, 4, 5, 6, 7, device=device))
    assert tuple(y.shape) == (2, 6, 3, 3, 4)


def test_conv3d_errors():
    with pytest.raises(ValueError):
        nn.Conv3d(3, 4, 3, groups=2)
    with pytest.raises(ValueError):
        nn.Conv3d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError):
        nn.Conv3d(3, 4, 3, padding="full")
    w = ember.randn(4, 3, 2, 2, 2)
    with pytest.raises(RuntimeError):
        F.conv3d(ember.randn(1, 3, 4, 4), w[:, :, 0, 0, 0].reshape(4, 3, 1, 1))
    with pytest.raises(RuntimeError):
        F.conv3d(ember.randn(1, 2, 4, 4, 4), w)
    with pytest.raises(RuntimeError):
        F.conv3d(ember.randn(1, 3, 4, 4, 4), w, stride=2, padding="same")
    with pytest.raises(RuntimeError):
        F.conv3d(ember.randn(1, 3, 1, 4, 4), w)


# ---- conv_transpose1d / ConvTranspose1d ----
@pytest.mark.parametrize("cfg", [
    dict(stride=1, padding=0, output_padding=0, groups=1, dilation=1),
    dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1),
    dict(stride=3, padding=2, output_padding=1, groups=1, dilation=2),
])
def test_conv_transpose1d_forward(device, rng, cfg):
    x = rng.standard_normal((2, 4, 5))
    w = rng.standard_normal((4, 3, 3))
    b = rng.standard_normal(3 * cfg["groups"])
    exp = ref_conv_transpose1d(x, w, b, cfg["stride"], cfg["padding"], cfg["output_padding"], cfg["groups"], cfg["dilation"])
    got = F.conv_transpose1d(make(x, device), make(w, device), make(b, device), **cfg)
    assert_close(got, exp, rtol=1e-9, atol=1e-9)
    got = F.conv_transpose1d(make(x[0], device), make(w, device), make(b, device), **cfg)
    assert_close(got, exp[0], rtol=1e-9, atol=1e-9)


def test_conv_transpose1d_grad(device, rng):
    x = leaf(rng.standard_normal((2, 4, 3)), device)
    w = leaf(rng.standard_normal((4, 1, 3)), device)
    b = leaf(rng.standard_normal(2), device)
    check_grad(lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1, groups=2), x, w, b)


def test_conv_transpose1d_module(device):
    m = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {"weight": (4, 3, 3), "bias": (6,)}
    assert repr(m) == "ConvTranspose1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), output_padding=(1,), groups=2)"
    bound = 1 / math.sqrt(3 * 3)
    assert float(m.weight.abs().max()) <= bound
    m = m.to(device)
    x = ember.randn(2, 4, 5, device=device)
    assert tuple(m(x).shape) == (2, 6, 10)
    m2 = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, groups=2).to(device)
    assert tuple(m2(x, output_size=[10]).shape) == (2, 6, 10)
    with pytest.raises(ValueError):
        m2(x, output_size=[12])
    with pytest.raises(ValueError):
        nn.ConvTranspose1d(3, 4, 3, groups=2)
    with pytest.raises(RuntimeError):
        F.conv_transpose1d(ember.randn(1, 2, 4, 4), ember.randn(2, 3, 3))
    with pytest.raises(RuntimeError):
        F.conv_transpose1d(ember.randn(1, 4, 5), ember.randn(4, 3, 3), stride=2, output_padding=2)


# ---- pooling: ceil_mode on the 2-D pools, the 3-D pools ----
@pytest.mark.parametrize("k,s,p,d", [(3, 2, 0, 1), (3, 2, 1, 1), (2, 3, 1, 1), (3, 2, 1, 2)])
def test_max_pool2d_ceil_mode(device, rng, k, s, p, d):
    x = rng.standard_normal((2, 3, 7, 8))
    exp = ref_pool(x, (k, k), (s, s), (p, p), (d, d), ceil=True)
    got = F.max_pool2d(make(x, device), k, s, p, d, ceil_mode=True)
    assert_close(got, exp)
    out, idx = F.max_pool2d(make(x, device), k, s, p, d, ceil_mode=True, return_indices=True)
    flat = x.reshape(2, 3, -1)
    assert_close(out, np.take_along_axis(flat, to_np(idx).reshape(2, 3, -1), 2).reshape(exp.shape))
    m = nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=True)
    assert_close(m(make(x, device)), exp)


@pytest.mark.parametrize("k,s,p,cip", [(3, 2, 0, True), (3, 2, 1, True), (3, 2, 1, False), (2, 3, 1, False)])
def test_avg_pool2d_ceil_mode(device, rng, k, s, p, cip):
    x = rng.standard_normal((2, 3, 7, 8))
    exp = ref_pool(x, (k, k), (s, s), (p, p), ceil=True, kind="avg", count_include_pad=cip)
    assert_close(F.avg_pool2d(make(x, device), k, s, p, ceil_mode=True, count_include_pad=cip), exp)
    assert_close(nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=cip)(make(x, device)), exp)
    exp = ref_pool(x, (k, k), (s, s), (p, p), kind="avg", divisor=5)
    assert_close(F.avg_pool2d(make(x, device), k, s, p, divisor_override=5), exp)


@pytest.mark.parametrize("cfg", [
    dict(kernel_size=2),
    dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=(1, 0, 1)),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3, 2), stride=2, padding=(1, 1, 0), dilation=(2, 1, 1), ceil_mode=True),
])
def test_max_pool3d(device, rng, cfg):
    x = rng.standard_normal((2, 2, 5, 6, 7))
    t = lambda v: v if isinstance(v, tuple) else (v,) * 3  # noqa: E731
    k = t(cfg["kernel_size"])
    s, p, d = t(cfg.get("stride", k)), t(cfg.get("padding", 0)), t(cfg.get("dilation", 1))
    exp = ref_pool(x, k, s, p, d, ceil=cfg.get("ceil_mode", False))
    assert_close(F.max_pool3d(make(x, device), **cfg), exp)
    assert_close(nn.MaxPool3d(**cfg)(make(x[0], device)), exp[0])
    out, idx = F.max_pool3d(make(x, device), return_indices=True, **cfg)
    assert_close(out, exp)
    assert_close(out, np.take_along_axis(x.reshape(2, 2, -1), to_np(idx).reshape(2, 2, -1), 2).reshape(exp.shape))


@pytest.mark.parametrize("cfg", [
    dict(kernel_size=2),
    dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=(1, 0, 1)),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, stride=2, padding=1, divisor_override=3),
])
def test_avg_pool3d(device, rng, cfg):
    x = rng.standard_normal((2, 2, 5, 6, 7))
    t = lambda v: v if isinstance(v, tuple) else (v,) * 3  # noqa: E731
    k = t(cfg["kernel_size"])
    s, p = t(cfg.get("stride", k)), t(cfg.get("padding", 0))
    exp = ref_pool(x, k, s, p, ceil=cfg.get("ceil_mode", False), kind="avg",
                   count_include_pad=cfg.get("count_include_pad", True), divisor=cfg.get("divisor_override"))
    assert_close(F.avg_pool3d(make(x, device), **cfg), exp)
    assert_close(nn.AvgPool3d(**cfg)(make(x[0], device)), exp[0])


def test_pool3d_grad_and_errors(device, rng):
    x = leaf(rng.standard_normal((1, 2, 4, 5, 4)), device)
    check_grad(lambda x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), x)
    check_grad(lambda x: F.max_pool3d(x, 2, 2, 1), x)
    assert repr(nn.MaxPool3d(2)) == "MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.AvgPool3d(3, 2, 1)) == "AvgPool3d(kernel_size=3, stride=2, padding=1)"
    with pytest.raises(RuntimeError):
        F.max_pool3d(ember.randn(2, 3, 4), 2)
    with pytest.raises(RuntimeError):
        F.avg_pool3d(ember.randn(1, 1, 4, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError):
        F.max_pool3d(ember.randn(1, 1, 4, 4, 4), 3, padding=2)
    with pytest.raises(RuntimeError):
        F.max_pool3d(ember.randn(1, 1, 2, 4, 4), 3)


# ---- embedding_bag / EmbeddingBag ----
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_forward(device, rng, mode):
    weight = rng.standard_normal((10, 3))
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 7])
    offs = [0, 4, 4, 7]  # an empty bag gives zeros
    got = F.embedding_bag(make(idx, device), make(weight, device), make(np.array(offs), device), mode=mode)
    assert_close(got, ref_embedding_bag(idx, weight, offs, mode), rtol=1e-9, atol=1e-12)
    got = F.embedding_bag(make(idx, device), make(weight, device), make(np.array(offs + [10]), device), mode=mode, include_last_offset=True)
    assert_close(got, ref_embedding_bag(idx, weight, offs + [10], mode, include_last_offset=True), rtol=1e-9, atol=1e-12)
    got = F.embedding_bag(make(idx, device), make(weight, device), make(np.array(offs), device), mode=mode, padding_idx=4)
    assert_close(got, ref_embedding_bag(idx, weight, offs, mode, padding_idx=4), rtol=1e-9, atol=1e-12)
    idx2 = idx.reshape(2, 5)
    got = F.embedding_bag(make(idx2, device), make(weight, device), mode=mode)
    assert_close(got, ref_embedding_bag(idx2, weight, None, mode), rtol=1e-9, atol=1e-12)


def test_embedding_bag_per_sample_weights_and_grad(device, rng):
    weight = rng.standard_normal((6, 3))
    idx = np.array([1, 2, 4, 5, 4, 3])
    psw = rng.standard_normal(6)
    offs = make(np.array([0, 2, 5]), device)
    got = F.embedding_bag(make(idx, device), make(weight, device), offs, mode="sum", per_sample_weights=make(psw, device))
    assert_close(got, ref_embedding_bag(idx, weight, [0, 2, 5], "sum", psw), rtol=1e-9, atol=1e-12)
    i = make(idx, device)
    check_grad(lambda w, p: F.embedding_bag(i, w, offs, mode="sum", per_sample_weights=p), leaf(weight, device), leaf(psw, device))
    for mode in ("mean", "max"):
        check_grad(lambda w: F.embedding_bag(i, w, offs, mode=mode, padding_idx=3), leaf(weight, device))


def test_embedding_bag_module_and_errors(device):
    m = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=0)
    assert repr(m) == "EmbeddingBag(10, 3, mode='sum', padding_idx=0)"
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {"weight": (10, 3)}
    assert float(m.weight[0].abs().sum()) == 0.0
    m = m.to(device)
    out = m(ember.tensor([0, 1, 2, 0], device=device), ember.tensor([0, 2], device=device))
    w = to_np(m.weight)
    assert_close(out, np.stack([w[1], w[2]]), rtol=1e-6)
    with pytest.raises(ValueError):
        nn.EmbeddingBag(10, 3, mode="median")
    with pytest.raises(ValueError):
        m(ember.tensor([[1, 2]]), ember.tensor([0]))
    with pytest.raises(ValueError):
        m(ember.tensor([1, 2]))
    with pytest.raises(ValueError):
        m(ember.tensor([[[1]]]))
    with pytest.raises(NotImplementedError):
        F.embedding_bag(ember.tensor([1, 2]), ember.randn(4, 2), ember.tensor([0]), mode="mean", per_sample_weights=ember.ones(2))
    with pytest.raises(ValueError):
        F.embedding_bag(ember.tensor([1, 2]), ember.randn(4, 2), ember.tensor([0]), mode="sum", per_sample_weights=ember.ones(3))
    with pytest.raises(RuntimeError, match="num_embeddings"):
        F.embedding_bag(ember.tensor([1, 7]), ember.randn(4, 2), ember.tensor([0]))
    with pytest.raises(RuntimeError):
        F.embedding_bag(ember.tensor([1, 2]), ember.randn(4, 2), ember.tensor([1]))


# ---- gumbel_softmax, affine_grid, grid_sample ----
def test_gumbel_softmax(device):
    ember.manual_seed(0)
    logits = ember.randn(4, 6, device=device, requires_grad=True)
    y = F.gumbel_softmax(logits, tau=0.5)
    assert_close(y.sum(-1), np.ones(4), rtol=1e-5)
    assert float(y.min()) >= 0
    h = F.gumbel_softmax(logits, hard=True, dim=0)
    hv = to_np(h)
    assert set(np.unique(hv)) <= {0.0, 1.0} and (hv.sum(0) == 1).all()
    (h * ember.arange(6.0, device=device)).sum().backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0
    # Samples follow softmax(logits): the argmax frequencies of a strongly peaked row.
    peaked = ember.tensor([[0.0, 3.0, 0.0]] * 2000, device=device)
    counts = to_np(F.gumbel_softmax(peaked, hard=True)).sum(0) / 2000
    np.testing.assert_allclose(counts, np.exp([0, 3, 0]) / np.exp([0, 3, 0]).sum(), atol=0.04)


@pytest.mark.parametrize("align", [False, True])
def test_affine_grid(device, rng, align):
    theta = rng.standard_normal((2, 2, 3))
    got = F.affine_grid(make(theta, device), (2, 3, 4, 5), align_corners=align)
    lin = lambda n: np.linspace(-1, 1, n) * (1 if align else (n - 1) / n)  # noqa: E731
    base = np.stack(np.broadcast_arrays(lin(5)[None, :], lin(4)[:, None], np.ones((4, 5))), -1)
    assert_close(got, np.einsum("hwk,njk->nhwj", base, theta), rtol=1e-9, atol=1e-12)
    check_grad(lambda t: F.affine_grid(t, (2, 3, 4, 5), align_corners=align), leaf(theta, device))
    with pytest.raises(ValueError):
        F.affine_grid(make(rng.standard_normal((2, 3, 3)), device), (2, 3, 4, 5), align_corners=align)
    with pytest.raises(RuntimeError):
        F.affine_grid(make(theta, device), (3, 3, 4, 5), align_corners=align)
    with pytest.raises(ValueError):
        F.affine_grid(make(theta, device), (2, 3, 0, 5), align_corners=align)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_forward(device, rng, mode, padding_mode, align):
    x = rng.standard_normal((2, 3, 4, 5))
    grid = rng.uniform(-1.6, 1.6, (2, 3, 4, 2))
    got = F.grid_sample(make(x, device), make(grid, device), mode=mode, padding_mode=padding_mode, align_corners=align)
    assert_close(got, ref_grid_sample(x, grid, mode, padding_mode, align), rtol=1e-9, atol=1e-12)


def test_grid_sample_identity_and_grad(device, rng):
    x = rng.standard_normal((1, 2, 4, 5))
    theta = np.array([[[1.0, 0, 0], [0, 1.0, 0]]])
    for align in (False, True):
        g = F.affine_grid(make(theta, device), (1, 2, 4, 5), align_corners=align)
        assert_close(F.grid_sample(make(x, device), g, align_corners=align), x, rtol=1e-9, atol=1e-12)
    grid = rng.uniform(-1.3, 1.3, (1, 3, 2, 2))
    for pm in ("zeros", "border", "reflection"):
        check_grad(lambda x, g: F.grid_sample(x, g, padding_mode=pm, align_corners=False), leaf(x, device), leaf(grid, device))
    with pytest.raises(ValueError):
        F.grid_sample(make(x, device), make(grid, device), mode="cubic", align_corners=False)
    with pytest.raises(ValueError):
        F.grid_sample(make(x, device), make(grid, device), padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError):
        F.grid_sample(make(x, device), make(grid[..., :1], device), align_corners=False)
    with pytest.raises(RuntimeError):
        F.grid_sample(make(x, device), make(np.concatenate([grid, grid]), device), align_corners=False)


# ---- LazyLinear ----
def test_lazy_linear(device):
    m = nn.LazyLinear(3)
    assert repr(m) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert isinstance(m.weight, nn.UninitializedParameter) and m.has_uninitialized_params()
    x = ember.randn(2, 5)
    y = m(x)
    assert type(m) is nn.Linear and m.in_features == 5
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {"weight": (3, 5), "bias": (3,)}
    assert float(m.weight.abs().max()) <= 1 / math.sqrt(5)
    assert_close(y, to_np(x) @ to_np(m.weight).T + to_np(m.bias), rtol=1e-5)
    m = m.to(device)
    assert tuple(m(ember.randn(4, 5, device=device)).shape) == (4, 3)
    src = nn.Linear(7, 2, bias=False)
    lazy = nn.LazyLinear(2, bias=False)
    lazy.load_state_dict(src.state_dict())
    assert type(lazy) is nn.Linear and tuple(lazy.weight.shape) == (2, 7)
    assert_close(lazy.weight, to_np(src.weight))
