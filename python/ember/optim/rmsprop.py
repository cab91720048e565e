"""RMSprop (smoothing constant, centering, momentum, weight decay, maximize), as ``torch.optim.RMSprop``.

Each step is one fused native call per parameter group that follows PyTorch's single-tensor
implementation element by element, so trajectories match to rounding.
"""

from .. import _core
from .._functions import zeros_like
from .optimizer import Optimizer, _check_flags


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility: ember's step is already one fused native call per parameter group (see
    ``ember.optim.optimizer._check_flags``).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, capturable=False, foreach=None, maximize=False, differentiable=False, *, fused=None):
        _check_flags(foreach, fused, capturable, differentiable)
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if alpha < 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered, maximize=maximize))

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            momentum, centered = group["momentum"], group["centered"]
            for p in params:
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    st["square_avg"] = zeros_like(p)
                # Also when momentum or centering is switched on mid-training (a scheduler
                # cycling momentum): a fresh buffer is zeros, as it would have been at the start.
                if momentum > 0 and "momentum_buffer" not in st:
                    st["momentum_buffer"] = zeros_like(p)
                if centered and "grad_avg" not in st:
                    st["grad_avg"] = zeros_like(p)
                st["step"] += 1
            # The step count does not enter RMSprop's update: one call covers the whole group.
            st = [self.state[p] for p in params]
            _core._rmsprop_step(
                params, [p.grad for p in params], [s["square_avg"] for s in st], [s.get("grad_avg") for s in st],
                [s.get("momentum_buffer") for s in st], group["lr"], group["alpha"], group["eps"],
                group["weight_decay"], momentum, centered, group["maximize"],
            )
        return loss
