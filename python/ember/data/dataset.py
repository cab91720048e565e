"""Dataset abstractions: the map-style and iterable-style protocols a DataLoader consumes,
and the small combinators built on them (TensorDataset, Subset, ConcatDataset, ...).

Mirrors ``torch.utils.data.dataset``: same classes, arguments and error messages.
"""

import bisect
import itertools
import math
import warnings

import ember

__all__ = [
    "Dataset",
    "IterableDataset",
    "TensorDataset",
    "StackDataset",
    "ConcatDataset",
    "ChainDataset",
    "Subset",
    "random_split",
]


class Dataset:
    """A map-style dataset: anything with ``__getitem__(index)`` (and usually ``__len__``).

    Subclasses may also define ``__getitems__(indices)`` to fetch a whole batch at once;
    the DataLoader then calls it instead of ``__getitem__`` once per sample.
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])

    # No default __len__: a Dataset without one is legal (e.g. with a custom sampler), and a
    # default that raised would make ``len(ds)`` look supported to hasattr-style checks.


class IterableDataset(Dataset):
    """An iterable-style dataset: samples come from ``__iter__``, not from indices.

    With ``num_workers > 0`` every worker process iterates its own copy of the dataset; use
    :func:`ember.data.get_worker_info` inside ``__iter__`` to give each worker its own shard,
    otherwise every sample is produced once per worker (exactly as in PyTorch, and without a
    warning). Under :mod:`ember.distributed`, split over ranks too, so that every element is
    seen once across ranks x workers::

        class Stream(IterableDataset):
            def __iter__(self):
                rank, world = 0, 1
                if ember.distributed.is_initialized():
                    rank, world = ember.distributed.get_rank(), ember.distributed.get_world_size()
                info = get_worker_info()
                worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
                shard, shards = rank * workers + worker, world * workers
                return itertools.islice(self.source(), shard, None, shards)

    Forked workers (the default on Linux) inherit the process group; ``spawn`` and
    ``forkserver`` workers do not, so read the rank in ``__init__`` there instead.
    """

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        return ChainDataset([self, other])


def _first_dim(t):
    return t.shape[0]


class TensorDataset(Dataset):
    """Dataset wrapping tensors; sample ``i`` is ``tuple(t[i] for t in tensors)``.

    All tensors must have the same size in their first dimension.
    """

    def __init__(self, *tensors):
        # torch uses a bare assert here; raise AssertionError explicitly so that ``python -O``
        # cannot silently drop the check.
        if not all(_first_dim(tensors[0]) == _first_dim(t) for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return _first_dim(self.tensors[0])


class StackDataset(Dataset):
    """Zips datasets of equal length: ``StackDataset(a, b)[i] == (a[i], b[i])`` and
    ``StackDataset(x=a, y=b)[i] == {"x": a[i], "y": b[i]}``."""

    def __init__(self, *args, **kwargs):
        if args:
            if kwargs:
                raise ValueError(
                    "Supported either ``tuple``- (via ``args``) or"
                    "``dict``- (via ``kwargs``) like input/output, but both types are given."
                )
            self._length = len(args[0])
            if any(self._length != len(dataset) for dataset in args):
                raise ValueError("Size mismatch between datasets")
            self.datasets = args
        elif kwargs:
            tmp = list(kwargs.values())
            self._length = len(tmp[0])
            if any(self._length != len(dataset) for dataset in tmp):
                raise ValueError("Size mismatch between datasets")
            self.datasets = kwargs
        else:
            raise ValueError("At least one dataset should be passed")

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: dataset[index] for k, dataset in self.datasets.items()}
        return tuple(dataset[index] for dataset in self.datasets)

    def __getitems__(self, indices):
        # Batch fetch: use each member's own __getitems__ when it has one.
        def fetch(dataset):
            if callable(getattr(dataset, "__getitems__", None)):
                items = dataset.__getitems__(indices)
                if len(items) != len(indices):
                    raise ValueError(
                        "Nested dataset's output size mismatch."
                        f" Expected {len(indices)}, got {len(items)}"
                    )
                return items
            return [dataset[idx] for idx in indices]

        if isinstance(self.datasets, dict):
            columns = {k: fetch(d) for k, d in self.datasets.items()}
            return [{k: col[i] for k, col in columns.items()} for i in range(len(indices))]
        columns = [fetch(d) for d in self.datasets]
        return [tuple(col[i] for col in columns) for i in range(len(indices))]

    def __len__(self):
        return self._length


class ConcatDataset(Dataset):
    """Concatenation of map-style datasets: indices run through each dataset in turn."""

    @staticmethod
    def cumsum(sequence):
        r, s = [], 0
        for e in sequence:
            s += len(e)
            r.append(s)
        return r

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        if dataset_idx == 0:
            sample_idx = idx
        else:
            sample_idx = idx - self.cumulative_sizes[dataset_idx - 1]
        return self.datasets[dataset_idx][sample_idx]


class ChainDataset(IterableDataset):
    """Chains iterable datasets: iterates each one to exhaustion, in order."""

    def __init__(self, datasets):
        super().__init__()
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        # Forward batch fetches so a wrapped dataset's fast __getitems__ is not lost.
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[idx] for idx in indices])
        return [self.dataset[self.indices[idx]] for idx in indices]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Randomly split ``dataset`` into non-overlapping :class:`Subset` s.

    ``lengths`` are either sample counts that add up to ``len(dataset)``, or fractions that
    add up to 1; with fractions, each split gets ``floor(frac * len(dataset))`` samples and
    the remainder is handed out one at a time, round-robin, from the first split on.
    ``generator`` (an ``ember.Generator``) makes the split reproducible; by default ember's
    global generator is used, like torch's ``default_generator``.
    """
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        subset_lengths = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            subset_lengths.append(int(math.floor(len(dataset) * frac)))
        remainder = len(dataset) - sum(subset_lengths)
        for i in range(remainder):
            subset_lengths[i % len(subset_lengths)] += 1
        lengths = subset_lengths
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. "
                    f"This might result in an empty dataset."
                )

    if sum(lengths) != len(dataset):
        raise ValueError(
            "Sum of input lengths does not equal the length of the input dataset!"
        )

    indices = ember.randperm(sum(lengths), generator=generator).tolist()
    return [
        Subset(dataset, indices[offset - length : offset])
        for offset, length in zip(itertools.accumulate(lengths), lengths)
    ]
