"""Stochastic weight averaging and exponential moving averages of a model's weights, as
``torch.optim.swa_utils``: ``AveragedModel`` (a running average of a model's parameters, and
optionally its buffers), the averaging-function factories, ``SWALR`` (anneals each group's lr to
a constant SWA rate) and ``update_bn`` (recomputes BatchNorm statistics for averaged weights)."""

import copy
import itertools
import math

from .. import _core
from .._grad_mode import no_grad
from ..nn.module import Module
from .lr_scheduler import LRScheduler, _format_param

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"]


def get_ema_multi_avg_fn(decay=0.999):
    """In-place EMA over lists of tensors: ``avg = decay * avg + (1 - decay) * current``."""

    def ema_update(ema_param_list, current_param_list, _num_averaged):
        for p_ema, p_model in zip(ema_param_list, current_param_list):
            p_ema.mul_(decay).add_(p_model.to(p_ema.dtype), alpha=1 - decay)

    return ema_update


def get_swa_multi_avg_fn():
    """In-place running mean over lists of tensors: ``avg += (current - avg) / (n + 1)``."""

    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = float(num_averaged.item()) if isinstance(num_averaged, _core.Tensor) else float(num_averaged)
        for p_avg, p_model in zip(averaged_param_list, current_param_list):
            p_avg.add_((p_model.to(p_avg.dtype) - p_avg) / (n + 1))

    return swa_update


def get_ema_avg_fn(decay=0.999):
    """EMA of one tensor, returned: ``decay * avg + (1 - decay) * current``."""

    def ema_update(ema_param, current_param, num_averaged):
        return ema_param * decay + current_param * (1 - decay)

    return ema_update


def get_swa_avg_fn():
    """Running mean of one tensor, returned: ``avg + (current - avg) / (n + 1)``."""

    def swa_update(averaged_param, current_param, num_averaged):
        n = float(num_averaged.item()) if isinstance(num_averaged, _core.Tensor) else float(num_averaged)
        return averaged_param + (current_param - averaged_param) / (n + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are the running average (equal weights by default;
    ``avg_fn(averaged, current, n)`` returns a new value per tensor, ``multi_avg_fn(averaged_list,
    current_list, n)`` updates lists in place) of the models passed to ``update_parameters``.
    With ``use_buffers`` the buffers are averaged too; otherwise they are copied from the model.
    ``n_averaged`` counts the updates (a buffer, so it is saved with the state dict)."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        n = _core.tensor(0).long()
        self.register_buffer("n_averaged", n.to(device) if device is not None else n)
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model):
        mine = itertools.chain(self.module.parameters(), self.module.buffers()) if self.use_buffers else self.parameters()
        theirs = itertools.chain(model.parameters(), model.buffers()) if self.use_buffers else model.parameters()
        mine, theirs = [p.detach() for p in mine], [p.detach() for p in theirs]
        first = int(self.n_averaged.item()) == 0
        with no_grad():
            if first:
                for p_avg, p_model in zip(mine, theirs):
                    p_avg.copy_(p_model.to(p_avg.device).to(p_avg.dtype))
            elif self.avg_fn is not None:
                for p_avg, p_model in zip(mine, theirs):
                    n = self.n_averaged.to(p_avg.device)
                    p_avg.copy_(self.avg_fn(p_avg, p_model.to(p_avg.device), n).to(p_avg.dtype))
            elif self.multi_avg_fn is not None:
                # One call per device and dtype, as PyTorch groups the tensors.
                groups = {}
                for p_avg, p_model in zip(mine, theirs):
                    la, lb = groups.setdefault((str(p_avg.device), str(p_avg.dtype)), ([], []))
                    la.append(p_avg)
                    lb.append(p_model.to(p_avg.device))
                for la, lb in groups.values():
                    self.multi_avg_fn(la, lb, self.n_averaged.to(la[0].device))
            else:
                # The running mean; an integer buffer (num_batches_tracked, with use_buffers)
                # takes the mean computed in floating point, truncated, as in PyTorch.
                avg_fn = get_swa_avg_fn()
                for p_avg, p_model in zip(mine, theirs):
                    n = self.n_averaged.to(p_avg.device)
                    if p_avg.is_floating_point():
                        p_avg.copy_(avg_fn(p_avg, p_model.to(p_avg.device), n))
                    else:
                        p_avg.copy_(avg_fn(p_avg.double(), p_model.to(p_avg.device).double(), n).to(p_avg.dtype))
            if not self.use_buffers:
                # Buffers follow the model; update_bn recomputes BatchNorm statistics if wanted.
                for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                    b_swa.copy_(b_model.detach().to(b_swa.device).to(b_swa.dtype))
            self.n_averaged.add_(1)


def _is_batchnorm(m):
    from ..nn.norm import _BatchNorm

    return isinstance(m, _BatchNorm)


def _reset_running_stats(bn):
    if hasattr(bn, "reset_running_stats"):
        bn.reset_running_stats()
        return
    if bn.track_running_stats:
        with no_grad():
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.num_batches_tracked.zero_()


def update_bn(loader, model, device=None):
    """Recomputes the BatchNorm running statistics of ``model`` with one pass over ``loader``:
    each BatchNorm's statistics are reset and accumulated as a cumulative average
    (``momentum=None``) over the batches, in training mode; the modes and momenta are restored
    after. A batch that is a list or tuple contributes its first element."""
    momenta = {}
    for module in model.modules():
        if _is_batchnorm(module):
            _reset_running_stats(module)
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for input in loader:
        if isinstance(input, (list, tuple)):
            input = input[0]
        if device is not None:
            input = input.to(device)
        model(input)
    for module, m in momenta.items():
        module.momentum = m
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each group's lr from its current value to ``swa_lr`` over ``anneal_epochs`` steps
    ("cos" or "linear"), then holds it there."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        swa_lrs = _format_param("swa_lr", optimizer, swa_lr)
        for lr, g in zip(swa_lrs, optimizer.param_groups):
            g["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must by one of 'cos' or 'linear', instead got {anneal_strategy}")
        self.anneal_strategy = anneal_strategy
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t):
        return t if self.anneal_strategy == "linear" else (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(self.optimizer.param_groups, prev_lrs)]
