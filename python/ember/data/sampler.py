"""Samplers: the iterators of dataset indices (or of lists of indices) that decide what a
DataLoader loads and in which order.

Mirrors ``torch.utils.data.sampler`` and ``torch.utils.data.distributed``: same classes,
arguments, defaults and error messages. All randomness comes from ember generators, so
``ember.manual_seed`` or an explicit ``generator`` makes every order reproducible.
"""

import math

import ember

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "DistributedSampler",
]


def _new_seed(generator=None):
    """A fresh 62-bit seed drawn from ``generator`` (ember's global generator if None).

    Plays the role of torch's ``torch.empty((), dtype=torch.int64).random_(generator=g)``:
    two 31-bit draws keep every value inside int32 range, whatever integer width the core's
    ``randint`` uses internally.
    """
    hi, lo = ember.randint(0, 2**31, (2,), generator=generator).tolist()
    return (int(hi) << 31) | int(lo)


class Sampler:
    """Base class: subclasses implement ``__iter__`` (and ``__len__`` when they can)."""

    def __init__(self, data_source=None):
        # torch deprecated the argument but still accepts it; so do we.
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """Yields ``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Yields indices in random order.

    Without replacement, each pass is a fresh permutation (``num_samples`` may exceed the
    dataset size: whole permutations are chained). With ``replacement=True`` indices are drawn
    independently. Without a ``generator``, a private one is seeded from ember's global
    generator at the start of each iteration, so an epoch's order depends only on the global
    RNG state when the epoch began (and not on random draws made while it runs).
    """

    # The seed of the running iteration's private generator, and one to use instead of a
    # fresh draw next time: how DataLoader.state_dict() / load_state_dict() replay an epoch.
    _epoch_seed = None
    _resume_seed = None

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator

        if not isinstance(self.replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={self.replacement}"
            )
        if (
            not isinstance(self.num_samples, int)
            or isinstance(self.num_samples, bool)
            or self.num_samples <= 0
        ):
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={self.num_samples}"
            )

    @property
    def num_samples(self):
        # Evaluated lazily: data_source may change size after the sampler is built.
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        if self.generator is None:
            seed = _new_seed() if self._resume_seed is None else self._resume_seed
            self._epoch_seed, self._resume_seed = seed, None
            generator = ember.Generator().manual_seed(seed)
        else:
            generator = self.generator

        if self.replacement:
            # Drawn in chunks of 32, like torch, so huge num_samples do not allocate at once.
            for _ in range(self.num_samples // 32):
                yield from ember.randint(0, n, (32,), generator=generator).tolist()
            rest = self.num_samples % 32
            if rest:
                yield from ember.randint(0, n, (rest,), generator=generator).tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from ember.randperm(n, generator=generator).tolist()
            rest = self.num_samples % n
            if rest:
                yield from ember.randperm(n, generator=generator).tolist()[:rest]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """Yields the given ``indices`` in a random order, without replacement."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        for i in ember.randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Yields ``num_samples`` indices in ``[0, len(weights))`` drawn with the given
    (unnormalised) probabilities, with or without replacement."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if (
            not isinstance(num_samples, int)
            or isinstance(num_samples, bool)
            or num_samples <= 0
        ):
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )

        weights_tensor = ember.as_tensor(weights, dtype=ember.float64)
        if len(weights_tensor.shape) != 1:
            raise ValueError(
                "weights should be a 1d sequence but given "
                f"weights have shape {tuple(weights_tensor.shape)}"
            )

        self.weights = weights_tensor
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        rand_tensor = ember.multinomial(
            self.weights, self.num_samples, self.replacement, generator=self.generator
        )
        yield from iter(rand_tensor.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last, shorter
    batch is kept unless ``drop_last``."""

    def __init__(self, sampler, batch_size, drop_last):
        if (
            not isinstance(batch_size, int)
            or isinstance(batch_size, bool)
            or batch_size <= 0
        ):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(
                f"drop_last should be a boolean value, but got drop_last={drop_last}"
            )
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size


class DistributedSampler(Sampler):
    """Restricts loading to this replica's share of the dataset (one ``rank`` of
    ``num_replicas``).

    Each replica gets ``ceil(len / num_replicas)`` indices: the index list is padded by
    repeating its start so it divides evenly, or, with ``drop_last=True``, the tail is
    dropped instead. With ``shuffle=True`` the order is a permutation seeded with
    ``seed + epoch``: call :meth:`set_epoch` at the start of every epoch, or each epoch
    repeats the same order.

    Left out, ``num_replicas`` and ``rank`` come from the default process group of
    :mod:`ember.distributed` (PyTorch's RuntimeError when none is initialised).
    """

    def __init__(
        self,
        dataset,
        num_replicas=None,
        rank=None,
        shuffle=True,
        seed=0,
        drop_last=False,
    ):
        if num_replicas is None or rank is None:
            from ember import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError(
                    "Default process group has not been initialized, please make sure to call "
                    "init_process_group (or pass num_replicas and rank)."
                )
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(self.dataset)
        if self.drop_last and n % self.num_replicas != 0:
            # Drop the tail so every replica gets the same amount of data.
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            # Seeded by seed + epoch: all replicas compute the same permutation.
            g = ember.Generator().manual_seed(self.seed + self.epoch)
            indices = ember.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))

        if not self.drop_last:
            padding_size = self.total_size - len(indices)
            if padding_size <= len(indices):
                indices += indices[:padding_size]
            else:
                indices += (indices * math.ceil(padding_size / len(indices)))[:padding_size]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size

        indices = indices[self.rank : self.total_size : self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Set the epoch, which (with ``seed``) determines this epoch's shuffle."""
        self.epoch = epoch
