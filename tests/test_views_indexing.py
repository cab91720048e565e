"""Views (shared storage, strides), shape ops, indexing, setitem and gather/scatter, against NumPy."""

import numpy as np
import pytest

import ember
from conftest import LAYOUTS, assert_close, make, to_np


def _arange(*shape):
    return np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)


# ---------------------------------------------------------------------------- views and strides


def test_contiguous_strides_and_offset(device):
    t = ember.zeros(2, 3, 4, device=device)
    assert t.stride() == (12, 4, 1)
    assert t.stride(1) == 4 and t.stride(-1) == 1
    assert t.storage_offset() == 0
    assert t.is_contiguous()
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4)
    assert t.size(1) == 3 and t.size(-1) == 4
    assert t.dim() == 3 and t.ndim == 3 and t.numel() == 24 and len(t) == 2


def test_view_shares_storage(device):
    t = make(_arange(2, 6), device)
    v = t.view(3, 4)
    assert v.shape == (3, 4)
    assert v.data_ptr() == t.data_ptr()
    v[0, 0] = 100.0
    assert t[0, 0].item() == 100.0
    assert t.view(-1).shape == (12,)
    assert t.view(4, -1).shape == (4, 3)
    assert t.view((2, 2, 3)).shape == (2, 2, 3)
    assert_close(t.view_as(ember.zeros(12, device=device)), np.concatenate([[100.0], np.arange(1.0, 12)]))


def test_view_of_compatible_non_contiguous(device):
    # Splitting a dim of a transposed tensor is a valid view.
    base = make(_arange(4, 6), device)
    t = base.t()  # (6, 4), strides (1, 6)
    v = t.view(3, 2, 4)
    assert v.stride() == (2, 1, 6)
    assert_close(v, _arange(4, 6).T.reshape(3, 2, 4))
    v[0, 0, 0] = -1.0
    assert base[0, 0].item() == -1.0


def test_reshape_views_when_possible_and_copies_otherwise(device):
    t = make(_arange(3, 4), device)
    r = t.reshape(4, 3)
    assert r.data_ptr() == t.data_ptr()
    tt = t.t()
    r2 = tt.reshape(12)
    assert_close(r2, _arange(3, 4).T.reshape(12))
    r2[0] = 99.0
    assert t[0, 0].item() == 0.0  # reshape of a non-viewable layout copies
    assert_close(t.reshape(-1, 2), _arange(3, 4).reshape(-1, 2))
    assert_close(ember.reshape(t, (2, 6)), _arange(3, 4).reshape(2, 6))
    assert_close(t.reshape_as(ember.zeros(6, 2, device=device)), _arange(3, 4).reshape(6, 2))


@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0), (-1, 0, 1)], ids=str)
def test_permute(device, perm):
    x = _arange(2, 3, 4)
    t = make(x, device)
    p = t.permute(*perm)
    assert_close(p, np.transpose(x, [d % 3 for d in perm]))
    assert p.stride() == tuple(t.stride()[d % 3] for d in perm)
    assert p.data_ptr() == t.data_ptr()
    assert_close(t.permute(perm), np.transpose(x, [d % 3 for d in perm]))


def test_transpose_t_T_mT(device):
    x = _arange(2, 3, 4)
    t = make(x, device)
    assert_close(t.transpose(0, 2), np.swapaxes(x, 0, 2))
    assert_close(t.transpose(-1, -2), np.swapaxes(x, -1, -2))
    assert_close(t.mT, np.swapaxes(x, -1, -2))
    assert not t.transpose(1, 2).is_contiguous()
    assert t.transpose(1, 2).contiguous().is_contiguous()
    m = make(_arange(3, 4), device)
    assert_close(m.t(), _arange(3, 4).T)
    assert_close(m.T, _arange(3, 4).T)
    assert_close(ember.t(m), _arange(3, 4).T)
    v = make(np.arange(3.0), device)
    assert_close(v.t(), np.arange(3.0))
    assert_close(t.T, np.transpose(x))  # .T on n-d reverses the dims


def test_unsqueeze_squeeze(device):
    x = _arange(2, 1, 3, 1)
    t = make(x, device)
    assert t.squeeze().shape == (2, 3)
    assert t.squeeze(1).shape == (2, 3, 1)
    assert t.squeeze(0).shape == (2, 1, 3, 1)  # non-1 dim: no-op
    assert t.squeeze(-1).shape == (2, 1, 3)
    assert t.squeeze((1, 3)).shape == (2, 3)
    assert t.unsqueeze(0).shape == (1, 2, 1, 3, 1)
    assert t.unsqueeze(-1).shape == (2, 1, 3, 1, 1)
    assert t.unsqueeze(2).shape == (2, 1, 1, 3, 1)
    assert_close(t.squeeze().unsqueeze(1), x.reshape(2, 1, 3))
    assert ember.tensor(5.0, device=device).unsqueeze(0).shape == (1,)
    assert ember.tensor([5.0], device=device).squeeze().shape == ()


def test_expand_and_broadcast_to(device):
    x = np.array([[1.0], [2.0], [3.0]])
    t = make(x, device)
    e = t.expand(3, 4)
    assert e.stride() == (1, 0)
    assert e.data_ptr() == t.data_ptr()
    assert_close(e, np.broadcast_to(x, (3, 4)))
    assert_close(t.expand(2, -1, 4), np.broadcast_to(x, (2, 3, 4)))
    assert_close(t.expand((3, 2)), np.broadcast_to(x, (3, 2)))
    assert_close(t.expand_as(ember.zeros(3, 5, device=device)), np.broadcast_to(x, (3, 5)))
    assert_close(ember.broadcast_to(t, (2, 3, 3)), np.broadcast_to(x, (2, 3, 3)))
    # Writing through the base shows up in every expanded position.
    t[1, 0] = 20.0
    assert e[1].tolist() == [20.0] * 4
    assert_close(e.contiguous(), np.broadcast_to(np.array([[1.0], [20.0], [3.0]]), (3, 4)))


def test_flatten_unflatten(device):
    x = _arange(2, 3, 4, 5)
    t = make(x, device)
    assert_close(t.flatten(), x.reshape(-1))
    assert_close(t.flatten(1), x.reshape(2, -1))
    assert_close(t.flatten(1, 2), x.reshape(2, 12, 5))
    assert_close(t.flatten(start_dim=-2), x.reshape(2, 3, 20))
    assert_close(ember.flatten(t, 0, 1), x.reshape(6, 4, 5))
    assert_close(t.unflatten(1, (3, 1)), x.reshape(2, 3, 1, 4, 5))
    assert_close(t.flatten(1).unflatten(1, (4, -1)), x.reshape(2, 4, 15))
    assert_close(t.transpose(0, 3).flatten(), np.swapaxes(x, 0, 3).reshape(-1))
    assert ember.tensor(3.0, device=device).flatten().shape == (1,)


def test_narrow_select_unbind(device):
    x = _arange(4, 5)
    t = make(x, device, layout="transposed")
    n = t.narrow(1, 1, 3)
    assert_close(n, x[:, 1:4])
    assert_close(t.narrow(0, -2, 2), x[-2:])
    assert_close(t.select(1, 2), x[:, 2])
    assert_close(t.select(0, -1), x[-1])
    parts = t.unbind(1)
    assert isinstance(parts, tuple) and len(parts) == 5
    for i, p in enumerate(parts):
        assert_close(p, x[:, i])
    assert [p.tolist() for p in ember.unbind(t)] == x.tolist()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_split_chunk(device, layout):
    x = _arange(5, 7)
    t = make(x, device, layout=layout)
    parts = t.split(2)
    assert [p.shape for p in parts] == [(2, 7), (2, 7), (1, 7)]
    for p, r in zip(parts, np.split(x, [2, 4])):
        assert_close(p, r)
    parts = t.split([3, 4], dim=1)
    assert_close(parts[0], x[:, :3])
    assert_close(parts[1], x[:, 3:])
    parts = t.chunk(3, dim=1)  # 7 -> 3, 3, 1
    assert [p.shape[1] for p in parts] == [3, 3, 1]
    assert_close(ember.cat(parts, dim=1), x)
    parts = t.chunk(2)
    assert [p.shape[0] for p in parts] == [3, 2]
    assert len(ember.chunk(make(np.arange(6.0), device), 4)) == 3  # 6 -> 2, 2, 2


def test_cat_stack(device):
    a, b = _arange(2, 3), -_arange(1, 3)
    ta, tb = make(a, device, layout="sliced"), make(b, device)
    assert_close(ember.cat([ta, tb]), np.concatenate([a, b]))
    assert_close(ember.cat((ta.t(), tb.t()), dim=-1), np.concatenate([a.T, b.T], axis=-1))
    assert_close(ember.concat([ta, ta], 1), np.concatenate([a, a], 1))
    assert_close(ember.cat([ta, ember.zeros(0, 3, dtype=ember.float64, device=device)]), a)
    assert_close(ember.stack([ta, ta * 2]), np.stack([a, a * 2]))
    assert_close(ember.stack([ta, ta * 2], dim=1), np.stack([a, a * 2], 1))
    assert_close(ember.stack([ta, ta * 2], dim=-1), np.stack([a, a * 2], -1))
    # Mixed dtypes promote.
    mixed = ember.cat([ember.ones(2, device=device), ember.ones(2, dtype=ember.int64, device=device)])
    assert mixed.dtype == ember.float32


def test_flip_roll_repeat(device):
    x = _arange(3, 4)
    t = make(x, device, layout="transposed")
    assert_close(t.flip(0), np.flip(x, 0))
    assert_close(t.flip(0, 1), np.flip(x, (0, 1)))
    assert_close(t.flip((-1,)), np.flip(x, -1))
    assert_close(t.roll(1, 0), np.roll(x, 1, 0))
    assert_close(t.roll(-1, 1), np.roll(x, -1, 1))
    assert_close(t.roll(5), np.roll(x, 5))
    assert_close(t.roll((1, 2), (0, 1)), np.roll(x, (1, 2), (0, 1)))
    assert_close(t.repeat(2, 3), np.tile(x, (2, 3)))
    assert_close(t.repeat(2, 1, 1), np.tile(x, (2, 1, 1)))
    assert_close(t.repeat((1, 2)), np.tile(x, (1, 2)))


def test_views_share_the_version_counter(device):
    base = ember.zeros(3, 4, device=device)
    v = base[1:]
    t = base.t()
    v0 = base._version
    v.add_(1)
    assert base._version > v0 and v._version == base._version and t._version == base._version
    d = base.detach()
    d.mul_(2)
    assert base._version == d._version > v0 + 1


def test_negative_step_and_float_index_rejected(device):
    t = ember.arange(5, device=device)
    with pytest.raises(ValueError, match="step"):
        t[::-1]
    with pytest.raises(IndexError):
        t[1.0]


def test_contiguous_returns_self_when_contiguous(device):
    t = ember.zeros(2, 3, device=device)
    assert t.contiguous().data_ptr() == t.data_ptr()
    tt = t.t()
    c = tt.contiguous()
    assert c.is_contiguous() and c.stride() == (2, 1)
    assert c.data_ptr() != t.data_ptr()


def test_clone_of_non_contiguous_is_contiguous_copy(device):
    t = make(_arange(3, 4), device, layout="transposed")
    c = t.clone()
    assert_close(c, _arange(3, 4))
    c[0, 0] = 7.0
    assert t[0, 0].item() == 0.0


# ------------------------------------------------------------------------------------- getitem

BASIC_INDICES = [
    1,
    -1,
    (1, 2),
    (-2, -1),
    slice(None),
    slice(1, None),
    slice(None, None, 2),
    slice(1, -1, 2),
    slice(-3, None),
    slice(10, 20),
    (slice(None), 1),
    (Ellipsis, 0),
    (0, Ellipsis),
    (None,),
    (None, 1, None),
    (slice(None), None, slice(1, 3)),
    (1, slice(None), 2),
    (Ellipsis, None),
    (Ellipsis, slice(None, None, 3)),
    (),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("idx", BASIC_INDICES, ids=repr)
def test_basic_indexing_matches_numpy_and_is_a_view(device, idx, layout):
    x = _arange(3, 4, 5)
    t = make(x, device, layout=layout)
    out = t[idx]
    assert_close(out, x[idx])
    if out.numel() > 0:
        # Basic indexing gives a view: writes through it reach the base.
        flat_before = to_np(t).copy()
        out.fill_(-5.0)
        after = to_np(t)
        expect = flat_before.copy()
        expect[idx] = -5.0
        np.testing.assert_array_equal(after, expect)


ADVANCED_INDICES = [
    [0, 2],
    [[0, 1], [2, 2]],
    (slice(None), [3, 0, 0]),
    ([0, 2], [1, 3]),
    ([0, 2], slice(None), [1, 3]),
    (1, [0, 3]),
    ([[0], [2]], [1, 3]),
    (Ellipsis, [4, 0]),
    ([-1, 0],),
    (slice(None), [1, 2], [0, 4]),
    (slice(None), [1, 2], [0, 3]),
    ([0, 1], 1, [2, 3]),  # separated advanced indices: broadcast dims go first
    (slice(None), None, [1, 2]),
]


@pytest.mark.parametrize("idx", ADVANCED_INDICES, ids=repr)
def test_advanced_indexing_with_lists_and_tensors(device, idx):
    x = _arange(3, 4, 5)
    t = make(x, device)
    assert_close(t[idx], x[idx])

    def as_tensor(i):
        return ember.tensor(i, device=device) if isinstance(i, list) else i

    tidx = tuple(as_tensor(i) for i in idx) if isinstance(idx, tuple) else as_tensor(idx)
    assert_close(t[tidx], x[idx])
    assert_close(make(x, device, layout="transposed")[tidx], x[idx])


def test_advanced_indexing_returns_copy(device):
    t = make(_arange(3, 4), device)
    out = t[[0, 1]]
    out.fill_(-1.0)
    assert t[0, 0].item() == 0.0


def test_bool_mask_indexing(device, rng):
    x = rng.normal(size=(3, 4))
    t = make(x, device, layout="transposed")
    mask = x > 0
    assert_close(t[make(mask, device)], x[mask])
    assert_close(t[t > 0], x[x > 0])
    rows = np.array([True, False, True])
    assert_close(t[make(rows, device)], x[rows])
    cols = np.array([False, True, True, False])
    assert_close(t[:, make(cols, device)], x[:, cols])
    assert_close(t[[True, False, True]], x[[True, False, True]])
    assert t[make(np.zeros((3, 4), bool), device)].shape == (0,)


def test_int32_and_zero_dim_tensor_indices(device):
    x = _arange(4, 3)
    t = make(x, device)
    assert_close(t[ember.tensor([3, 1], dtype=ember.int32, device=device)], x[[3, 1]])
    assert_close(t[ember.tensor(2, device=device)], x[2])
    assert_close(t[ember.tensor([[0, 1], [2, 3]], device=device)], x[[[0, 1], [2, 3]]])


def test_indexing_scalar_and_iteration(device):
    t = make(_arange(2, 3), device)
    assert t[1, 2].shape == ()
    assert t[1, 2].item() == 5.0
    assert float(t[1, 2]) == 5.0 and int(t[1, 1]) == 4
    rows = list(t)
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0, 5.0]
    assert t.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert ember.tensor(3, device=device).tolist() == 3


# ------------------------------------------------------------------------------------- setitem

SET_CASES = [
    (1, 7.0),
    ((0, 2), 7.0),
    (slice(None, None, 2), 7.0),
    ((slice(None), 1), np.array([1.0, 2.0, 3.0])),
    ((Ellipsis, 0), 7.0),
    ((slice(1, 3), slice(0, 4, 2)), np.array([[1.0, 2.0], [3.0, 4.0]])),
    ((slice(None), slice(1, 3)), np.array([5.0, 6.0])),  # broadcast value
    ([0, 2], 9.0),
    (([0, 2], [1, 3]), np.array([10.0, 20.0])),
    ((slice(None), [0, 3]), np.array([[1.0, 2.0]])),
    ((slice(None), [0, 3]), np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])),
    ((slice(None), [0, 3]), 4.0),
    ((slice(1, None), [0, 3]), np.array([7.0, 8.0])),
    ([2, 0], np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])),
]


@pytest.mark.parametrize("idx,value", SET_CASES, ids=repr)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_setitem_matches_numpy(device, idx, value, layout):
    x = _arange(3, 4)
    t = make(x, device, layout=layout)
    v0 = t._version
    expect = x.copy()
    expect[idx] = value
    t[idx] = make(value, device) if isinstance(value, np.ndarray) else value
    assert_close(t, expect)
    assert t._version > v0


def test_setitem_bool_mask_and_tensor_index(device, rng):
    x = rng.normal(size=(3, 4))
    t = make(x, device)
    t[t < 0] = 0.0
    assert_close(t, np.where(x < 0, 0.0, x))
    t2 = make(x, device)
    mask = x > 0
    vals = np.arange(mask.sum(), dtype=np.float64)
    t2[make(mask, device)] = make(vals, device)
    e2 = x.copy()
    e2[mask] = vals
    assert_close(t2, e2)
    t3 = make(x, device)
    t3[ember.tensor([2, 0], device=device)] = make(np.ones(4), device)
    e3 = x.copy()
    e3[[2, 0]] = 1.0
    assert_close(t3, e3)


def test_setitem_through_view_reaches_base(device):
    base = ember.zeros(3, 4, device=device)
    v = base.t()[1:]
    v[0] = 5.0
    v[:, 0] = ember.tensor([1.0, 2.0, 3.0], device=device)
    e = np.zeros((3, 4))
    e[:, 1] = 5.0
    e[0, 1:] = [1.0, 2.0, 3.0]
    assert_close(base, e)


def test_setitem_with_python_list_value(device):
    t = ember.zeros(2, 3, device=device)
    t[0] = [1.0, 2.0, 3.0]
    t[1, 1:] = [5, 6]
    assert t.tolist() == [[1.0, 2.0, 3.0], [0.0, 5.0, 6.0]]


def test_setitem_value_with_leading_unit_dims(device):
    t = ember.zeros(3, device=device)
    t[0] = ember.tensor([5.0], device=device)
    t[1:] = ember.ones(1, 2, device=device)
    assert t.tolist() == [5.0, 1.0, 1.0]


def test_setitem_casts_value_dtype(device):
    t = ember.zeros(3, dtype=ember.int64, device=device)
    t[0] = ember.tensor(2.0, device=device)
    t[1:] = ember.tensor([5, 6], dtype=ember.int32, device=device)
    assert t.dtype == ember.int64
    assert t.tolist() == [2, 5, 6]


# --------------------------------------------------------------------- gather / scatter family


def _np_gather(x, dim, idx):
    # torch.gather: out[i][j] = x[idx[i][j]][j] (dim 0); index may be smaller than x in other dims
    sl = tuple(slice(None) if d == dim % x.ndim else slice(0, idx.shape[d]) for d in range(x.ndim))
    return np.take_along_axis(x[sl], idx, axis=dim)


def _np_scatter(x, dim, idx, src, add=False):
    out = x.copy()
    for pos in np.ndindex(*idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        val = src[pos] if isinstance(src, np.ndarray) else src
        if add:
            out[tuple(tgt)] += val
        else:
            out[tuple(tgt)] = val
    return out


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gather(device, rng, dim, layout):
    x = rng.normal(size=(3, 4))
    idx = rng.integers(0, x.shape[dim], size=(2, 3) if dim == 0 else (3, 2))
    out = make(x, device, layout=layout).gather(dim, make(idx, device))
    assert_close(out, _np_gather(x, dim, idx))
    assert_close(ember.gather(make(x, device), dim, make(idx, device)), _np_gather(x, dim, idx))


def test_gather_smaller_index_in_other_dims(device, rng):
    x = rng.normal(size=(4, 5))
    idx = np.array([[0, 4], [3, 3]])
    out = make(x, device).gather(1, make(idx, device))
    assert_close(out, np.array([[x[0, 0], x[0, 4]], [x[1, 3], x[1, 3]]]))


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_and_scatter_add(device, rng, dim):
    x = rng.normal(size=(3, 4))
    idx = np.array([[0, 1, 2, 0], [2, 0, 1, 1]]) if dim == 0 else np.array([[0, 3], [1, 1], [2, 0]])
    src = rng.normal(size=idx.shape)
    if dim == 0:
        # scatter needs unique targets per column to be deterministic
        idx = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])
    else:
        idx = np.array([[0, 3], [1, 2], [2, 0]])
    t = make(x, device)
    assert_close(t.scatter(dim, make(idx, device), make(src, device)), _np_scatter(x, dim, idx, src))
    assert_close(t.scatter(dim, make(idx, device), 1.5), _np_scatter(x, dim, idx, 1.5))
    dup = np.zeros_like(idx)  # every source lands on index 0: adds accumulate
    assert_close(
        t.scatter_add(dim, make(dup, device), make(src, device)), _np_scatter(x, dim, dup, src, add=True), rtol=1e-10
    )
    assert_close(t, x)  # out-of-place forms leave the input untouched
    t.scatter_add_(dim, make(dup, device), make(src, device))
    assert_close(t, _np_scatter(x, dim, dup, src, add=True), rtol=1e-10)
    t2 = make(x, device)
    t2.scatter_(dim, make(idx, device), make(src, device))
    assert_close(t2, _np_scatter(x, dim, idx, src))


def test_scatter_add_builds_histogram(device):
    idx = ember.tensor([0, 2, 2, 1, 2], device=device)
    out = ember.zeros(3, device=device).scatter_add(0, idx, ember.ones(5, device=device))
    assert out.tolist() == [1.0, 1.0, 3.0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_index_select(device, layout):
    x = _arange(3, 4)
    t = make(x, device, layout=layout)
    i = ember.tensor([2, 0, 2], device=device)
    assert_close(t.index_select(0, i), x[[2, 0, 2]])
    assert_close(t.index_select(1, i), x[:, [2, 0, 2]])
    assert_close(ember.index_select(t, -1, i), x[:, [2, 0, 2]])


def test_masked_fill(device, rng):
    x = rng.normal(size=(3, 4))
    t = make(x, device, layout="transposed")
    m = x > 0
    assert_close(t.masked_fill(make(m, device), -9.0), np.where(m, -9.0, x))
    row = np.array([True, False, False, True])  # broadcast mask
    assert_close(t.masked_fill(make(row, device), 0.0), np.where(row, 0.0, x))
    assert_close(t.masked_fill(make(row, device), ember.tensor(2.0, device=device)), np.where(row, 2.0, x))
    assert_close(t, x)


# ------------------------------------------------------------------------------- NumPy interop


def test_numpy_of_views_and_non_contiguous(device):
    x = _arange(3, 4)
    t = make(x, device)
    np.testing.assert_array_equal(t.t().cpu().numpy(), x.T)
    np.testing.assert_array_equal(t[:, 1::2].cpu().numpy(), x[:, 1::2])
    np.testing.assert_array_equal(t.expand(2, 3, 4).cpu().numpy(), np.broadcast_to(x, (2, 3, 4)))
    np.testing.assert_array_equal(np.asarray(t[1].cpu()), x[1])


def test_numpy_of_view_shares_memory(device):
    if device != "cpu":
        pytest.skip("zero-copy numpy() is a CPU property")
    t = ember.zeros(3, 4, dtype=ember.float64)
    a = t[1].numpy()
    a[:] = 3.0
    assert t[1].tolist() == [3.0] * 4


def test_numpy_of_non_contiguous_view_shares_memory(device):
    # torch's Tensor.numpy() always shares memory, whatever the strides.
    if device != "cpu":
        pytest.skip("zero-copy numpy() is a CPU property")
    t = ember.zeros(3, 4, dtype=ember.float64)
    b = t.t().numpy()
    assert b.shape == (4, 3)
    b[1, 0] = 8.0
    assert t[0, 1].item() == 8.0
    c = t[:, ::2].numpy()
    c[2, 1] = 9.0
    assert t[2, 2].item() == 9.0
