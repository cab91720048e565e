"""Tensor method forms of the torch-level functions composed in Python (``x.hypot(y)`` for
``ember.hypot(x, y)``, ``x.lerp_(end, w)`` in place), installed on the native Tensor class at
import and only where the core has no method of that name, so a native one always wins. They
keep PyTorch code that calls these as methods running until the ops join the op table."""

import importlib

# Functions whose first argument is the tensor (torch's method takes the same arguments after it).
_METHODS = """
movedim moveaxis swapaxes swapdims tile fliplr flipud rot90 tensor_split kron diag_embed diff trace
cov corrcoef count_nonzero nansum nanmean aminmax cumprod logcumsumexp renorm logaddexp logaddexp2
exp2 frac hypot heaviside sgn logit xlogy float_power deg2rad rad2deg nan_to_num clamp_min clamp_max
addcmul addcdiv lerp square isposinf isneginf signbit is_nonzero isnan isinf isfinite isclose
allclose equal lgamma digamma erfinv
""".split()
# In-place forms: the function's result written back into the tensor (its version bumps, and
# autograd refuses a leaf that requires grad, as for any in-place op).
_IN_PLACE = """
addcmul addcdiv lerp clamp_min clamp_max nan_to_num renorm cumprod hypot logit xlogy exp2 frac sgn
deg2rad rad2deg square float_power
""".split()
# Those that live in ember.special (imported on first call, as the module itself is).
_SPECIAL = ["erfc", "sinc"]


def _method(fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _in_place(fn):
    def method(self, *args, **kwargs):
        return self.copy_(fn(self, *args, **kwargs))

    method.__name__ = fn.__name__ + "_"
    return method


def _special(name):
    def method(self, *args, **kwargs):
        return getattr(importlib.import_module("ember.special"), name)(self, *args, **kwargs)

    method.__name__ = name
    return method


def install(tensor_class, functions):
    """Adds the missing method forms to ``tensor_class``; ``functions`` is the ember module."""
    for name in _METHODS:
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, _method(getattr(functions, name)))
    for name in _IN_PLACE:
        if not hasattr(tensor_class, name + "_"):
            setattr(tensor_class, name + "_", _in_place(getattr(functions, name)))
    for name in _SPECIAL:
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, _special(name))
