"""The method forms of the Python-composed torch functions: ``x.f(...)`` equals ``ember.f(x, ...)``
on both devices, in-place forms write back and bump the version, and native methods win."""

import numpy as np
import pytest

import ember
from ember import _tensor_methods

B = np.array([[1.5, -2.0, 0.25], [3.0, 0.5, -1.0]])
CALLS = {
    "movedim": (0, 1), "moveaxis": (1, 0), "swapaxes": (0, 1), "swapdims": (0, 1), "tile": ((2, 1),),
    "fliplr": (), "flipud": (), "rot90": (1, (0, 1)), "tensor_split": (2, 1), "kron": ("B",), "diag_embed": (),
    "diff": (), "trace": (), "cov": (), "corrcoef": (), "count_nonzero": (), "nansum": (), "nanmean": (),
    "aminmax": (), "cumprod": (1,), "logcumsumexp": (1,), "renorm": (2, 0, 1.0), "logaddexp": ("B",),
    "logaddexp2": ("B",), "exp2": (), "frac": (), "hypot": ("B",), "heaviside": ("B",), "sgn": (),
    "logit": (0.1,), "xlogy": ("B",), "float_power": (2,), "deg2rad": (), "rad2deg": (), "nan_to_num": (),
    "clamp_min": (0.0,), "clamp_max": (0.0,), "addcmul": ("B", "B"), "addcdiv": ("B", "B"), "lerp": ("B", 0.3),
    "square": (), "isposinf": (), "isneginf": (), "signbit": (), "isnan": (), "isinf": (), "isfinite": (),
    "isclose": ("B",), "allclose": ("B",), "equal": ("B",), "lgamma": (), "digamma": (), "erfinv": (),
    "cross": ("B", 1),
}
ONE_ELEMENT = {"is_nonzero"}  # takes a one-element tensor only
SQUARE = {"det"}  # takes square matrices (covered in test_linalg.py)


def _args(args, other):
    return [other if a == "B" else a for a in args]


def _flat(r):
    if isinstance(r, (tuple, list)):
        return [_flat(x) for x in r]
    return r.cpu().numpy() if isinstance(r, ember.Tensor) else r


def test_every_listed_method_is_covered():
    assert set(CALLS) | ONE_ELEMENT | SQUARE == set(_tensor_methods._METHODS)
    assert ember.tensor([2.0]).is_nonzero() is True and ember.tensor(0).is_nonzero() is False


@pytest.mark.parametrize("name", sorted(CALLS))
def test_method_equals_function(name, device):
    x = ember.tensor(B, device=device)
    other = ember.tensor(np.abs(B) + 0.5, device=device)
    args = _args(CALLS[name], other)
    got, want = getattr(x, name)(*args), getattr(ember, name)(x, *args)
    np.testing.assert_equal(_flat(got), _flat(want))


@pytest.mark.parametrize("name", sorted(_tensor_methods._IN_PLACE))
def test_in_place_forms_write_back(name, device):
    x = ember.tensor(np.abs(B) * 0.3 + 0.1, device=device)  # inside logit's domain too
    other = ember.tensor(np.abs(B) + 0.5, device=device)
    args = _args(CALLS[name], other)
    want = getattr(ember, name)(x, *args).cpu().numpy()
    version = x._version
    assert getattr(x, name + "_")(*args) is x
    np.testing.assert_array_equal(x.cpu().numpy(), want)
    assert x._version > version


def test_special_methods_and_native_precedence():
    x = ember.tensor([0.0, 0.5, 2.0])
    import ember.special as special

    np.testing.assert_array_equal(x.erfc().numpy(), special.erfc(x).numpy())
    np.testing.assert_array_equal(x.sinc().numpy(), special.sinc(x).numpy())

    class Native:
        def hypot(self, other):
            return "native"

    _tensor_methods.install(Native, ember)
    assert Native().hypot(None) == "native"  # an existing method is never replaced
    assert hasattr(Native, "movedim") and hasattr(Native, "lerp_")


def test_in_place_on_a_leaf_that_requires_grad_raises():
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        x.square_()


def test_new_tensor_family_and_type_queries(device):
    x = ember.ones(2, 3, dtype=ember.float64, device=device)
    for make, value in ((x.new_zeros, 0.0), (x.new_ones, 1.0)):
        for t in (make(4, 5), make((4, 5))):
            assert t.shape == (4, 5) and t.dtype == ember.float64 and t.device == x.device
            assert (t == value).all().item()
    assert x.new_empty(3).shape == (3,) and x.new_zeros(2, dtype=ember.int64).dtype == ember.int64
    f = x.new_full((2,), 7.5, requires_grad=True)
    assert f.tolist() == [7.5, 7.5] and f.requires_grad and f.dtype == ember.float64
    n = x.new_tensor([1, 2])
    assert n.dtype == ember.float64 and n.device == x.device and n.tolist() == [1.0, 2.0]
    y = ember.ones(2, dtype=ember.int64).type_as(x)
    assert y.dtype == ember.float64 and y.device == x.device
    assert x.nbytes == 48 and x.itemsize == 8 and x.ndimension() == 2 and x.is_complex() is False
    assert x.get_device() == (-1 if device == "cpu" else x.device.index)
    assert x.pin_memory() is x and x.is_pinned() is False


def test_in_place_samplers(device):
    ember.manual_seed(0)
    n = 20000
    t = ember.empty(n, device=device)
    r = ember.empty(n, dtype=ember.int64, device=device).random_(3, 7).cpu().numpy()
    assert r.min() == 3 and r.max() == 6
    b = t.bernoulli_(0.3).cpu().numpy()
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 0.02
    assert abs(t.exponential_(2.0).cpu().numpy().mean() - 0.5) < 0.02
    g = t.geometric_(0.25).cpu().numpy()
    assert g.min() >= 1 and abs(g.mean() - 4.0) < 0.15
    assert abs(np.median(t.log_normal_(0.5, 0.3).cpu().numpy()) - np.exp(0.5)) < 0.05
    assert abs(np.median(t.cauchy_(1.0, 0.5).cpu().numpy()) - 1.0) < 0.05
    with pytest.raises(RuntimeError, match="from=7 >= to=3"):
        t.random_(7, 3)
    with pytest.raises(RuntimeError, match="geometric_"):
        t.geometric_(1.5)


def test_fill_diagonal_and_apply():
    a = ember.zeros(7, 3)
    a.fill_diagonal_(5, wrap=True)
    want = np.zeros((7, 3))
    for r, c in ((0, 0), (1, 1), (2, 2), (4, 0), (5, 1), (6, 2)):
        want[r, c] = 5
    np.testing.assert_array_equal(a.numpy(), want)
    b = ember.zeros(7, 3).fill_diagonal_(5)
    assert b.sum().item() == 15 and b[3:].sum().item() == 0
    c = ember.zeros(3, 3, 3).fill_diagonal_(1)
    assert c.sum().item() == 3 and c[2, 2, 2].item() == 1
    with pytest.raises(RuntimeError, match="equal length"):
        ember.zeros(2, 3, 3).fill_diagonal_(1)
    x = ember.tensor([1.0, 2.0, 3.0])
    assert x.apply_(lambda v: v * 10).tolist() == [10.0, 20.0, 30.0]
    assert x.map_(ember.tensor([1.0, 2.0, 3.0]), lambda a, b: a + b).tolist() == [11.0, 22.0, 33.0]
