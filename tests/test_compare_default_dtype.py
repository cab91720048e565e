"""set_default_dtype/get_default_dtype, equal, allclose, isclose, isnan/isinf/isfinite,
against NumPy on every device."""

import numpy as np
import pytest

import ember
from ember import nn


@pytest.fixture
def float64_default():
    ember.set_default_dtype(ember.float64)
    try:
        yield
    finally:
        ember.set_default_dtype(ember.float32)


def test_default_dtype_reaches_every_factory(device, float64_default):
    assert ember.get_default_dtype() == ember.float64
    made = [
        ember.tensor([1.5]), ember.tensor([]), ember.zeros(2, device=device), ember.ones(2, device=device),
        ember.empty(2), ember.full((2,), 1.5), ember.rand(2), ember.randn(2), ember.arange(0.0, 1.0, 0.5),
        ember.linspace(0, 1, 3), ember.eye(2), ember.arange(3) / 2, ember.arange(3) * 1.5,
        ember.arange(4).sqrt(), ember.Tensor(2, 3), nn.Linear(2, 2).weight,
    ]
    assert [t.dtype for t in made] == [ember.float64] * len(made)
    # integers and explicit dtypes are unaffected
    assert ember.tensor([1, 2]).dtype == ember.int64 and ember.arange(3).dtype == ember.int64
    assert ember.zeros(2, dtype=ember.float32).dtype == ember.float32


def test_default_dtype_is_float32_and_rejects_non_floats():
    assert ember.get_default_dtype() == ember.float32
    assert ember.tensor([0.5]).dtype == ember.float32
    with pytest.raises(TypeError, match="floating-point"):
        ember.set_default_dtype(ember.int64)
    assert ember.get_default_dtype() == ember.float32


VALUES = [1.0, -2.0, float("inf"), float("-inf"), float("nan"), 1e-9, 0.0, 3.0]


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_isclose_matches_numpy(device, dtype):
    a = np.array(VALUES)
    b = np.array([1.0 + 1e-6, -2.1, float("inf"), float("inf"), float("nan"), 0.0, -0.0, 3.0 + 3e-5])
    npdt = np.float32 if dtype == ember.float32 else np.float64
    a, b = a.astype(npdt), b.astype(npdt)
    ta, tb = ember.tensor(a, dtype=dtype, device=device), ember.tensor(b, dtype=dtype, device=device)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0, "atol": 1e-8}, {"rtol": 1e-2, "atol": 0}):
        got = ember.isclose(ta, tb, **kw)
        assert got.device == ta.device
        np.testing.assert_array_equal(got.cpu().numpy(), np.isclose(a, b, **kw), err_msg=str(kw))
        assert ember.allclose(ta, tb, **kw) == np.allclose(a, b, **kw)
    assert ember.allclose(ta[:2], ta[:2] * (1 + 1e-7))
    assert not ember.allclose(ta[:2], ta[:2] + 1)


def test_isnan_isinf_isfinite(device):
    a = np.array(VALUES)
    t = ember.tensor(a, device=device)
    np.testing.assert_array_equal(ember.isnan(t).cpu().numpy(), np.isnan(a))
    np.testing.assert_array_equal(ember.isinf(t).cpu().numpy(), np.isinf(a))
    np.testing.assert_array_equal(ember.isfinite(t).cpu().numpy(), np.isfinite(a))
    i = ember.arange(3, device=device)
    assert ember.isfinite(i).all() and not ember.isnan(i).any() and not ember.isinf(i).any()


def test_equal(device):
    a = ember.arange(6.0, device=device).reshape(2, 3)
    assert ember.equal(a, a.clone())
    assert ember.equal(a.t(), a.t().contiguous())
    assert not ember.equal(a, a.reshape(3, 2))
    b = a.clone()
    b[1, 2] = 0.5
    assert not ember.equal(a, b)
    assert ember.isclose(ember.arange(3, device=device), ember.arange(3, device=device)).all()


def test_compare_errors(device):
    a = ember.ones(2, device=device)
    with pytest.raises(RuntimeError, match="float64"):
        ember.isclose(a, ember.ones(2, dtype=ember.float64, device=device))
    with pytest.raises(RuntimeError, match="non-negative"):
        ember.isclose(a, a, rtol=-1)
    if device != "cpu":
        with pytest.raises(RuntimeError, match="same device"):
            ember.equal(a, ember.ones(2))
