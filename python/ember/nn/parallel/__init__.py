"""``ember.nn.parallel``: data-parallel training across processes (PyTorch's
``torch.nn.parallel``)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
