"""ASGD (averaged SGD: decayed step size ``eta``, averaging weight ``mu`` and the running average
``ax`` of the iterates), as ``torch.optim.ASGD``; written with tensor ops, one update per parameter."""

from .._functions import zeros_like
from ._common import _check_lr, _check_wd, _TensorOpOptimizer


class ASGD(_TensorOpOptimizer):
    """Averaged SGD, as ``torch.optim.ASGD``. State: ``step``, ``eta``, ``mu`` (Python floats)
    and ``ax``, the running average of the parameter once ``step > t0``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility; ember's step is already fused (one vectorised update per parameter, no loop
    over elements), so they choose nothing (``differentiable=True`` is refused)."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None, maximize=False, differentiable=False, capturable=False, fused=None):
        _check_lr(lr)
        _check_wd(weight_decay)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, foreach, fused, capturable, differentiable)

    def _update(self, p, grad, st, group):
        if not st:
            st["step"] = 0
            st["eta"] = float(group["lr"])
            st["mu"] = 1.0
            st["ax"] = zeros_like(p)
        lr, lambd, alpha, t0, wd = group["lr"], group["lambd"], group["alpha"], group["t0"], group["weight_decay"]
        st["step"] = step = float(st["step"]) + 1
        if wd != 0:
            grad = grad.add(p, alpha=wd)
        eta, mu = float(st["eta"]), float(st["mu"])
        p.mul_(1 - lambd * eta)
        p.add_(grad, alpha=-eta)
        ax = st["ax"]
        if mu != 1:
            ax.add_((p - ax).mul_(mu))
        else:
            ax.copy_(p)
        st["eta"] = lr / ((1 + lambd * lr * step) ** alpha)
        st["mu"] = 1 / max(1, step - t0)
