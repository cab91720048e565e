"""Adagrad (learning-rate decay, weight decay, initial accumulator, maximize), as ``torch.optim.Adagrad``,
with one fused native call per parameter group (per distinct step count).

As in PyTorch, each parameter's state (``step`` and the squared-gradient ``sum``) is created
when the optimizer is built, so ``initial_accumulator_value`` is visible before the first step.
"""

from .. import _core
from .._functions import full_like
from .optimizer import Optimizer, _check_flags


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility: ember's step is already one fused native call per parameter group (see
    ``ember.optim.optimizer._check_flags``).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None, capturable=False):
        _check_flags(foreach, fused, capturable, differentiable)
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
            self._init_state(p, group)

    def _init_state(self, p, group):
        st = self.state[p]
        if not st:
            st["step"] = 0
            st["sum"] = full_like(p, group["initial_accumulator_value"])

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            by_step = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                # A state dict that left this parameter out: start it afresh, as at construction.
                self._init_state(p, group)
                st = self.state[p]
                st["step"] += 1
                by_step.setdefault(st["step"], []).append(p)
            # The decayed learning rate depends on each parameter's own step count.
            for step, batch in by_step.items():
                _core._adagrad_step(
                    batch, [p.grad for p in batch], [self.state[p]["sum"] for p in batch], step, group["lr"],
                    group["lr_decay"], group["weight_decay"], group["eps"], group["maximize"],
                )
        return loss
