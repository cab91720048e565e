"""Normalisation layers: BatchNorm1d/2d/3d, SyncBatchNorm, InstanceNorm1d/2d/3d, LayerNorm,
RMSNorm, GroupNorm and LocalResponseNorm over the native last-dim normalisation op."""

from .. import _core
from . import functional as F
from .module import Module, Parameter


class _NormBase(Module):
    """The parameters, running-statistics buffers and repr that batch and instance norm share
    (as torch's ``_NormBase``); only their defaults differ, so each subclass keeps its own
    signature and passes the arguments on. ``device`` is accepted and unused, as before."""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats, device, dtype):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(_core.ones(num_features, dtype=dtype))
            self.bias = Parameter(_core.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _core.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", _core.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", _core.tensor(0))
        else:
            self.running_mean = self.running_var = None

    def _step_momentum(self, count_batch):
        """The momentum for this forward pass; when ``count_batch`` (training) and the running
        statistics are tracked, first counts the batch, and momentum=None becomes the
        cumulative moving average over all batches seen. Shared so that BatchNorm and
        SyncBatchNorm's distributed path update the counter the same way."""
        momentum = 0.0 if self.momentum is None else self.momentum
        if count_batch and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.item())
        return momentum

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, track_running_stats={self.track_running_stats}"


class _BatchNorm(_NormBase):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input):
        self._check_input_dim(input)
        use_batch = self.training or not self.track_running_stats
        momentum = self._step_momentum(self.training)
        return F.batch_norm(input, self.running_mean if self.track_running_stats else None, self.running_var if self.track_running_stats else None, self.weight, self.bias, use_batch, momentum, self.eps)


class BatchNorm1d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm3d(_BatchNorm):
    def _check_input_dim(self, input):
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")


def _sync_group(process_group):
    """The process group to synchronise over, or None (not initialised, or one rank)."""
    import sys

    dist = sys.modules.get("ember.distributed")
    if dist is None or not dist.is_initialized():
        return None
    if dist.get_world_size(process_group) <= 1:
        return None
    return dist


class SyncBatchNorm(_BatchNorm):
    """Batch norm whose training statistics are those of the batch over every rank of the
    process group: the per-channel sum, sum of squares and count are all-reduced in the forward
    pass, and the gradients reaching the two sums are all-reduced in the backward pass, so each
    rank's output and gradients equal BatchNorm's over the concatenated batch. Outside an
    initialised ``ember.distributed`` group (or with one rank, or in eval) it is BatchNorm."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")
        use_batch = self.training or not self.track_running_stats
        dist = _sync_group(self.process_group) if use_batch and self.training else None
        if dist is None:
            return super().forward(input)
        # dist is only set in training, so this batch is counted.
        momentum = self._step_momentum(True)
        return _sync_batch_norm(input, self.running_mean if self.track_running_stats else None,
                                self.running_var if self.track_running_stats else None, self.weight, self.bias,
                                momentum, self.eps, dist, self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm*d layer in it replaced by a SyncBatchNorm holding the
        same parameters, buffers and training mode (the module itself if it is one)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group)
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            if module.track_running_stats:
                out.running_mean = module.running_mean
                out.running_var = module.running_var
                out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
            if hasattr(module, "qconfig"):
                out.qconfig = module.qconfig
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


def _sync_batch_norm(input, running_mean, running_var, weight, bias, momentum, eps, dist, group):
    c = input.shape[1]
    shape = [1, c] + [1] * (input.dim() - 2)
    rows = input.transpose(0, 1).reshape(c, -1)
    local = _core.cat([rows.sum(1), (rows * rows).sum(1), _core.full((1,), float(rows.shape[1]), dtype=input.dtype, device=input.device)])
    with _no_grad():
        total = local.detach().clone()
        dist.all_reduce(total, group=group)
    # The global sums with the local ones' gradient path: the reduced values, and in the backward
    # pass the sum over ranks of the gradients reaching them (each rank's loss depends on them).
    stats = local + (total - local).detach()
    if stats.requires_grad:
        def _reduce_grad(grad):
            grad = grad.clone()
            dist.all_reduce(grad, group=group)
            return grad

        stats.register_hook(_reduce_grad)
    count = float(total[2 * c].item())
    if count <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(input.shape)}")
    mean = stats[:c] / count
    var = (stats[c: 2 * c] / count - mean * mean).clamp(min=0.0)
    out = F._normalize_by(input, mean, var, eps, shape)
    if running_mean is not None:
        with _no_grad():
            running_mean.mul_(1 - momentum).add_(mean.detach().to(running_mean.dtype) * momentum)
            running_var.mul_(1 - momentum).add_(var.detach().to(running_var.dtype) * (momentum * count / (count - 1)))
    return F._channel_affine(out, weight, bias, shape)


def _no_grad():
    from ..autograd import no_grad

    return no_grad()


class _InstanceNorm(_NormBase):
    _no_batch_dim = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def _check_input_dim(self, input):
        if input.dim() not in (self._no_batch_dim, self._no_batch_dim + 1):
            raise ValueError(f"expected {self._no_batch_dim}D or {self._no_batch_dim + 1}D input (got {input.dim()}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        feature_dim = input.dim() - self._no_batch_dim
        if input.shape[feature_dim] != self.num_features and self.affine:
            raise ValueError(f"expected input's size at dim={feature_dim} to match num_features ({self.num_features}), but got: {input.shape[feature_dim]}.")
        unbatched = input.dim() == self._no_batch_dim
        x = input.unsqueeze(0) if unbatched else input
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              self.momentum if self.momentum is not None else 0.0, self.eps)
        return out.squeeze(0) if unbatched else out



class InstanceNorm1d(_InstanceNorm):
    _no_batch_dim = 2


class InstanceNorm2d(_InstanceNorm):
    _no_batch_dim = 3


class InstanceNorm3d(_InstanceNorm):
    _no_batch_dim = 4


class LocalResponseNorm(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_core.ones(*self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(_core.zeros(*self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = Parameter(_core.ones(*self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(_core.ones(num_channels, dtype=dtype))
            self.bias = Parameter(_core.zeros(num_channels, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)
