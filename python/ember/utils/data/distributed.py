"""``torch.utils.data.distributed``: the DistributedSampler, under PyTorch's module path."""

from ember.data.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
