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


# What ``set_printoptions`` changes (PyTorch's defaults: the "default" profile).
_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=float("inf"), edgeitems=3, linewidth=80),
}
_print_options = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print, as ``torch.set_printoptions`` (a profile first, then the given values)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        _print_options.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                       ("linewidth", linewidth)):
        if value is not None:
            _print_options[key] = value
    _print_options["sci_mode"] = sci_mode


def get_printoptions():
    return dict(_print_options)


def _tensor_repr(t):
    import sys

    import numpy as np  # imported on first print, so `import ember` does not pay for NumPy

    host = t.detach().cpu()
    body = np.array2string(
        np.asarray(host.float() if host.dtype.__repr__() == "ember.bfloat16" else host),
        separator=", ",
        prefix="tensor(",
        precision=_print_options["precision"],
        threshold=min(_print_options["threshold"], sys.maxsize),
        edgeitems=_print_options["edgeitems"],
        max_line_width=_print_options["linewidth"],
        suppress_small=_print_options["sci_mode"] is False,
        floatmode="maxprec_equal" if t.is_floating_point() else "maxprec",
        **({"formatter": {"float_kind": lambda v: f"{v:.{_print_options['precision']}e}"}}
           if _print_options["sci_mode"] else {}),
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


