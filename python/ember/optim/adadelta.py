"""Adadelta, as ``torch.optim.Adadelta``; written with tensor ops, one update per parameter."""

from .._functions import zeros_like
from ._common import _check_eps, _check_lr, _check_wd, _TensorOpOptimizer


class Adadelta(_TensorOpOptimizer):
    """Adadelta, as ``torch.optim.Adadelta``. State: ``step``, ``square_avg``, ``acc_delta``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility; ember's step is already fused (one vectorised update per parameter, no loop
    over elements), so they choose nothing (``differentiable=True`` is refused)."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_eps(eps)
        _check_wd(weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, foreach, fused, capturable, differentiable)

    def _update(self, p, grad, st, group):
        if not st:
            st["step"] = 0
            st["square_avg"] = zeros_like(p)
            st["acc_delta"] = zeros_like(p)
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        st["step"] = float(st["step"]) + 1
        if wd != 0:
            grad = grad.add(p, alpha=wd)
        square_avg, acc_delta = st["square_avg"], st["acc_delta"]
        square_avg.mul_(rho).add_(grad * grad, alpha=1 - rho)
        std = (square_avg + eps).sqrt_()
        delta = (acc_delta + eps).sqrt_().div_(std).mul_(grad)
        acc_delta.mul_(rho).add_(delta * delta, alpha=1 - rho)
        p.add_(delta, alpha=-lr)
