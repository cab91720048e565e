"""Small Python-side pieces the native Tensor calls back into: Size, repr, pickling, NumPy export."""


class Size(tuple):
    """A tensor's shape: a tuple that prints like ``ember.Size([2, 3])``."""

    def __repr__(self):
        return f"ember.Size({list(self)!r})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class _ArrayHolder:
    """Carries a tensor's ``__array_interface__`` so ``np.asarray`` views its memory zero-copy."""

    __slots__ = ("__array_interface__", "_tensor")

    def __init__(self, t):
        self._tensor = t
        self.__array_interface__ = t.__array_interface__


def _dtype_from_name(name):
    import ember

    return getattr(ember, name)


def _rebuild_tensor(array, dtype_name, requires_grad):
    import ember

    t = ember.tensor(array).to(_dtype_from_name(dtype_name))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _tensor_repr(t):
    import numpy as np  # imported on first print, so `import ember` does not pay for NumPy

    host = t.detach().cpu()
    body = np.array2string(
        np.asarray(host.float() if host.dtype.__repr__() == "ember.bfloat16" else host),
        separator=", ",
        prefix="tensor(",
        precision=4,
        floatmode="maxprec_equal" if t.is_floating_point() else "maxprec",
    )
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    default = {"ember.float32", "ember.int64", "ember.bool"}
    if repr(t.dtype) not in default or t.numel() == 0:
        extras.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn={t.grad_fn}")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    tail = "".join(", " + e for e in extras)
    return f"tensor({body}{tail})"


