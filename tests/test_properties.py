"""Hypothesis property tests: broadcasting, views/indexing and reductions agree with NumPy on
random shapes, dims and layouts."""

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember
from conftest import DEVICES, assert_close, make, to_np

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)
devices = st.sampled_from(DEVICES)
layouts = st.sampled_from(["contiguous", "transposed", "sliced"])


def arrays(shape):
    return hnp.arrays(np.float64, shape, elements=finite)


@st.composite
def array_and_layout(draw, min_dims=0, max_dims=4):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=4))
    x = draw(arrays(shape))
    layout = draw(layouts) if len(shape) >= 2 else ("sliced" if len(shape) == 1 and draw(st.booleans()) else "contiguous")
    return x, layout


# -------------------------------------------------------------------------------- broadcasting

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "maximum": (lambda a, b: ember.maximum(a, b), np.maximum),
    "lt": (lambda a, b: a < b, np.less),
    "where": (lambda a, b: ember.where(a > b, a, b), lambda a, b: np.where(a > b, a, b)),
}


@SETTINGS
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
    data=st.data(),
    name=st.sampled_from(sorted(BINARY)),
    device=devices,
)
def test_binary_broadcasting_matches_numpy(shapes, data, name, device):
    sa, sb = shapes.input_shapes
    a = data.draw(arrays(sa))
    b = data.draw(arrays(sb))
    fn, ref = BINARY[name]
    out = fn(make(a, device), make(b, device))
    assert out.shape == shapes.result_shape
    assert_close(out, ref(a, b), rtol=1e-12, atol=0)


@SETTINGS
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    data=st.data(),
    device=devices,
)
def test_broadcast_gradient_reduces_to_input_shape(shapes, data, device):
    sa, sb = shapes.input_shapes
    a = data.draw(arrays(sa))
    b = data.draw(arrays(sb))
    ta = make(a, device, requires_grad=True)
    tb = make(b, device, requires_grad=True)
    (ta * tb).sum().backward()
    full = shapes.result_shape
    # d/da sum(a*b) = b broadcast to the full shape, summed back over a's broadcast dims.
    assert ta.grad.shape == sa and tb.grad.shape == sb
    assert_close(ta.grad, _reduce_to(np.broadcast_to(b, full), sa), rtol=1e-10, atol=1e-12)
    assert_close(tb.grad, _reduce_to(np.broadcast_to(a, full), sb), rtol=1e-10, atol=1e-12)


def _reduce_to(g, shape):
    """Sums a broadcast gradient back to `shape`."""
    g = np.asarray(g)
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


@SETTINGS
@given(data=st.data(), device=devices)
def test_expand_matches_broadcast_to(data, device):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    target = data.draw(hnp.broadcastable_shapes(shape, min_dims=len(shape), max_dims=4, max_side=3).map(
        lambda s: tuple(max(a, b) for a, b in zip(s, ((1,) * (len(s) - len(shape)) + shape)))
    ))
    x = data.draw(arrays(shape))
    e = make(x, device).expand(*target)
    assert_close(e, np.broadcast_to(x, target), rtol=0, atol=0)
    for i, (s, st_) in enumerate(zip(e.shape, e.stride())):
        src = i - (len(target) - len(shape))
        if src < 0 or (shape[src] == 1 and s != 1):
            assert st_ == 0


# ---------------------------------------------------------------------------- views / indexing


@SETTINGS
@given(xl=array_and_layout(min_dims=1), data=st.data(), device=devices)
def test_permute_roundtrip_and_values(xl, data, device):
    x, layout = xl
    t = make(x, device, layout=layout)
    perm = data.draw(st.permutations(range(x.ndim)))
    p = t.permute(*perm)
    assert_close(p, np.transpose(x, perm), rtol=0, atol=0)
    inv = np.argsort(perm).tolist()
    back = p.permute(*inv)
    assert back.stride() == t.stride()
    assert_close(back, x, rtol=0, atol=0)


@SETTINGS
@given(xl=array_and_layout(min_dims=1), data=st.data(), device=devices)
def test_reshape_to_random_factorisation(xl, data, device):
    x, layout = xl
    t = make(x, device, layout=layout)
    n = x.size
    dims = []
    rest = n
    while rest > 1 and len(dims) < 4:
        divs = [d for d in range(1, rest + 1) if rest % d == 0]
        d = data.draw(st.sampled_from(divs))
        dims.append(d)
        rest //= d
    dims.append(rest)
    if data.draw(st.booleans()):
        dims[data.draw(st.integers(0, len(dims) - 1))] = -1
    r = t.reshape(*dims)
    assert_close(r, x.reshape(dims), rtol=0, atol=0)
    assert_close(r.reshape(*x.shape), x, rtol=0, atol=0)
    if t.is_contiguous():
        v = t.view(*dims)
        assert v.data_ptr() == t.data_ptr()


@st.composite
def basic_index(draw, shape):
    """A tuple of ints, positive-step slices, None and at most one Ellipsis for `shape`."""
    items = []
    dim = 0
    used_ellipsis = False
    while dim < len(shape):
        kind = draw(st.sampled_from(["int", "slice", "slice", "none", "ellipsis", "stop"]))
        if kind == "stop":
            break
        if kind == "none":
            items.append(None)
            continue
        if kind == "ellipsis":
            if used_ellipsis:
                continue
            used_ellipsis = True
            items.append(Ellipsis)
            skip = draw(st.integers(0, len(shape) - dim))
            dim += skip
            continue
        n = shape[dim]
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        else:
            start = draw(st.none() | st.integers(-n - 1, n + 1))
            stop = draw(st.none() | st.integers(-n - 1, n + 1))
            step = draw(st.none() | st.integers(1, 3))
            items.append(slice(start, stop, step))
        dim += 1
    return tuple(items)


@SETTINGS
@given(xl=array_and_layout(min_dims=1), data=st.data(), device=devices)
def test_basic_indexing_is_a_numpy_matching_view(xl, data, device):
    x, layout = xl
    idx = data.draw(basic_index(x.shape))
    try:
        expect = x[idx]
    except IndexError:
        assume(False)
    t = make(x, device, layout=layout)
    out = t[idx]
    assert_close(out, expect, rtol=0, atol=0)
    assert out.shape == np.shape(expect)
    if out.numel() > 0:
        out.fill_(12345.0)
        y = x.copy()
        y[idx] = 12345.0
        assert_close(t, y, rtol=0, atol=0)


@SETTINGS
@given(xl=array_and_layout(min_dims=1, max_dims=3), data=st.data(), device=devices)
def test_integer_array_index_on_one_dim(xl, data, device):
    x, layout = xl
    dim = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[dim]
    idx = data.draw(st.lists(st.integers(-n, n - 1), min_size=0, max_size=5))
    t = make(x, device, layout=layout)
    key = (slice(None),) * dim + (idx,)
    if idx:
        assert_close(t[key], x[key], rtol=0, atol=0)
        assert_close(t[key[:dim] + (ember.tensor(idx),)], x[key], rtol=0, atol=0)
    # index_select takes non-negative indices only (torch raises IndexError for negatives).
    pos = [i % n for i in idx]
    expect = np.take(x, np.array(pos, dtype=np.int64), axis=dim)
    assert_close(t.index_select(dim, ember.tensor(pos, dtype=ember.int64, device=device)), expect, rtol=0, atol=0)


@SETTINGS
@given(xl=array_and_layout(min_dims=1, max_dims=3), data=st.data(), device=devices)
def test_cat_split_roundtrip(xl, data, device):
    x, layout = xl
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[dim]
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    sizes = np.diff([0] + cuts + [n]).tolist()
    t = make(x, device, layout=layout)
    parts = t.split(sizes, dim=dim)
    assert [p.shape[dim] for p in parts] == sizes
    assert_close(ember.cat(parts, dim=dim), x, rtol=0, atol=0)
    for p, r in zip(parts, np.split(x, np.cumsum(sizes)[:-1], axis=dim)):
        assert_close(p, r, rtol=0, atol=0)


@SETTINGS
@given(xl=array_and_layout(min_dims=1), data=st.data(), device=devices)
def test_flip_and_transpose_are_involutions(xl, data, device):
    x, layout = xl
    t = make(x, device, layout=layout)
    dims = data.draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
    assert_close(t.flip(*dims), np.flip(x, dims), rtol=0, atol=0)
    assert_close(t.flip(*dims).flip(*dims), x, rtol=0, atol=0)
    d0, d1 = data.draw(st.integers(0, x.ndim - 1)), data.draw(st.integers(0, x.ndim - 1))
    assert_close(t.transpose(d0, d1), np.swapaxes(x, d0, d1), rtol=0, atol=0)
    assert_close(t.transpose(d0, d1).contiguous().transpose(d0, d1), x, rtol=0, atol=0)


# ---------------------------------------------------------------------------------- reductions

REDUCTIONS = {
    "sum": (lambda t, d, k: t.sum(dim=d, keepdim=k), lambda x, d, k: np.sum(x, axis=d, keepdims=k)),
    "mean": (lambda t, d, k: t.mean(dim=d, keepdim=k), lambda x, d, k: np.mean(x, axis=d, keepdims=k)),
    "amax": (lambda t, d, k: t.amax(dim=d, keepdim=k), lambda x, d, k: np.amax(x, axis=d, keepdims=k)),
    "amin": (lambda t, d, k: t.amin(dim=d, keepdim=k), lambda x, d, k: np.amin(x, axis=d, keepdims=k)),
    "var": (lambda t, d, k: t.var(dim=d, keepdim=k, correction=0), lambda x, d, k: np.var(x, axis=d, keepdims=k)),
    "logsumexp": (
        lambda t, d, k: t.logsumexp(d, keepdim=k),
        lambda x, d, k: np.log(np.sum(np.exp(x), axis=d, keepdims=k)),
    ),
}


@SETTINGS
@given(
    xl=array_and_layout(min_dims=1),
    data=st.data(),
    name=st.sampled_from(sorted(REDUCTIONS)),
    keepdim=st.booleans(),
    device=devices,
)
def test_reductions_over_random_dims(xl, data, name, keepdim, device):
    x, layout = xl
    dims = data.draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=1, max_size=x.ndim, unique_by=lambda d: d % x.ndim))
    dims = tuple(dims)
    fn, ref = REDUCTIONS[name]
    t = make(x, device, layout=layout)
    out = fn(t, dims, keepdim)
    expect = ref(x, tuple(d % x.ndim for d in dims), keepdim)
    assert_close(out, expect, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(xl=array_and_layout(min_dims=1), data=st.data(), device=devices)
def test_single_dim_reductions_and_indices(xl, data, device):
    x, layout = xl
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    t = make(x, device, layout=layout)
    v, i = t.max(dim=dim)
    assert_close(v, x.max(axis=dim), rtol=0, atol=0)
    # The index points at a maximal value.
    picked = np.take_along_axis(x, np.expand_dims(to_np(i), dim), axis=dim).squeeze(dim)
    np.testing.assert_array_equal(picked, x.max(axis=dim))
    assert_close(t.argmin(dim=dim), np.argmin(x, axis=dim))
    assert_close(t.cumsum(dim), np.cumsum(x, axis=dim), rtol=1e-10, atol=1e-9)
    assert_close(t.prod(dim=dim), np.prod(x, axis=dim), rtol=1e-10, atol=1e-9)
    sm = to_np(t.softmax(dim))
    np.testing.assert_allclose(sm.sum(axis=dim), 1.0, rtol=1e-12)
    assert (sm >= 0).all()


@SETTINGS
@given(xl=array_and_layout(min_dims=1, max_dims=3), data=st.data(), descending=st.booleans(), device=devices)
def test_sort_properties(xl, data, descending, device):
    x, layout = xl
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    t = make(x, device, layout=layout)
    v, i = t.sort(dim=dim, descending=descending)
    vals = to_np(v)
    d = np.diff(vals, axis=dim)
    assert ((d <= 0) if descending else (d >= 0)).all()
    # The indices gather the sorted values back from the input.
    np.testing.assert_array_equal(np.take_along_axis(x, to_np(i), axis=dim), vals)
    np.testing.assert_array_equal(np.sort(to_np(i), axis=dim), np.broadcast_to(
        np.arange(x.shape[dim]).reshape([-1 if k == dim % x.ndim else 1 for k in range(x.ndim)]), x.shape))


@SETTINGS
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=2, max_dims=4, max_side=4),
    k=st.integers(1, 4),
    data=st.data(),
    device=devices,
)
def test_batched_matmul_matches_numpy(shapes, k, data, device):
    sa, sb = shapes.input_shapes
    # Interpret the last two dims: a is (..., m, k), b is (..., k, n).
    sa = sa[:-1] + (k,)
    sb = sb[:-2] + (k, sb[-1])
    a = data.draw(arrays(sa))
    b = data.draw(arrays(sb))
    try:
        expect = np.matmul(a, b)
    except ValueError:
        assume(False)
    out = make(a, device) @ make(b, device)
    assert_close(out, expect, rtol=1e-10, atol=1e-9)
