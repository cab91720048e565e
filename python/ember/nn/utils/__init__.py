"""``ember.nn.utils``: gradient clipping, parameter flattening, and the ``rnn``,
``parametrize`` and ``parametrizations`` submodules, as ``torch.nn.utils``."""

import math

from ... import _core
from ...autograd import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters", "rnn", "parametrize", "parametrizations"]


def _params(parameters):
    return [parameters] if isinstance(parameters, _core.Tensor) else list(parameters)


def _nonfinite(norm_type):
    return RuntimeError(
        f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
        "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
        "`error_if_nonfinite=False`")


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all ``tensors`` together, as if concatenated into one vector
    (``None`` entries are skipped). ``foreach`` is accepted for PyTorch compatibility."""
    tensors = [t for t in _params(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return _core.tensor(0.0)
    with no_grad():
        if math.isinf(norm_type):
            total = _core.stack([t.detach().abs().amax().to(tensors[0].device) for t in tensors]).amax()
        else:
            total = _core.stack([t.detach().norm(norm_type).to(tensors[0].device) for t in tensors]).norm(norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise _nonfinite(norm_type)
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scales the gradients by ``min(1, max_norm / (total_norm + 1e-6))`` in place."""
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    t = total_norm.item() if isinstance(total_norm, _core.Tensor) else float(total_norm)
    coef = float(max_norm) / (t + 1e-6)
    if coef < 1 or math.isnan(coef):
        with no_grad():
            for g in grads:
                g.mul_(coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales gradients in place so their joint norm is at most ``max_norm``; returns the
    total norm (before clipping) as a tensor."""
    max_norm, norm_type = float(max_norm), float(norm_type)
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of :func:`clip_grad_norm_`."""
    import warnings

    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _params(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor."""
    return _core.cat([p.reshape(-1) for p in _params(parameters)])


def vector_to_parameters(vec, parameters):
    """Copies consecutive slices of the 1-D ``vec`` into ``parameters`` (inverse of
    :func:`parameters_to_vector`)."""
    if not isinstance(vec, _core.Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    at = 0
    with no_grad():
        for p in _params(parameters):
            n = p.numel()
            p.copy_(vec[at: at + n].reshape(*p.shape))
            at += n


from . import rnn  # noqa: E402
from . import parametrize, parametrizations  # noqa: E402
