"""RAdam (Adam with a rectified adaptive learning rate, optional decoupled weight decay), as
``torch.optim.RAdam``; written with tensor ops, one update per parameter."""

import math

from .._functions import zeros_like
from ._common import _check_betas, _check_eps, _check_lr, _check_wd, _TensorOpOptimizer


class RAdam(_TensorOpOptimizer):
    """RAdam, as ``torch.optim.RAdam``: Adam whose adaptive step is switched on, and rectified,
    once the variance estimate is reliable (rho_t > 5); ``decoupled_weight_decay`` gives
    RAdamW-style decay. State: ``step``, ``exp_avg``, ``exp_avg_sq``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility; ember's step is already fused (one vectorised update per parameter, no loop
    over elements), so they choose nothing (``differentiable=True`` is refused)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False, differentiable=False, fused=None):
        _check_lr(lr)
        _check_eps(eps)
        _check_betas(betas)
        _check_wd(weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults, foreach, fused, capturable, differentiable)

    def _update(self, p, grad, st, group):
        if not st:
            st["step"] = 0
            st["exp_avg"] = zeros_like(p)
            st["exp_avg_sq"] = zeros_like(p)
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        st["step"] = step = float(st["step"]) + 1
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                grad = grad.add(p, alpha=wd)
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).add_(grad * grad, alpha=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        corrected = exp_avg / bias_correction1
        # The maximum and the current length of the approximated simple moving average.
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = math.sqrt(bias_correction2) / exp_avg_sq.sqrt().add_(eps)
            p.sub_(corrected * adaptive * (lr * rect))
        else:
            p.sub_(corrected * lr)
