"""RMSprop (smoothing constant, centering, momentum, weight decay, maximize), as ``torch.optim.RMSprop``.

The update is a handful of in-place tensor ops per parameter under ``no_grad``; it follows
PyTorch's single-tensor implementation line by line, so trajectories match to rounding.
"""

from .._functions import zeros_like
from .._grad_mode import enable_grad, no_grad
from .optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *, maximize=False, foreach=None, capturable=False, differentiable=False):
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
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
                wd, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = -p.grad if group["maximize"] else p.grad
                    st = self.state[p]
                    if not st:
                        st["step"] = 0
                        st["square_avg"] = zeros_like(p)
                        if momentum > 0:
                            st["momentum_buffer"] = zeros_like(p)
                        if centered:
                            st["grad_avg"] = zeros_like(p)
                    st["step"] += 1
                    if wd != 0:
                        grad = grad + p * wd
                    square_avg = st["square_avg"]
                    square_avg.mul_(alpha).add_(grad * grad, alpha=1 - alpha)
                    if centered:
                        grad_avg = st["grad_avg"]
                        grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha)
                        avg = (square_avg - grad_avg * grad_avg).sqrt_()
                    else:
                        avg = square_avg.sqrt()
                    avg.add_(eps)
                    if momentum > 0:
                        buf = st["momentum_buffer"]
                        buf.mul_(momentum).add_(grad / avg)
                        p.add_(buf, alpha=-lr)
                    else:
                        p.add_(grad / avg, alpha=-lr)
        return loss
