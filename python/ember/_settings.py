"""Process-wide settings PyTorch programs set at the top: deterministic algorithms, float32
matmul precision, and ``ember.compile`` (which runs the model as it is until ember's compiler
lands, as ``torch.compile(backend="eager")`` does)."""

import functools

_deterministic = {"mode": False, "warn_only": False}
_matmul_precision = ["highest"]


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Accepted as in PyTorch. ember's kernels are deterministic already: the CPU's reductions
    split work the same way every run and the GPU's kernels use no atomics for floats."""
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms expects a bool, but got {type(mode).__name__}")
    _deterministic.update(mode=mode, warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled():
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic["warn_only"]


def set_float32_matmul_precision(precision):
    """'highest', 'high' or 'medium', as PyTorch. ember's float32 matmuls always accumulate in
    float32 (no TF32 or bfloat16 shortcut), which is what 'highest' promises."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid float32 matmul precision {precision!r}: expected 'highest', 'high' or 'medium'")
    _matmul_precision[0] = precision


def get_float32_matmul_precision():
    return _matmul_precision[0]


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None,
            disable=False):
    """``torch.compile``'s signature; the model (or function) runs as it is, eagerly, as under
    PyTorch's ``backend="eager"``: ember's graph compiler is not there yet. Usable bare or as a
    decorator (``@ember.compile`` and ``@ember.compile(mode=...)``)."""
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                 options=options, disable=disable)
    if not callable(model):
        raise RuntimeError(f"ember.compile expects a callable (a Module or a function), got {type(model).__name__}")
    return model
