"""Adagrad (learning-rate decay, weight decay, initial accumulator, maximize), as ``torch.optim.Adagrad``.

As in PyTorch, each parameter's state (``step`` and the squared-gradient ``sum``) is created
when the optimizer is built, so ``initial_accumulator_value`` is visible before the first step.
"""

from .._functions import full_like
from .._grad_mode import enable_grad, no_grad
from .optimizer import Optimizer


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if lr_decay < 0.0:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if initial_accumulator_value < 0.0:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            st = self.state[p]
            if not st:
                st["step"] = 0
                st["sum"] = full_like(p, group["initial_accumulator_value"])

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                lr, lr_decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = -p.grad if group["maximize"] else p.grad
                    st = self.state[p]
                    st["step"] += 1
                    if wd != 0:
                        grad = grad + p * wd
                    clr = lr / (1 + (st["step"] - 1) * lr_decay)
                    st["sum"].add_(grad * grad)
                    std = st["sum"].sqrt().add_(eps)
                    p.add_(grad / std, alpha=-clr)
        return loss
