"""SGD with momentum, dampening, Nesterov, weight decay and maximize: one fused native call per group."""

from .. import _core
from .._functions import zeros_like
from .optimizer import Optimizer, _check_flags, required


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted for PyTorch
    compatibility: ember's step is already one fused native call per parameter group (see
    ``ember.optim.optimizer._check_flags``).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False, foreach=None, differentiable=False, fused=None, capturable=False):
        _check_flags(foreach, fused, capturable, differentiable)
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            momentum = group["momentum"]
            fresh = [p for p in params if "momentum_buffer" not in self.state[p]]
            stale = [p for p in params if "momentum_buffer" in self.state[p]]
            # First steps seed the buffer with the gradient; the kernel is told which case it has.
            for batch, first in ((fresh, True), (stale, False)):
                if not batch:
                    continue
                bufs = []
                for p in batch:
                    if momentum != 0 and first:
                        self.state[p]["momentum_buffer"] = zeros_like(p)
                    bufs.append(self.state[p].get("momentum_buffer"))
                _core._sgd_step(batch, [p.grad for p in batch], bufs, group["lr"], momentum, group["dampening"], group["nesterov"], group["weight_decay"], group["maximize"], first)
        return loss

