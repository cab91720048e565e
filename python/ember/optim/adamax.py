"""Adamax: Adam with an infinity-norm second moment, as ``torch.optim.Adamax``; one fused native
call per parameter group (per distinct step count)."""

from .. import _core
from .._functions import zeros_like
from .adam import _check
from .optimizer import Optimizer, _check_flags


class Adamax(Optimizer):
    """Adamax, as ``torch.optim.Adamax``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility: ember's step is already one fused native call per parameter group (see
    ``ember.optim.optimizer._check_flags``).
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *, maximize=False, differentiable=False, capturable=False, fused=None):
        _check(lr, betas, eps, weight_decay)
        _check_flags(foreach, fused, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize))

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            by_step = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["exp_avg"] = zeros_like(p)
                    st["exp_inf"] = zeros_like(p)
                st["step"] += 1
                by_step.setdefault(st["step"], []).append(p)
            beta1, beta2 = group["betas"]
            # Parameters that joined later have their own step count (bias correction): one call per count.
            for step, batch in by_step.items():
                st = [self.state[p] for p in batch]
                _core._adamax_step(
                    batch, [p.grad for p in batch], [s["exp_avg"] for s in st], [s["exp_inf"] for s in st], step,
                    group["lr"], beta1, beta2, group["eps"], group["weight_decay"], group["maximize"],
                )
        return loss
