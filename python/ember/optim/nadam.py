"""NAdam (Adam with Nesterov momentum, momentum-decay schedule ``mu_t``, optional decoupled weight
decay), as ``torch.optim.NAdam``; written with tensor ops, one update per parameter."""

from .._functions import zeros_like
from ._common import _check_betas, _check_eps, _check_lr, _check_wd, _TensorOpOptimizer


class NAdam(_TensorOpOptimizer):
    """NAdam, as ``torch.optim.NAdam``: Adam with Nesterov momentum and the momentum schedule
    ``mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))``; ``decoupled_weight_decay`` gives
    NAdamW-style decay. State: ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility; ember's step is already fused (one vectorised update per parameter, no loop
    over elements), so they choose nothing (``differentiable=True`` is refused)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False, differentiable=False, fused=None):
        _check_lr(lr)
        _check_eps(eps)
        _check_betas(betas)
        _check_wd(weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults, foreach, fused, capturable, differentiable)

    def _update(self, p, grad, st, group):
        if not st:
            st["step"] = 0
            st["mu_product"] = 1.0
            st["exp_avg"] = zeros_like(p)
            st["exp_avg_sq"] = zeros_like(p)
        lr, (beta1, beta2), eps, wd, psi = group["lr"], group["betas"], group["eps"], group["weight_decay"], group["momentum_decay"]
        st["step"] = step = float(st["step"]) + 1
        bias_correction2 = 1 - beta2**step
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                grad = grad.add(p, alpha=wd)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        st["mu_product"] = mu_product = float(st["mu_product"]) * mu
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).add_(grad * grad, alpha=1 - beta2)
        denom = (exp_avg_sq / bias_correction2).sqrt().add_(eps)
        mu_product_next = mu_product * mu_next
        p.add_(grad / denom, alpha=-lr * (1.0 - mu) / (1.0 - mu_product))
        p.add_(exp_avg / denom, alpha=-lr * mu_next / (1.0 - mu_product_next))
