"""``ember.nn.utils``: gradient clipping and parameter flattening."""

import math

from ... import _core
from ...autograd import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _params(parameters):
    return [parameters] if isinstance(parameters, _core.Tensor) else list(parameters)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales gradients in place so their joint norm is at most ``max_norm``; returns the norm."""
    max_norm, norm_type = float(max_norm), float(norm_type)
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return _core.tensor(0.0)
    if math.isinf(norm_type):
        total = _core.stack([g.detach().abs().amax() for g in grads]).amax()
    else:
        total = _core.stack([g.detach().norm(norm_type) for g in grads]).norm(norm_type)
    t = total.item()
    if error_if_nonfinite and not math.isfinite(t):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be clipped.")
    coef = max_norm / (t + 1e-6)
    if coef < 1:
        with no_grad():
            for g in grads:
                g.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value):
    with no_grad():
        for p in _params(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters):
    return _core.cat([p.reshape(-1) for p in _params(parameters)])


def vector_to_parameters(vec, parameters):
    at = 0
    with no_grad():
        for p in _params(parameters):
            n = p.numel()
            p.copy_(vec[at: at + n].reshape(*p.shape))
            at += n
