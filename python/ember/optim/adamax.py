"""Adamax: Adam with an infinity-norm second moment, as ``torch.optim.Adamax``."""

from .._functions import zeros_like
from .._grad_mode import enable_grad, no_grad
from .optimizer import Optimizer


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *, maximize=False, differentiable=False, capturable=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize))

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = -p.grad if group["maximize"] else p.grad
                    st = self.state[p]
                    if not st:
                        st["step"] = 0
                        st["exp_avg"] = zeros_like(p)
                        st["exp_inf"] = zeros_like(p)
                    st["step"] += 1
                    if wd != 0:
                        grad = grad + p * wd
                    exp_avg, exp_inf = st["exp_avg"], st["exp_inf"]
                    exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                    exp_inf.mul_(beta2).maximum_(grad.abs().add_(eps))
                    clr = lr / (1 - beta1 ** st["step"])
                    p.add_(exp_avg / exp_inf, alpha=-clr)
        return loss
