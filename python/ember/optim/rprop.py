"""Rprop (resilient backpropagation: per-element step sizes grown by ``etas[1]`` while the gradient
keeps its sign and shrunk by ``etas[0]`` when it flips, clamped to ``step_sizes``), as
``torch.optim.Rprop``; written with tensor ops, one update per parameter."""

from .. import _core
from .._functions import full_like, ones_like, zeros_like
from ._common import _check_lr, _TensorOpOptimizer


class Rprop(_TensorOpOptimizer):
    """Rprop, as ``torch.optim.Rprop``: ``etas=(etaminus, etaplus)`` shrink/grow each element's
    step size, kept within ``step_sizes=(min, max)``. State: ``step``, ``prev``, ``step_size``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility; ember's step is already fused (one vectorised update per parameter, no loop
    over elements), so they choose nothing (``differentiable=True`` is refused)."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize)
        super().__init__(params, defaults, foreach, fused, capturable, differentiable)

    def _update(self, p, grad, st, group):
        if not st:
            st["step"] = 0
            st["prev"] = zeros_like(p)
            st["step_size"] = full_like(p, group["lr"])
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        st["step"] = float(st["step"]) + 1
        prev, step_size = st["prev"], st["step_size"]
        sign = (grad * prev).sign()
        factor = _core.where(sign > 0, etaplus, _core.where(sign < 0, etaminus, ones_like(sign)))
        step_size.mul_(factor).clamp_(lo, hi)
        # Where the sign flipped the step is skipped and the stored gradient zeroed, so the
        # next step neither grows nor shrinks that element.
        grad = _core.where(sign < 0, 0.0, grad)
        p.sub_(grad.sign() * step_size)
        prev.copy_(grad)
