"""Shared pieces of the optimizers written with tensor ops (NAdam, RAdam, Adadelta, Rprop, ASGD):
argument checks with PyTorch's messages and the loop over parameters that have a gradient."""

from .._grad_mode import no_grad
from .optimizer import Optimizer, _check_flags


def _check_lr(lr):
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_eps(eps):
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")


def _check_betas(betas):
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")


def _check_wd(weight_decay):
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class _TensorOpOptimizer(Optimizer):
    """An optimizer whose step is written with tensor ops under ``no_grad``: one update per
    parameter (``_update``), vectorised over its elements."""

    def __init__(self, params, defaults, foreach=None, fused=None, capturable=False, differentiable=False):
        _check_flags(foreach, fused, capturable, differentiable)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        raise NotImplementedError

    def step(self, closure=None):
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = p.grad.detach()
                    if group.get("maximize", False):
                        grad = -grad
                    self._update(p, grad, self.state[p], group)
        return loss
