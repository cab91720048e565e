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
}
ONE_ELEMENT = {"is_nonzero"}  # takes a one-element tensor only


def _args(args, other):
    return [other if a == "B" else a for a in args]


def _flat(r):
    if isinstance(r, (tuple, list)):
        return [_flat(x) for x in r]
    return r.cpu().numpy() if isinstance(r, ember.Tensor) else r


def test_every_listed_method_is_covered():
    assert set(CALLS) | ONE_ELEMENT == set(_tensor_methods._METHODS)
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
