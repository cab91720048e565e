"""argsort, integer scatter-add, the int64 division family, integer pow, the integer matmul and
float16 <-> int64 casts on the GPU: the same values as the CPU kernel (and NumPy where their semantics meet),
and none of them on the host path.

Sizes stay small (CI runs lavapipe), but rows longer than one sorting workgroup (1024 pairs) are
included so that the multi-dispatch sort runs. CI may run this file on wgpu's OpenGL backend too
(``EMBER_GPU=gl``): float64 cases skip where the adapter has no shader-f64.
"""


import numpy as np
import pytest

import ember
from conftest import trace_host_paths

RNG = np.random.default_rng(2024)
HAS_F64 = ember.gpu.get_device_properties().has_float64


def _both(a, layout="contiguous"):
    """A CPU and a GPU tensor holding ``a``, in the same layout."""
    c, g = ember.tensor(a), ember.tensor(a, device="gpu")
    if layout == "transposed":
        c, g = c.transpose(0, -1), g.transpose(0, -1)
    elif layout == "sliced":
        c, g = c[..., 1::2], g[..., 1::2]
    return c, g


def _gpu_values(t):
    assert t.device.type == "gpu"
    return t.cpu().numpy()


# ---- argsort ----


def _reference_argsort(a, dim, descending):
    """Indices of a stable sort along ``dim`` with the CPU kernel's order: NaN above +inf,
    -0 level with 0, ties by index (also when descending); values compared as Python floats."""
    moved = np.moveaxis(np.asarray(a), dim, -1)
    out = np.empty(moved.shape, dtype=np.int64)
    for pos in np.ndindex(moved.shape[:-1]):
        row = [float(v) for v in moved[pos]]
        if descending:
            key = lambda i: (not np.isnan(row[i]), 0.0 if np.isnan(row[i]) else -row[i], i)  # noqa: E731
        else:
            key = lambda i: (np.isnan(row[i]), 0.0 if np.isnan(row[i]) else row[i], i)  # noqa: E731
        out[pos] = sorted(range(len(row)), key=key)
    return np.moveaxis(out, -1, dim)


def _sample(dtype, shape):
    """Few distinct values (many ties), with NaN, -0.0 and infinities for the floats."""
    if dtype == np.bool_:
        return RNG.integers(0, 2, shape).astype(dtype)
    if dtype in (np.int32, np.int64):
        return RNG.integers(-4, 4, shape).astype(dtype)
    a = RNG.integers(-3, 3, shape).astype(dtype)
    flat = a.reshape(-1)
    flat[::7] = np.nan
    flat[3::11] = -0.0
    flat[5::13] = np.inf
    flat[6::17] = -np.inf
    return a


DTYPES = [np.float32, np.float16, np.int32, np.int64, np.bool_, np.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(9,), (3, 5), (2, 3, 4), (3, 700), (2, 1500), (1, 3000)])
@pytest.mark.parametrize("descending", [False, True])
def test_argsort_matches_cpu_and_reference(dtype, shape, descending):
    if dtype == np.float64 and not HAS_F64:
        pytest.skip("the adapter has no shader-f64")
    a = _sample(dtype, shape)
    for dim in range(len(shape)):
        for layout in ["contiguous", "transposed", "sliced"] if len(shape) > 1 else ["contiguous"]:
            c, g = _both(a, layout)
            want = ember.argsort(c, dim=dim, descending=descending).numpy()
            got = _gpu_values(ember.argsort(g, dim=dim, descending=descending))
            np.testing.assert_array_equal(got, want, err_msg=f"dim {dim}, {layout}")
            np.testing.assert_array_equal(got, _reference_argsort(c.numpy(), dim, descending))


def test_argsort_rows_past_several_chunks_with_ties():
    # 5000 pads to 8192: a global mirror step and a global half step per stage beyond one chunk.
    a = RNG.integers(0, 50, (2, 5000)).astype(np.float32)
    a[0, ::3] = np.nan
    for descending in [False, True]:
        c, g = _both(a)
        got = _gpu_values(g.argsort(dim=1, descending=descending))
        np.testing.assert_array_equal(got, c.argsort(dim=1, descending=descending).numpy())
        np.testing.assert_array_equal(got, _reference_argsort(a, 1, descending))
        # Every row is a permutation, and the values it picks are in order.
        assert (np.sort(got, axis=1) == np.arange(5000)).all()


def test_argsort_int64_beyond_2_53_as_the_cpu_compares():
    # The CPU kernel compares int64 as float64: 2**53 and 2**53 + 1 tie (index order), while
    # values beyond 2**32 that float64 tells apart keep their order.
    a = np.array([2**53 + 1, 2**53, 2**53 + 2, -(2**63), 2**63 - 1, -(2**63) + 1, 2**32 + 7,
                  2**32 + 5, -(2**40), 5, 2**62 + 4096, 2**62], dtype=np.int64)
    for descending in [False, True]:
        c, g = _both(a)
        got = _gpu_values(g.argsort(descending=descending))
        np.testing.assert_array_equal(got, c.argsort(descending=descending).numpy())
        np.testing.assert_array_equal(got, _reference_argsort(a, 0, descending))
    assert list(_gpu_values(ember.tensor(a, device="gpu").argsort())[:4]) == [3, 5, 8, 9]


def test_sort_and_topk_values_and_indices():
    a = RNG.standard_normal((4, 1300)).astype(np.float32)
    a[:, ::5] = a[:, 1::5]  # ties
    c, g = _both(a)
    for descending in [False, True]:
        (vc, ic), (vg, ig) = c.sort(dim=1, descending=descending), g.sort(dim=1, descending=descending)
        np.testing.assert_array_equal(_gpu_values(vg), vc.numpy())
        np.testing.assert_array_equal(_gpu_values(ig), ic.numpy())
    for k, dim, largest in [(17, 1, True), (3, 0, False)]:
        (vc, ic), (vg, ig) = c.topk(k, dim=dim, largest=largest), g.topk(k, dim=dim, largest=largest)
        np.testing.assert_array_equal(_gpu_values(vg), vc.numpy())
        np.testing.assert_array_equal(_gpu_values(ig), ic.numpy())


def test_argsort_empty_and_single():
    for shape, dim in [((0, 4), 0), ((3, 0), 1), ((5, 1), 1)]:
        c, g = _both(np.zeros(shape, np.float32))
        got = g.argsort(dim=dim)
        assert got.device.type == "gpu" and got.dtype == ember.int64 and tuple(got.shape) == shape
        np.testing.assert_array_equal(got.cpu().numpy(), c.argsort(dim=dim).numpy())


# ---- integer scatter-add ----


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_scatter_add_integers(dtype):
    scale = 2**35 if dtype == np.int64 else 1000
    x = RNG.integers(-5, 5, (4, 6)).astype(dtype) * scale
    src = RNG.integers(-9, 9, (5, 6)).astype(dtype) * scale + 3
    for dim in [0, 1]:
        index = RNG.integers(0, x.shape[dim], (3, 5) if dim == 0 else (4, 6))  # duplicates
        cx, gx = _both(x)
        ci, gi = _both(index)
        cs, gs = _both(src)
        got = _gpu_values(gx.scatter_add(dim, gi, gs))
        np.testing.assert_array_equal(got, cx.scatter_add(dim, ci, cs).numpy())
        want = x.copy()
        for p in np.ndindex(index.shape):
            q = list(p)
            q[dim] = index[p]
            want[tuple(q)] += src[p]
        np.testing.assert_array_equal(got, want)


def test_scatter_add_integers_on_views():
    x = np.arange(24, dtype=np.int64).reshape(4, 6) * (2**33) - 7
    src = RNG.integers(-100, 100, (6, 5)).astype(np.int64) * (2**34)
    index = RNG.integers(0, 4, (3, 5))
    cx, gx = _both(x, "sliced")
    cs, gs = _both(src, "transposed")
    ci, gi = _both(index, "transposed")
    got = _gpu_values(gx.scatter_add(0, gi, gs))
    np.testing.assert_array_equal(got, cx.scatter_add(0, ci, cs).numpy())
    assert (got != cx.numpy()).any()


def test_scatter_add_integer_overflow_as_the_cpu_adds():
    # The CPU kernel adds through float64: int32 saturates, int64 rounds beyond 2**53 and
    # saturates past the ends. The GPU gives the same numbers.
    cases = [
        (np.array([2**31 - 5, -(2**31) + 5], np.int32), [0, 0, 1, 1], np.array([3, 4, -3, -4], np.int32)),
        (np.array([2**62, -(2**62), 2**53, 0], np.int64), [0, 0, 1, 1, 2, 2, 3, 3],
         np.array([2**62, 2**62, -(2**62), -(2**62) - 1, 1, 1, 2**53 + 1, 1], np.int64)),
    ]
    for x, index, src in cases:
        cx, gx = _both(x)
        ci, gi = _both(np.array(index))
        cs, gs = _both(src)
        want = cx.scatter_add(0, ci, cs).numpy()
        np.testing.assert_array_equal(_gpu_values(gx.scatter_add(0, gi, gs)), want)
    assert list(want) == [2**63 - 1, -(2**63), 2**53, 2**53]


def test_scatter_add_out_of_range_index_raises_on_gpu():
    gx = ember.zeros(4, dtype=ember.int64, device="gpu")
    with pytest.raises(RuntimeError):
        gx.scatter_add(0, ember.tensor([0, 4], device="gpu"), ember.ones(2, dtype=ember.int64, device="gpu"))
        ember.gpu.synchronize()


# ---- int64 division family and integer pow ----

EDGE = np.array([0, 1, -1, 2, -2, 3, -3, 7, -7, 2**31 - 1, -(2**31), 2**32, -(2**32), 2**40 + 5,
                 -(2**40) - 5, 2**62 + 12345, -(2**62) - 12345, 2**63 - 1, -(2**63)], dtype=np.int64)


def _pairs():
    a, b = np.repeat(EDGE, len(EDGE)), np.tile(EDGE, len(EDGE))
    # No zero divisors (they raise) and not MIN // -1 (the CPU kernel's overflow).
    keep = (b != 0) & ~((a == -(2**63)) & (b == -1))
    return a[keep], b[keep]


@pytest.mark.parametrize("op", ["remainder", "floor_divide"])
def test_int64_division_family(op):
    a, b = _pairs()
    (ca, ga), (cb, gb) = _both(a), _both(b)
    got = _gpu_values(getattr(ember, op)(ga, gb))
    np.testing.assert_array_equal(got, getattr(ember, op)(ca, cb).numpy())
    np.testing.assert_array_equal(got, getattr(np, op)(a, b))
    # Operators with Python numbers, and int32 beside them.
    for s in [3, -3, 2**33]:
        want = getattr(np, op)(a, s)
        np.testing.assert_array_equal(_gpu_values(getattr(ember, op)(ga, s)), want)
    # int32 (negative operands were wrong on the GL backend, whose `%` is unsigned there).
    small = np.concatenate([RNG.integers(-50, 50, 40), [-7, 7, -7, 2**31 - 1, -(2**31)]]).astype(np.int32)
    divisor = np.concatenate([RNG.integers(1, 9, 40) * RNG.choice([-1, 1], 40), [3, -3, -3, -2, 3]])
    divisor = divisor.astype(np.int32)
    got = _gpu_values(getattr(ember, op)(_both(small)[1], _both(divisor)[1]))
    np.testing.assert_array_equal(got, getattr(np, op)(small, divisor))


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_int64_min_floor_divide_minus_one_wraps(device):
    # PyTorch's answer: the quotient wraps to MIN, the remainder is 0 (no overflow panic).
    g = ember.tensor([-(2**63)], device=device)
    assert (g // ember.tensor([-1], device=device)).cpu().numpy().tolist() == [-(2**63)]
    assert (g % ember.tensor([-1], device=device)).cpu().numpy().tolist() == [0]
    h = ember.tensor([-(2**31)], dtype=ember.int32, device=device)
    assert (h // ember.tensor([-1], dtype=ember.int32, device=device)).cpu().numpy().tolist() == [-(2**31)]


@pytest.mark.parametrize("op", ["remainder", "floor_divide"])
@pytest.mark.parametrize("dtype", [ember.int32, ember.int64])
def test_integer_division_by_zero_raises_on_gpu(op, dtype):
    # A zero divisor tensor is found on the device: the op does not wait, the next read raises
    # (as CUDA's device-side asserts); a Python 0 raises at once.
    a = ember.tensor([5, 6], dtype=dtype, device="gpu")
    b = ember.tensor([1, 0], dtype=dtype, device="gpu")
    waits = ember.gpu._stream_counts()["waits"]
    out = getattr(ember, op)(a, b)
    assert ember.gpu._stream_counts()["waits"] == waits
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        out.cpu()
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        getattr(ember, op)(a, 0)
    ok = getattr(ember, op)(a, ember.tensor([2, 3], dtype=dtype, device="gpu"))
    np.testing.assert_array_equal(ok.cpu().numpy(), getattr(np, op)(np.array([5, 6]), np.array([2, 3])))


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_pow_wraps_as_the_cpu(dtype):
    a, _ = _pairs()
    a = a.astype(dtype)
    e = RNG.integers(0, 70, a.shape).astype(dtype)
    e[:5] = [0, 1, 63, 64, 31]
    (ca, ga), (ce, ge) = _both(a), _both(e)
    got = _gpu_values(ga**ge)
    np.testing.assert_array_equal(got, (ca**ce).numpy())
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, np.power(a, e))
    np.testing.assert_array_equal(_gpu_values(ga**3), (ca**3).numpy())
    np.testing.assert_array_equal(_gpu_values(3**ge), (3**ce).numpy())
    with pytest.raises(RuntimeError, match="negative integer powers"):
        ga ** -1  # a Python number: at once
    out = ga ** ember.tensor([-1], dtype=ga.dtype, device="gpu")
    with pytest.raises(RuntimeError, match="negative integer powers"):
        out.cpu()  # a tensor exponent is checked on the device: at the next read


# ---- float16 <-> int64 ----


def test_int64_to_float16_rounds_as_the_cpu():
    a = np.array([0, 1, -1, 2047, 2048, 2049, 2050, 2051, 4097, 4099, 65504, 65505, 65519, 65520,
                  -65519, -65520, 2**40, -(2**63), 2**63 - 1, 12345, -12345, 1025], dtype=np.int64)
    for layout in ["contiguous", "sliced"]:
        c, g = _both(a.reshape(2, -1), layout)
        got = _gpu_values(g.half())
        want = c.half().numpy()
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(got, c.numpy().astype(np.float16))


def test_float16_to_int64_truncates_as_the_cpu():
    h = np.array([0, -0.0, 1.5, -1.5, 2.5, -2.99, 65504, -65504, 6e-8, -0.99, 1234.5, np.inf,
                  -np.inf, np.nan], dtype=np.float16)
    for layout in ["contiguous", "sliced"]:
        c, g = _both(h, layout)
        got = _gpu_values(g.long())
        np.testing.assert_array_equal(got, c.long().numpy())
        finite = np.isfinite(c.numpy())
        np.testing.assert_array_equal(got[finite], c.numpy()[finite].astype(np.int64))
    assert _gpu_values(ember.tensor(h[-3:], device="gpu").long()).tolist() == [2**63 - 1, -(2**63), 0]


# ---- integer matmul ----


@pytest.mark.parametrize("dtype", [ember.int64, ember.int32])
def test_integer_matmul_wraps_as_the_cpu(dtype):
    a = RNG.integers(-1000, 1000, (2, 5, 7))
    b = RNG.integers(-1000, 1000, (7, 3))
    cases = [(a, b), (a[0], b)]
    if dtype == ember.int64:
        cases.append((np.array([[2**40, 3], [5, -(2**62)]]), np.array([[2**40, 7], [9, 2**62]])))
    else:
        cases.append((np.array([[2**30, 3]]), np.array([[4], [5]])))  # wraps past 2^31
    for x, y in cases:
        want = (ember.tensor(x).to(dtype) @ ember.tensor(y).to(dtype)).numpy()
        gx = ember.tensor(x, device="gpu").to(dtype)
        gy = ember.tensor(y, device="gpu").to(dtype)
        for right in (gy, gy.t().contiguous().t()):  # row- and column-major
            got = _gpu_values(gx @ right)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


# ---- none of them on the host path ----

_TRACED = {
    "argsort float32": "ember.argsort(ember.tensor([[3.0, float('nan'), 1.0]] * 2, device='gpu'), dim=1)",
    "argsort float16 long rows": "ember.argsort(ember.rand(2, 1500).half().to('gpu'), dim=1, descending=True)",
    "argsort int32 dim 0": "ember.argsort(ember.tensor([[3, 1], [2, 5]], dtype=ember.int32, device='gpu'), dim=0)",
    "argsort int64": "ember.argsort(ember.tensor([2**40, -5, 7], device='gpu'))",
    "argsort bool": "ember.argsort(ember.tensor([True, False, True], device='gpu'))",
    "scatter_add int32": "ember.zeros(3, dtype=ember.int32, device='gpu').scatter_add(0, ember.tensor([0, 0, 2], device='gpu'), ember.ones(3, dtype=ember.int32, device='gpu'))",
    "scatter_add int64": "ember.zeros(3, dtype=ember.int64, device='gpu').scatter_add(0, ember.tensor([0, 0, 2], device='gpu'), ember.ones(3, dtype=ember.int64, device='gpu'))",
    "remainder int64": "ember.tensor([7, -7, 2**40], device='gpu') % ember.tensor([3, 3, -5], device='gpu')",
    "floor_divide int64": "ember.tensor([7, -7, 2**40], device='gpu') // 3",
    "pow int64": "ember.tensor([7, -7, 2**20], device='gpu') ** 3",
    "pow int32": "ember.tensor([7, -7], dtype=ember.int32, device='gpu') ** ember.tensor([2, 3], dtype=ember.int32, device='gpu')",
    "cast int64 to float16": "ember.tensor([2**40, 3, -2049], device='gpu').half()",
    "cast float16 to int64": "ember.tensor([1.5, -2.5, 7.0]).half().to('gpu').long()",
    "clamp int64": "ember.tensor([2**40, -5], device='gpu').clamp(-3, 2**35)",
    "argsort bfloat16": "ember.argsort(ember.tensor([1.0, 0.0]).bfloat16().to('gpu'))",
    "matmul int64": "ember.tensor([[2, 3]], device='gpu') @ ember.tensor([[4], [5]], device='gpu')",
    "matmul int32": "ember.ones(2, 3, dtype=ember.int32, device='gpu') @ ember.ones(3, 2, dtype=ember.int32, device='gpu')",
}


@pytest.fixture(scope="module")
def host_paths():
    """Host-path trace lines per entry of _TRACED, from one traced interpreter."""
    return trace_host_paths(_TRACED)


@pytest.mark.parametrize("name", list(_TRACED))
def test_runs_without_the_host_path(host_paths, name):
    assert host_paths[name] == []


def test_int64_clamp_on_two_words():
    # Bounds beyond 32 bits, one-sided bounds, and min > max (max wins, as torch.clamp).
    x = np.array([-(2**40), -5, 0, 7, 2**40, 2**62], dtype=np.int64)
    for lo, hi in [(-6, 2**35), (None, 3), (-(2**41), None), (10, 2)]:
        got = ember.tensor(x, device="gpu").clamp(min=lo, max=hi)
        want = ember.tensor(x).clamp(min=lo, max=hi)
        assert got.dtype == ember.int64
        np.testing.assert_array_equal(_gpu_values(got), want.numpy())
