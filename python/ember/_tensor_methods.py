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
allclose equal lgamma digamma erfinv cross det
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


# ---- Tensor methods PyTorch programs call that need no native op of their own ----

def _size(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def _like(ember, make):
    """``t.new_zeros(*size, dtype=None, device=None, requires_grad=False)`` and its kin: the
    tensor's dtype and device unless given."""
    def method(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
        t = make(_size(size), dtype=dtype or self.dtype, device=device if device is not None else self.device)
        return t.requires_grad_(True) if requires_grad else t
    return method


def _new_full(ember):
    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
                 pin_memory=False):
        t = ember.full(tuple(size), fill_value, dtype=dtype or self.dtype,
                       device=device if device is not None else self.device)
        return t.requires_grad_(True) if requires_grad else t
    return new_full


def _new_tensor(ember):
    def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
        t = ember.tensor(data, dtype=dtype or self.dtype, device=device if device is not None else self.device)
        return t.requires_grad_(True) if requires_grad else t
    return new_tensor


def _uniform01(ember, t, generator):
    return ember.rand(tuple(t.shape), generator=generator, dtype=t.dtype if t.is_floating_point() else None,
                      device=t.device)


def _random_methods(ember):
    """The in-place samplers of ``torch.Tensor`` (each writes its draws into the tensor)."""
    import math

    def random_(self, from_=0, to=None, *, generator=None, **kwargs):
        from_ = kwargs.pop("from", from_)
        if to is None:  # PyTorch: [0, 2^mantissa] for floats, the dtype's range for ints
            to, from_ = (2 ** 24 + 1 if self.dtype == ember.float32 else 2 ** 53 + 1) if self.is_floating_point() \
                else ember.iinfo(self.dtype).max, from_
        if from_ >= to:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} >= to={to}")
        return self.copy_(ember.randint(from_, to, tuple(self.shape), generator=generator, device=self.device))

    def bernoulli_(self, p=0.5, *, generator=None):
        probs = p if isinstance(p, ember.Tensor) else ember.full(tuple(self.shape), float(p), device=self.device)
        return self.copy_(ember.bernoulli(probs.expand(*self.shape).float(), generator=generator))

    def exponential_(self, lambd=1.0, *, generator=None):
        return self.copy_(-(1 - _uniform01(ember, self, generator)).log() / lambd)

    def geometric_(self, p, *, generator=None):
        if not 0 < p <= 1:
            raise RuntimeError(f"geometric_ expects p to be in (0, 1], but got p={p}")
        u = _uniform01(ember, self, generator)
        return self.copy_(((1 - u).log() / math.log1p(-p)).floor() + 1 if p < 1 else u * 0 + 1)

    def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
        if std <= 0:
            raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
        z = ember.randn(tuple(self.shape), generator=generator, dtype=self.dtype, device=self.device)
        return self.copy_((z * std + mean).exp())

    def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
        angle = math.pi * (_uniform01(ember, self, generator) - 0.5)
        return self.copy_(median + sigma * angle.sin() / angle.cos())

    return {f.__name__: f for f in (random_, bernoulli_, exponential_, geometric_, log_normal_, cauchy_)}


def _fill_diagonal_(self, fill_value, wrap=False):
    """Writes ``fill_value`` on the main diagonal, as ``torch.Tensor.fill_diagonal_``."""
    import ember

    if self.dim() < 2:
        raise RuntimeError("dimensions must larger than 1")
    if self.dim() > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    if self.dim() > 2:
        i = ember.arange(self.shape[0], device=self.device)
        self[(i,) * self.dim()] = fill_value
        return self
    h, w = self.shape
    step = w + 1
    end = h * w if wrap else min(h, w) * w
    flat = ember.arange(0, end, step, device=self.device)
    self[flat // w, flat % w] = fill_value
    return self


def _apply_(self, fn):
    """Calls ``fn`` on every element (a Python loop by definition, as in PyTorch); CPU only."""
    if self.device.type != "cpu":
        raise TypeError("apply_ is only implemented on CPU tensors")
    import ember

    values = [fn(v) for v in self.reshape(-1).tolist()]
    return self.copy_(ember.tensor(values, dtype=self.dtype).reshape(tuple(self.shape)))


def _map_(self, other, fn):
    if self.device.type != "cpu":
        raise TypeError("map_ is only implemented on CPU tensors")
    import ember

    b = other.expand(*self.shape).reshape(-1).tolist()
    values = [fn(a, c) for a, c in zip(self.reshape(-1).tolist(), b)]
    return self.copy_(ember.tensor(values, dtype=self.dtype).reshape(tuple(self.shape)))


def _plain_methods(ember):
    methods = {
        "new_zeros": _like(ember, lambda s, **k: ember.zeros(s, **k)),
        "new_ones": _like(ember, lambda s, **k: ember.ones(s, **k)),
        "new_empty": _like(ember, lambda s, **k: ember.empty(s, **k)),
        "new_full": _new_full(ember),
        "new_tensor": _new_tensor(ember),
        "type_as": lambda self, other: self.to(device=other.device, dtype=other.dtype),
        "ndimension": lambda self: self.dim(),
        "get_device": lambda self: -1 if self.device.type == "cpu" else (self.device.index or 0),
        "is_complex": lambda self: False,  # ember has no complex dtypes yet
        # Pinned host memory speeds CUDA's copies; ember's host->GPU copies need no pinning, so the
        # tensor is already what pin_memory() promises (and DataLoader(pin_memory=True) works).
        "pin_memory": lambda self, device=None: self,
        "is_pinned": lambda self, device=None: False,
        "fill_diagonal_": _fill_diagonal_,
        "apply_": _apply_,
        "map_": _map_,
    }
    methods.update(_random_methods(ember))
    return methods


def install(tensor_class, functions):
    """Adds the missing method forms to ``tensor_class``; ``functions`` is the ember module."""
    for name, method in _plain_methods(functions).items():
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, method)
    for name, get in (("nbytes", lambda self: self.numel() * self.element_size()),
                      ("itemsize", lambda self: self.element_size())):
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, property(get))
    for name in _METHODS:
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, _method(getattr(functions, name)))
    for name in _IN_PLACE:
        if not hasattr(tensor_class, name + "_"):
            setattr(tensor_class, name + "_", _in_place(getattr(functions, name)))
    for name in _SPECIAL:
        if not hasattr(tensor_class, name):
            setattr(tensor_class, name, _special(name))
