"""ember.data: datasets, samplers and the DataLoader, PyTorch's ``torch.utils.data`` for
ember (also importable as ``ember.utils.data``), plus ready-made datasets
(:mod:`ember.data.datasets`) and image transforms (:mod:`ember.data.transforms`).
"""

from ._collate import collate, default_collate, default_convert
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from . import datasets, transforms

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "collate",
    "datasets",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
    "transforms",
]
