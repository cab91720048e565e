"""Tensor creation, dtype inference and conversion, devices, NumPy interop and pickling."""

import pickle

import numpy as np
import pytest

import ember
from conftest import assert_close, make, to_np

# ------------------------------------------------------------------------------------- tensor()


@pytest.mark.parametrize(
    "data,dtype,shape",
    [
        ([1, 2, 3], ember.int64, (3,)),
        ([1.0, 2, 3], ember.float32, (3,)),
        ([True, False], ember.bool, (2,)),
        ([[1, 2], [3, 4]], ember.int64, (2, 2)),
        ([[[1.5]], [[2.5]]], ember.float32, (2, 1, 1)),
        (3, ember.int64, ()),
        (2.5, ember.float32, ()),
        (True, ember.bool, ()),
        ([], ember.float32, (0,)),
        ([[], []], ember.float32, (2, 0)),
        ((1, 2), ember.int64, (2,)),
        ([True, 2], ember.int64, (2,)),
    ],
    ids=repr,
)
def test_tensor_infers_dtype_and_shape(device, data, dtype, shape):
    t = ember.tensor(data, device=device)
    assert t.dtype == dtype
    assert t.shape == shape
    assert_close(t, np.array(data, dtype=np.float64).astype(to_np(t).dtype) if shape != (0,) else np.zeros(0, np.float32))
    assert t.device.type == device.split(":")[0]


def test_tensor_with_explicit_dtype(device):
    t = ember.tensor([1, 2], dtype=ember.float64, device=device)
    assert t.dtype == ember.float64 and t.tolist() == [1.0, 2.0]
    t = ember.tensor([1.7, -1.7], dtype=ember.int64, device=device)
    assert t.tolist() == [1, -1]  # truncation toward zero
    t = ember.tensor([0.0, 2.0], dtype=ember.bool, device=device)
    assert t.tolist() == [False, True]


def test_tensor_from_tensors_and_numpy_list(device):
    parts = [ember.tensor([1.0, 2.0], device=device), ember.tensor([3.0, 4.0], device=device)]
    assert_close(ember.stack(parts), np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    t = ember.tensor([np.float32(1.5), np.float32(2.5)], device=device)
    assert t.tolist() == [1.5, 2.5]


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(6, dtype=np.float64).reshape(2, 3),
        np.arange(6, dtype=np.float32).reshape(3, 2),
        np.arange(4, dtype=np.int32),
        np.arange(4, dtype=np.int64),
        np.array([True, False]),
        np.arange(4, dtype=np.float16),
    ],
    ids=lambda a: str(a.dtype),
)
def test_tensor_from_numpy_keeps_dtype_and_copies(device, arr):
    t = ember.tensor(arr, device=device)
    assert_close(t, arr)
    assert to_np(t).dtype == arr.dtype
    before = arr.copy()
    arr.flat[0] = 1
    np.testing.assert_array_equal(to_np(t), before)  # tensor() copies


def test_tensor_from_list_of_tensors_and_from_tensor(device):
    t = ember.tensor([ember.tensor(1.0), ember.tensor(2.0)], device=device)
    assert t.shape == (2,) and t.tolist() == [1.0, 2.0]
    rows = ember.tensor([ember.tensor([1, 2]), ember.tensor([3, 4])], device=device)
    assert rows.dtype == ember.int64 and rows.tolist() == [[1, 2], [3, 4]]
    src = ember.tensor([1.0, 2.0], device=device)
    copy = ember.tensor(src)
    copy.add_(1)
    assert src.tolist() == [1.0, 2.0]


def test_tensor_from_non_contiguous_numpy(device):
    a = np.arange(24.0).reshape(4, 6)
    assert_close(ember.tensor(a.T, device=device), a.T)
    assert_close(ember.tensor(a[::2, 1::3], device=device), a[::2, 1::3])
    assert_close(ember.tensor(a[::-1], device=device), a[::-1])


def test_tensor_from_numpy_scalar_is_zero_dim(device):
    assert ember.tensor(np.float64(1.5), device=device).shape == ()
    assert ember.tensor(np.array(2.0), device=device).shape == ()
    assert ember.tensor(np.int64(3), device=device).shape == ()
    assert ember.tensor(np.float64(1.5)).dtype == ember.float64


def test_as_tensor(device):
    a = np.arange(3.0)
    t = ember.as_tensor(a, device=device)
    assert_close(t, a)
    t2 = ember.as_tensor(t)
    assert t2.data_ptr() == t.data_ptr()
    assert ember.as_tensor([1, 2], dtype=ember.float32, device=device).dtype == ember.float32


def test_tensor_copy_of_tensor_requires_grad_flag(device):
    t = ember.tensor([1.0, 2.0], requires_grad=True, device=device)
    assert t.requires_grad and t.is_leaf
    assert ember.tensor([1.0], device=device).requires_grad is False


# ---------------------------------------------------------------------------- factory functions


def test_zeros_ones_full_empty(device):
    for shape_args, shape in [((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([4],), (4,)), (((),), ())]:
        z = ember.zeros(*shape_args, device=device)
        assert z.shape == shape and z.dtype == ember.float32
        assert_close(z, np.zeros(shape, np.float32))
        o = ember.ones(*shape_args, dtype=ember.int64, device=device)
        assert o.dtype == ember.int64
        assert_close(o, np.ones(shape, np.int64))
        assert ember.empty(*shape_args, device=device).shape == shape
    assert_close(ember.full((2, 2), 1.5, device=device), np.full((2, 2), 1.5, np.float32))
    assert ember.full((2,), 7, device=device).dtype == ember.int64
    assert ember.full((2,), True, device=device).dtype == ember.bool
    assert ember.full((2,), 1.5, dtype=ember.float64, device=device).dtype == ember.float64
    assert ember.zeros(0, 3, device=device).shape == (0, 3)


def test_arange(device):
    t = ember.arange(5, device=device)
    assert t.dtype == ember.int64
    assert t.tolist() == [0, 1, 2, 3, 4]
    assert ember.arange(2, 8, 3, device=device).tolist() == [2, 5]
    assert ember.arange(5, 0, -2, device=device).tolist() == [5, 3, 1]
    f = ember.arange(0, 1, 0.25, device=device)
    assert f.dtype == ember.float32
    assert_close(f, np.arange(0, 1, 0.25, dtype=np.float32))
    assert ember.arange(5.0, device=device).dtype == ember.float32
    assert ember.arange(3, dtype=ember.float64, device=device).dtype == ember.float64
    assert ember.arange(0, device=device).shape == (0,)
    assert ember.arange(0.0, 1.0, 0.1, device=device).shape == (10,)


def test_linspace_eye(device):
    t = ember.linspace(0, 1, 5, device=device)
    assert t.dtype == ember.float32
    assert_close(t, np.linspace(0, 1, 5, dtype=np.float32))
    assert_close(ember.linspace(-1, 1, 1, device=device), np.array([-1.0], np.float32))
    assert_close(ember.linspace(2, 3, 4, dtype=ember.float64, device=device), np.linspace(2, 3, 4))
    assert_close(ember.eye(3, device=device), np.eye(3, dtype=np.float32))
    assert_close(ember.eye(2, 3, device=device), np.eye(2, 3, dtype=np.float32))
    assert ember.eye(2, dtype=ember.int64, device=device).dtype == ember.int64


def test_random_factories(device):
    r = ember.rand(200, device=device)
    assert r.dtype == ember.float32 and r.shape == (200,)
    a = to_np(r)
    assert (a >= 0).all() and (a < 1).all() and 0.3 < a.mean() < 0.7
    n = to_np(ember.randn(4000, device=device))
    assert abs(n.mean()) < 0.1 and 0.9 < n.std() < 1.1
    i = ember.randint(3, 7, (500,), device=device)
    assert i.dtype == ember.int64
    assert set(to_np(i).tolist()) == {3, 4, 5, 6}
    assert ember.randint(5, (2, 3), device=device).shape == (2, 3)
    p = ember.randperm(10, device=device)
    assert p.dtype == ember.int64
    assert sorted(p.tolist()) == list(range(10))
    assert ember.rand(2, 3, dtype=ember.float64, device=device).dtype == ember.float64
    assert ember.randn((2, 3), device=device).shape == (2, 3)


def test_manual_seed_reproducibility(device):
    ember.manual_seed(123)
    a = ember.randn(5, device=device).tolist()
    b = ember.rand(5, device=device).tolist()
    ember.manual_seed(123)
    assert ember.randn(5, device=device).tolist() == a
    assert ember.rand(5, device=device).tolist() == b
    assert ember.initial_seed() == 123
    g = ember.Generator().manual_seed(7)
    x = ember.randn(3, generator=g, device=device).tolist()
    g.manual_seed(7)
    assert ember.randn(3, generator=g, device=device).tolist() == x


def test_like_factories(device):
    base = ember.ones(2, 3, dtype=ember.float64, device=device)
    for fn in (ember.zeros_like, ember.ones_like, ember.empty_like, ember.rand_like, ember.randn_like):
        t = fn(base)
        assert t.shape == (2, 3) and t.dtype == ember.float64
    assert_close(ember.zeros_like(base), np.zeros((2, 3)))
    assert_close(ember.full_like(base, 4.0), np.full((2, 3), 4.0))
    assert ember.ones_like(base, dtype=ember.int64).dtype == ember.int64
    r = ember.randint_like(base, 3)
    assert r.dtype == ember.float64 and (to_np(r) < 3).all()


def test_creation_requires_grad(device):
    for t in [
        ember.zeros(2, requires_grad=True, device=device),
        ember.ones(2, requires_grad=True, device=device),
        ember.randn(2, requires_grad=True, device=device),
        ember.full((2,), 1.0, requires_grad=True, device=device),
    ]:
        assert t.requires_grad and t.is_leaf and t.grad is None


# ------------------------------------------------------------------------------ dtype conversion


def test_dtype_objects():
    assert ember.float is ember.float32 or ember.float == ember.float32
    assert ember.double == ember.float64 and ember.long == ember.int64
    assert ember.half == ember.float16 and ember.int == ember.int32
    assert repr(ember.float32) == "ember.float32"
    assert ember.float32.is_floating_point and not ember.int64.is_floating_point
    assert ember.float64.itemsize == 8 and ember.bfloat16.itemsize == 2


@pytest.mark.parametrize(
    "method,dtype,size",
    [
        ("float", ember.float32, 4),
        ("double", ember.float64, 8),
        ("half", ember.float16, 2),
        ("bfloat16", ember.bfloat16, 2),
        ("long", ember.int64, 8),
        ("int", ember.int32, 4),
        ("bool", ember.bool, 1),
    ],
)
def test_conversion_methods(device, method, dtype, size):
    t = ember.tensor([0.0, 1.5, -2.5], device=device)
    c = getattr(t, method)()
    assert c.dtype == dtype
    assert c.element_size() == size
    assert c.is_floating_point() == (dtype in (ember.float32, ember.float64, ember.float16, ember.bfloat16))
    assert t.to(dtype).dtype == dtype
    assert t.to(dtype=dtype).dtype == dtype
    assert t.type(dtype).dtype == dtype


def test_float_to_int_truncates_and_bool_is_nonzero(device):
    t = ember.tensor([-2.7, -0.5, 0.0, 0.5, 2.7], dtype=ember.float64, device=device)
    assert t.long().tolist() == [-2, 0, 0, 0, 2]
    assert t.int().tolist() == [-2, 0, 0, 0, 2]
    assert t.bool().tolist() == [True, True, False, True, True]
    assert ember.tensor([True, False], device=device).float().tolist() == [1.0, 0.0]


def test_half_rounding_matches_numpy(device, rng):
    x = np.concatenate([rng.normal(size=50) * 100, [65504.0, 1e-8, 3.14159, 70000.0]])
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16)
    h = make(x, device).half()
    np.testing.assert_array_equal(to_np(h), ref)
    np.testing.assert_array_equal(to_np(h.float()), ref.astype(np.float32))


def _bf16_round(x):
    """float32 -> bfloat16 -> float32 with round-to-nearest-even, in NumPy."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounding = 0x7FFF + ((b >> 16) & 1)
    return ((b + rounding) >> 16 << 16).astype(np.uint32).view(np.float32)


def test_bfloat16_rounding(device, rng):
    x = np.concatenate(
        [rng.normal(size=50).astype(np.float32), np.array([1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.0 + 2**-9], np.float32)]
    )
    b = make(x, device).bfloat16()
    assert b.dtype == ember.bfloat16
    np.testing.assert_array_equal(to_np(b), _bf16_round(x))
    # Exact ties go to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
    assert b[50].item() == 1.0
    assert b[51].item() == 1.0 + 2**-6


def test_to_same_dtype_and_device_shares_storage(device):
    t = ember.ones(2, device=device)
    assert t.to(ember.float32).data_ptr() == t.data_ptr()
    assert t.float().data_ptr() == t.data_ptr()
    assert t.to(device).data_ptr() == t.data_ptr()
    c = t.to(ember.float32, copy=True)
    assert c.data_ptr() != t.data_ptr()
    c.add_(1)
    assert t.tolist() == [1.0, 1.0]


def test_to_same_dtype_and_device_returns_self(device):
    t = ember.ones(2, device=device)
    assert t.to(ember.float32) is t
    assert t.to(device) is t
    assert t.float() is t
    assert t.contiguous() is t


def test_tensor_type_string(device):
    assert ember.ones(1, device=device).type() in ("ember.FloatTensor", "torch.FloatTensor")


# --------------------------------------------------------------------------------------- devices


def test_device_objects(device):
    t = ember.ones(2, device=device)
    assert t.device == ember.device(device)
    assert ember.device("cpu").type == "cpu"
    assert str(ember.device("cpu")) == "cpu"
    assert t.cpu().device.type == "cpu"
    assert t.to("cpu").device.type == "cpu"
    assert ember.ones(1, device=ember.device("cpu")).device.type == "cpu"
    assert not ember.ones(1).is_cuda


# ---------------------------------------------------------------------------------- NumPy interop


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = ember.from_numpy(a)
    assert t.dtype == ember.float64 and t.shape == (2, 3)
    a[0, 0] = 100.0
    assert t[0, 0].item() == 100.0
    t[1, 2] = -1.0
    assert a[1, 2] == -1.0
    t.add_(1)
    assert a[0, 0] == 101.0


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_, np.float16])
def test_from_numpy_dtypes(np_dtype):
    a = np.ones((2, 2), dtype=np_dtype)
    t = ember.from_numpy(a)
    assert to_np(t).dtype == np.dtype(np_dtype)


def test_from_numpy_non_contiguous_shares_memory():
    a = np.arange(12.0).reshape(3, 4)
    t = ember.from_numpy(a.T)
    assert t.shape == (4, 3)
    assert t.stride() == (1, 4)
    assert_close(t, a.T)
    a[2, 1] = 50.0
    assert t[1, 2].item() == 50.0
    s = ember.from_numpy(a[:, 1::2])
    assert_close(s, a[:, 1::2])


def test_from_numpy_negative_strides_raise():
    a = np.arange(4.0)[::-1]
    with pytest.raises(ValueError):
        ember.from_numpy(a)


def test_numpy_is_zero_copy_for_contiguous():
    t = ember.zeros(2, 3)
    a = t.numpy()
    assert a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 1] = 5.0
    assert t[0, 1].item() == 5.0
    t.fill_(2.0)
    assert (a == 2.0).all()


def test_numpy_keeps_tensor_memory_alive():
    a = ember.arange(5, dtype=ember.float64).numpy()
    import gc

    gc.collect()
    np.testing.assert_array_equal(a, np.arange(5.0))


def test_numpy_of_detached_and_force():
    t = ember.ones(2, requires_grad=True)
    assert t.detach().numpy().tolist() == [1.0, 1.0]
    assert t.numpy(force=True).tolist() == [1.0, 1.0]


def test_array_protocol():
    t = ember.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(np.asarray(t), [[1, 2], [3, 4]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.array(t.t()).tolist() == [[1, 3], [2, 4]]


def test_item_and_scalar_conversions(device):
    assert ember.tensor(2.5, device=device).item() == 2.5
    assert isinstance(ember.tensor(3, device=device).item(), int)
    assert isinstance(ember.tensor(True, device=device).item(), bool)
    assert ember.tensor([[7]], device=device).item() == 7
    assert float(ember.tensor([1.5], device=device)) == 1.5
    assert [1, 2, 3][ember.tensor(1, device=device)] == 2
    assert bool(ember.tensor([0.0], device=device)) is False


def test_repr_and_size():
    t = ember.tensor([[1.0, 2.0]])
    assert repr(t.shape) == "ember.Size([1, 2])"
    assert isinstance(t.shape, tuple) and t.shape.numel() == 2
    assert repr(ember.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=ember.float64" in repr(ember.tensor([1.0], dtype=ember.float64))
    assert "requires_grad=True" in repr(ember.ones(1, requires_grad=True))
    assert "grad_fn=" in repr(ember.ones(1, requires_grad=True) * 2)


# -------------------------------------------------------------------------------------- pickling


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.int64, ember.int32, ember.bool, ember.float16, ember.bfloat16])
def test_pickle_round_trip(dtype):
    t = ember.tensor([[1, 0, 3], [4, 5, 0]]).to(dtype)
    u = pickle.loads(pickle.dumps(t))
    assert u.dtype == dtype and u.shape == t.shape
    assert (to_np(u) == to_np(t)).all()


def test_pickle_non_contiguous_and_requires_grad():
    base = ember.arange(12, dtype=ember.float64).reshape(3, 4)
    v = base.t()[1:]
    u = pickle.loads(pickle.dumps(v))
    assert_close(u, np.arange(12.0).reshape(3, 4).T[1:])
    r = ember.tensor([1.0, 2.0], requires_grad=True)
    u = pickle.loads(pickle.dumps(r))
    assert u.requires_grad and u.is_leaf and u.tolist() == [1.0, 2.0]


def test_pickle_zero_dim():
    u0 = pickle.loads(pickle.dumps(ember.tensor(5.0)))
    assert u0.shape == () and u0.item() == 5.0


def test_float16_extremes():
    t = ember.tensor([65504.0, 1e5, -1e5, 6e-8], dtype=ember.float16)
    vals = to_np(t)
    assert vals[0] == 65504.0 and vals[1] == np.inf and vals[2] == -np.inf
    assert vals[3] == np.float16(6e-8)


def test_bfloat16_large_range():
    t = ember.tensor([1e38, -3e38], dtype=ember.float32).bfloat16()
    v = to_np(t)
    assert np.isfinite(v).all()
    np.testing.assert_allclose(v, [1e38, -3e38], rtol=1e-2)
    # A float32 NaN stays NaN.
    assert np.isnan(ember.tensor([float("nan")]).bfloat16().float().item())


def test_generator_state_round_trip_replays_the_stream():
    g = ember.Generator().manual_seed(3)
    state = g.get_state()
    first = ember.rand(4, generator=g).tolist()
    g.set_state(state)
    assert ember.rand(4, generator=g).tolist() == first
    assert g.initial_seed() == 3
    with pytest.raises(ValueError, match="set_state"):
        g.set_state(ember.zeros(2))
