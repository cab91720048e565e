"""Tests of ember.data: datasets, samplers, collation and the DataLoader, in the main process
and with worker processes. Expected values come from NumPy or from hand-worked examples of
PyTorch's documented behaviour.

Datasets used with workers are defined at module level, so that the tests which ask for spawn
or forkserver (which pickle the dataset) can use them too; the default on Linux is fork
(tests/test_dataloader_fork.py covers what that needs).
"""

import collections
import math
import os
import sys
import time

import numpy as np
import pytest

import ember
from ember.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    collate,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)


def to_py(x):
    """A batch as plain Python values (tensors become (dtype, nested lists)) for equality."""
    if isinstance(x, ember.Tensor):
        return ("tensor", str(x.dtype), x.numpy().tolist())
    if isinstance(x, dict):
        return {k: to_py(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_py(v) for v in x]
    return x


def rows(batch):
    """The samples of a batch of lists (collated column-wise) as row lists."""
    return [list(r) for r in zip(*[t.tolist() for t in batch])]


def gen(seed):
    return ember.Generator().manual_seed(seed)


# --- module-level datasets and helpers (picklable for worker processes) --------------------


class RangeDataset(Dataset):
    """Sample i is a nested structure built from i; indices in ``slow`` take a while."""

    def __init__(self, n, slow=(), delay=0.15):
        self.n = n
        self.slow = set(slow)
        self.delay = delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i in self.slow:
            time.sleep(self.delay)
        return {
            "x": np.full((2, 3), i, dtype=np.float32),
            "i": i,
            "pair": (i, i / 2),
            "name": f"s{i}",
        }


class IntDataset(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


class FailingDataset(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise_from_dataset(i)
        return i


def raise_from_dataset(i):
    raise ValueError(f"sample {i} is broken")


class WorkerInfoDataset(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return [i, info.id, info.num_workers, info.seed, os.getpid()]


class RandomDataset(Dataset):
    """Draws from ember's global generator inside __getitem__ (seeded per worker)."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return float(ember.rand(1).item())


class OffsetDataset(Dataset):
    offset = 0

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return i + self.offset


def set_offset(worker_id):
    get_worker_info().dataset.offset = 100 * (worker_id + 1)


def failing_init(worker_id):
    if worker_id == 1:
        raise KeyError("init failed in worker 1")


class ShardedRange(IterableDataset):
    """range(start, end), split into contiguous shards, one per worker (torch's example)."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.start, self.end))
        per = int(math.ceil((self.end - self.start) / info.num_workers))
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.end)))

    def __len__(self):
        return self.end - self.start


class UnshardedRange(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


class SleepyDataset(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(1.0)
        return i


class ExitingDataset(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 2:
            os._exit(3)
        return i


class Unpicklable:
    def __reduce__(self):
        raise TypeError("not picklable on purpose")


class UnpicklableDataset(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return Unpicklable()


def list_collate(batch):
    return list(batch)


class CountingBatchSampler(Sampler):
    """Yields [2b, 2b+1] for b in range(n) and counts how many batches were drawn."""

    def __init__(self, n):
        self.n = n
        self.drawn = 0

    def __iter__(self):
        for b in range(self.n):
            self.drawn += 1
            yield [2 * b, 2 * b + 1]

    def __len__(self):
        return self.n


class GetItemsDataset(Dataset):
    """Records whether the batch path (__getitems__) was used."""

    def __init__(self):
        self.calls = []

    def __len__(self):
        return 6

    def __getitem__(self, i):
        raise AssertionError("__getitems__ should have been used")

    def __getitems__(self, indices):
        self.calls.append(list(indices))
        return [10 * i for i in indices]


# --- datasets --------------------------------------------------------------------------


def test_tensor_dataset_indexes_every_tensor():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6, dtype=np.int64) * 3
    ds = TensorDataset(ember.from_numpy(x), ember.from_numpy(y))
    assert len(ds) == 6
    for i in range(6):
        xi, yi = ds[i]
        np.testing.assert_array_equal(xi.numpy(), x[i])
        assert yi.item() == y[i]
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(ember.from_numpy(x), ember.from_numpy(y[:5]))


def test_subset_and_nested_subset():
    base = IntDataset(10)
    sub = Subset(base, [9, 3, 5, 1])
    assert len(sub) == 4
    assert [sub[i] for i in range(4)] == [9, 3, 5, 1]
    nested = Subset(sub, [2, 0])
    assert [nested[0], nested[1]] == [5, 9]
    # Subset forwards batch fetches to a dataset's __getitems__.
    gi = GetItemsDataset()
    assert Subset(gi, [5, 4, 0]).__getitems__([0, 2]) == [50, 0]
    assert gi.calls == [[5, 0]]


def test_concat_dataset_indexing_matches_numpy_concatenate():
    a, b, c = IntDataset(3), Subset(IntDataset(10), [7, 8]), IntDataset(4)
    cat = ConcatDataset([a, b, c])
    ref = np.concatenate([np.arange(3), [7, 8], np.arange(4)])
    assert len(cat) == len(ref) == 9
    assert cat.cumulative_sizes == [3, 5, 9]
    assert [cat[i] for i in range(9)] == ref.tolist()
    assert [cat[-i] for i in range(1, 10)] == ref[::-1].tolist()
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        cat[-10]
    with pytest.raises(IndexError):
        cat[9]
    assert [(a + c)[i] for i in range(7)] == [0, 1, 2, 0, 1, 2, 3]
    with pytest.raises(AssertionError, match="should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        ConcatDataset([a, UnshardedRange(3)])


def test_stack_dataset_tuple_and_dict():
    a, b = IntDataset(4), Subset(IntDataset(10), [9, 8, 7, 6])
    assert StackDataset(a, b)[1] == (1, 8)
    assert StackDataset(x=a, y=b)[3] == {"x": 3, "y": 6}
    assert StackDataset(a, b).__getitems__([0, 2]) == [(0, 9), (2, 7)]
    assert len(StackDataset(a, b)) == 4
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(a, IntDataset(3))
    with pytest.raises(ValueError, match="At least one dataset should be passed"):
        StackDataset()
    with pytest.raises(ValueError, match="both types are given"):
        StackDataset(a, y=b)


def test_chain_dataset_and_iterable_add():
    chained = ChainDataset([UnshardedRange(3), UnshardedRange(2)])
    assert list(chained) == [0, 1, 2, 0, 1]
    assert list(UnshardedRange(2) + UnshardedRange(3)) == [0, 1, 0, 1, 2]
    assert len(ChainDataset([ShardedRange(0, 3), ShardedRange(5, 7)])) == 5
    with pytest.raises(AssertionError, match="only supports IterableDataset"):
        list(ChainDataset([IntDataset(2)]))


def test_base_classes_raise_not_implemented():
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    with pytest.raises(NotImplementedError):
        iter(IterableDataset())
    with pytest.raises(NotImplementedError):
        iter(Sampler())


@pytest.mark.parametrize(
    "lengths, expected",
    [([3, 7], [3, 7]), ([0.3, 0.7], [3, 7]), ([0.5, 0.5], [5, 5]), ([1 / 3] * 3, [4, 3, 3])],
)
def test_random_split_sizes_cover_the_dataset(lengths, expected):
    parts = random_split(IntDataset(10), lengths, generator=gen(0))
    assert [len(p) for p in parts] == expected
    values = [p[i] for p in parts for i in range(len(p))]
    assert sorted(values) == list(range(10))


def test_random_split_remainder_goes_round_robin_and_warns_on_empty():
    assert [len(p) for p in random_split(IntDataset(11), [0.5, 0.5], generator=gen(0))] == [6, 5]
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        parts = random_split(IntDataset(3), [0.99, 0.01], generator=gen(0))
    assert [len(p) for p in parts] == [3, 0]


def test_random_split_is_reproducible_with_a_generator():
    def split(seed):
        return [p.indices for p in random_split(IntDataset(20), [5, 15], generator=gen(seed))]

    assert split(1) == split(1)
    assert split(1) != split(2)
    # The split is the generator's permutation, cut at the lengths.
    perm = ember.randperm(20, generator=gen(1)).tolist()
    assert split(1) == [perm[:5], perm[5:]]
    ember.manual_seed(5)
    a = [p.indices for p in random_split(IntDataset(20), [10, 10])]
    ember.manual_seed(5)
    b = [p.indices for p in random_split(IntDataset(20), [10, 10])]
    assert a == b


def test_random_split_bad_lengths():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(IntDataset(10), [3, 3])
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(IntDataset(10), [0.5, 0.6])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(IntDataset(10), [1.25, -0.25])


# --- samplers --------------------------------------------------------------------------


def test_sequential_sampler():
    s = SequentialSampler(IntDataset(5))
    assert list(s) == [0, 1, 2, 3, 4]
    assert len(s) == 5


def test_random_sampler_permutation_and_reproducibility():
    data = IntDataset(10)
    order = list(RandomSampler(data, generator=gen(3)))
    assert sorted(order) == list(range(10))
    assert order == list(RandomSampler(data, generator=gen(3)))
    assert order != list(RandomSampler(data, generator=gen(4)))
    # With an explicit generator, epochs continue its stream: two epochs differ.
    s = RandomSampler(data, generator=gen(3))
    assert list(s) != list(s)
    # Without one, the order follows ember's global seed.
    ember.manual_seed(11)
    a = list(RandomSampler(data))
    ember.manual_seed(11)
    assert list(RandomSampler(data)) == a


def test_random_sampler_num_samples_without_replacement_chains_permutations():
    s = RandomSampler(IntDataset(10), num_samples=25, generator=gen(0))
    out = list(s)
    assert len(out) == len(s) == 25
    assert sorted(out[:10]) == list(range(10)) and sorted(out[10:20]) == list(range(10))
    assert len(set(out[20:])) == 5
    counts = np.bincount(out, minlength=10)
    assert counts.min() >= 2 and counts.max() <= 3


def test_random_sampler_with_replacement():
    s = RandomSampler(IntDataset(7), replacement=True, num_samples=70, generator=gen(0))
    out = list(s)
    assert len(out) == 70 and min(out) >= 0 and max(out) < 7
    assert len(set(out)) > 1 and len(set(out)) < 70  # repeats, not a permutation
    assert out == list(RandomSampler(IntDataset(7), replacement=True, num_samples=70, generator=gen(0)))


def test_random_sampler_bad_arguments():
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(IntDataset(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(IntDataset(3), num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(IntDataset(0))


def test_subset_random_sampler():
    idx = [4, 8, 15, 16, 23, 42]
    out = list(SubsetRandomSampler(idx, generator=gen(0)))
    assert sorted(out) == sorted(idx)
    assert out == list(SubsetRandomSampler(idx, generator=gen(0)))
    perm = ember.randperm(6, generator=gen(0)).tolist()
    assert out == [idx[p] for p in perm]
    assert len(SubsetRandomSampler(idx)) == 6


def test_weighted_random_sampler_follows_the_weights():
    weights = [0.0, 1.0, 0.0, 3.0]
    out = list(WeightedRandomSampler(weights, 4000, generator=gen(0)))
    counts = np.bincount(out, minlength=4)
    assert counts[0] == 0 and counts[2] == 0  # zero weight: never drawn
    assert abs(counts[3] / 4000 - 0.75) < 0.04
    no_rep = list(WeightedRandomSampler([1, 2, 3, 4, 5], 5, replacement=False, generator=gen(1)))
    assert sorted(no_rep) == [0, 1, 2, 3, 4]
    assert len(WeightedRandomSampler(weights, 9)) == 9
    assert no_rep == list(WeightedRandomSampler([1, 2, 3, 4, 5], 5, replacement=False, generator=gen(1)))


def test_weighted_random_sampler_bad_arguments():
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=-1"):
        WeightedRandomSampler([1.0], -1)
    with pytest.raises(ValueError, match="replacement should be a boolean value, but got replacement=0"):
        WeightedRandomSampler([1.0], 1, replacement=0)
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(2, 2\)"):
        WeightedRandomSampler([[1.0, 2.0], [3.0, 4.0]], 2)


@pytest.mark.parametrize("n, bs", [(10, 3), (9, 3), (1, 4), (7, 1)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_matches_numpy_chunks(n, bs, drop_last):
    s = BatchSampler(SequentialSampler(IntDataset(n)), bs, drop_last)
    ref = [chunk.tolist() for chunk in np.array_split(np.arange(n), range(bs, n, bs))]
    if drop_last:
        ref = [c for c in ref if len(c) == bs]
    assert list(s) == ref
    assert len(s) == len(ref)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, None])
def test_batch_sampler_bad_batch_size(bad):
    with pytest.raises(ValueError, match=f"batch_size should be a positive integer value, but got batch_size={bad}"):
        BatchSampler(SequentialSampler(IntDataset(3)), bad, False)


def test_batch_sampler_bad_drop_last():
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got drop_last=1"):
        BatchSampler(SequentialSampler(IntDataset(3)), 2, 1)


def test_distributed_sampler_pads_and_splits_without_shuffle():
    shards = [list(DistributedSampler(IntDataset(10), 3, r, shuffle=False)) for r in range(3)]
    padded = list(range(10)) + [0, 1]  # padded to 12 with the start of the list
    assert shards == [padded[r::3] for r in range(3)]
    assert all(len(DistributedSampler(IntDataset(10), 3, r)) == 4 for r in range(3))


def test_distributed_sampler_drop_last():
    shards = [list(DistributedSampler(IntDataset(10), 3, r, shuffle=False, drop_last=True)) for r in range(3)]
    assert shards == [list(range(9))[r::3] for r in range(3)]
    assert len(DistributedSampler(IntDataset(10), 3, 0, drop_last=True)) == 3


def test_distributed_sampler_padding_longer_than_the_dataset():
    shards = [list(DistributedSampler(IntDataset(2), 5, r, shuffle=False)) for r in range(5)]
    assert shards == [[0], [1], [0], [1], [0]]


def test_distributed_sampler_shuffle_seed_and_epoch():
    def shards(epoch, seed=0):
        out = []
        for r in range(4):
            s = DistributedSampler(IntDataset(12), 4, r, shuffle=True, seed=seed)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    e0 = shards(0)
    # All ranks use the same permutation, so the shards partition the dataset.
    assert sorted(sum(e0, [])) == list(range(12))
    perm = ember.randperm(12, generator=gen(0)).tolist()
    assert e0 == [perm[r::4] for r in range(4)]
    assert shards(0) == e0
    assert shards(1) != e0
    assert shards(1) == shards(0, seed=1)  # the permutation is seeded with seed + epoch


def test_distributed_sampler_bad_arguments():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(IntDataset(4), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="Invalid rank -1"):
        DistributedSampler(IntDataset(4), num_replicas=3, rank=-1)
    with pytest.raises(RuntimeError, match="Default process group has not been initialized"):
        DistributedSampler(IntDataset(4))


# --- collation -------------------------------------------------------------------------


def test_collate_numbers_become_int64_and_float64_tensors():
    ints = default_collate([1, 2, 3])
    assert ints.dtype == ember.int64 and ints.tolist() == [1, 2, 3]
    floats = default_collate([0.5, 1.5])
    assert floats.dtype == ember.float64 and floats.tolist() == [0.5, 1.5]
    bools = default_collate([True, False])
    assert bools.dtype == ember.bool and bools.tolist() == [True, False]


def test_collate_strings_stay_lists():
    assert default_collate(["a", "bc"]) == ["a", "bc"]
    assert default_collate([b"x", b"y"]) == [b"x", b"y"]


def test_collate_numpy_arrays_and_scalars():
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3) * k for k in range(4)]
    out = default_collate(arrays)
    assert isinstance(out, ember.Tensor) and out.dtype == ember.float32
    np.testing.assert_array_equal(out.numpy(), np.stack(arrays))
    # Non-contiguous and big-endian arrays are converted too.
    views = [np.arange(12, dtype=">f4").reshape(3, 4)[:, ::2] + k for k in range(2)]
    np.testing.assert_array_equal(default_collate(views).numpy(), np.stack(views))
    scalars = default_collate([np.float32(1.5), np.float32(2.5)])
    assert scalars.dtype == ember.float32 and scalars.tolist() == [1.5, 2.5]
    assert default_collate([np.int64(3), np.int64(4)]).tolist() == [3, 4]
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_collate_tensors_are_stacked():
    ts = [ember.from_numpy(np.full((2, 2), k, dtype=np.float32)) for k in range(3)]
    out = default_collate(ts)
    assert tuple(out.shape) == (3, 2, 2)
    np.testing.assert_array_equal(out.numpy(), np.stack([np.full((2, 2), k, np.float32) for k in range(3)]))


Point = collections.namedtuple("Point", ["x", "y"])


def test_collate_nested_structures():
    batch = [
        {"img": np.full((2,), i, np.float32), "meta": {"id": i, "tag": f"t{i}"}, "p": Point(i, i * 0.5), "l": [i, [i, i + 1]]}
        for i in range(3)
    ]
    out = default_collate(batch)
    np.testing.assert_array_equal(out["img"].numpy(), np.stack([np.full((2,), i, np.float32) for i in range(3)]))
    assert out["meta"]["id"].tolist() == [0, 1, 2]
    assert out["meta"]["tag"] == ["t0", "t1", "t2"]
    assert isinstance(out["p"], Point)
    assert out["p"].x.tolist() == [0, 1, 2] and out["p"].y.dtype == ember.float64
    assert isinstance(out["l"], list)
    assert out["l"][0].tolist() == [0, 1, 2]
    assert [t.tolist() for t in out["l"][1]] == [[0, 1, 2], [1, 2, 3]]
    # A batch of tuples becomes a list of collated fields; strings come back as the
    # transposed tuple, exactly as torch returns them.
    pairs = default_collate([(1, "a"), (2, "b")])
    assert isinstance(pairs, list) and pairs[0].tolist() == [1, 2] and pairs[1] == ("a", "b")


def test_collate_errors():
    for batch in ([ember.zeros(2), ember.zeros(3)], [np.zeros(2), np.zeros(3)]):
        with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
            default_collate(batch)
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found <class 'object'>"):
        default_collate([object(), object()])


def test_default_convert_only_converts_arrays():
    out = default_convert({"a": np.arange(3), "b": 1.5, "c": (np.float64(2.0), "s")})
    assert isinstance(out["a"], ember.Tensor) and out["a"].tolist() == [0, 1, 2]
    assert out["b"] == 1.5
    assert isinstance(out["c"], list) and out["c"][0].item() == 2.0 and out["c"][1] == "s"
    assert default_convert(Point(np.arange(2), 3)).y == 3


def test_collate_with_a_custom_type_map():
    class Box:
        def __init__(self, v):
            self.v = v

    fn_map = {Box: lambda batch, *, collate_fn_map: sum(b.v for b in batch)}
    assert collate([{"b": Box(1)}, {"b": Box(2)}], collate_fn_map=fn_map) == {"b": 3}


# --- DataLoader in the main process ----------------------------------------------------


@pytest.mark.parametrize("batch_size, drop_last", [(3, False), (3, True), (5, False), (1, False)])
def test_loader_batches_match_numpy(batch_size, drop_last):
    x = np.random.RandomState(0).randn(11, 3).astype(np.float32)
    y = np.arange(11, dtype=np.int64)
    loader = DataLoader(TensorDataset(ember.from_numpy(x), ember.from_numpy(y)), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    n_full = 11 // batch_size
    expected = n_full if drop_last or 11 % batch_size == 0 else n_full + 1
    assert len(batches) == len(loader) == expected
    for k, (xb, yb) in enumerate(batches):
        np.testing.assert_array_equal(xb.numpy(), x[k * batch_size : (k + 1) * batch_size])
        np.testing.assert_array_equal(yb.numpy(), y[k * batch_size : (k + 1) * batch_size])


def test_loader_without_batching_converts_each_sample():
    loader = DataLoader(RangeDataset(3), batch_size=None)
    samples = list(loader)
    assert len(samples) == len(loader) == 3
    assert isinstance(samples[1]["x"], ember.Tensor) and samples[1]["x"].numpy().tolist() == [[1.0] * 3] * 2
    assert samples[1]["i"] == 1 and samples[1]["pair"] == [1, 0.5]


def test_loader_shuffle_is_reproducible_with_a_generator():
    def epochs(seed, n_epochs=2):
        loader = DataLoader(IntDataset(20), batch_size=4, shuffle=True, generator=gen(seed))
        return [[v for b in loader for v in b.tolist()] for _ in range(n_epochs)]

    a = epochs(7)
    assert a == epochs(7)
    assert a != epochs(8)
    assert sorted(a[0]) == list(range(20)) and a[0] != list(range(20))
    assert a[0] != a[1]  # a new order every epoch


def test_loader_shuffle_follows_the_global_seed():
    def order():
        return [v for b in DataLoader(IntDataset(16), batch_size=5, shuffle=True) for v in b.tolist()]

    ember.manual_seed(123)
    a = order()
    ember.manual_seed(123)
    assert order() == a


def test_loader_with_sampler_and_batch_sampler():
    loader = DataLoader(IntDataset(10), batch_size=3, sampler=[9, 0, 8, 1])
    assert [b.tolist() for b in loader] == [[9, 0, 8], [1]]
    bs = [[1, 2], [7], [0, 5, 6]]
    loader = DataLoader(IntDataset(10), batch_sampler=bs)
    assert [b.tolist() for b in loader] == bs
    assert len(loader) == 3 and loader.batch_size is None


def test_loader_custom_collate_and_getitems():
    ds = GetItemsDataset()
    loader = DataLoader(ds, batch_size=4, collate_fn=list_collate)
    assert list(loader) == [[0, 10, 20, 30], [40, 50]]
    assert ds.calls == [[0, 1, 2, 3], [4, 5]]


def test_loader_iterable_dataset_single_process():
    loader = DataLoader(ShardedRange(0, 7), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(loader) == 3
    loader = DataLoader(ShardedRange(0, 7), batch_size=3, drop_last=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]
    assert len(loader) == 2
    assert list(DataLoader(ShardedRange(0, 3), batch_size=None)) == [0, 1, 2]
    with pytest.raises(TypeError):
        len(DataLoader(UnshardedRange(3)))


def test_worker_info_is_none_in_the_main_process():
    assert get_worker_info() is None
    assert list(DataLoader(ShardedRange(0, 4), batch_size=None)) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size=0), "batch_size should be a positive integer value, but got batch_size=0"),
        (dict(batch_size=-3), "batch_size should be a positive integer value, but got batch_size=-3"),
        (dict(shuffle=True, sampler=[0, 1]), "sampler option is mutually exclusive with shuffle"),
        (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"),
        (dict(batch_sampler=[[0]], shuffle=True), "batch_sampler option is mutually exclusive with batch_size"),
        (dict(batch_sampler=[[0]], sampler=[0]), "batch_sampler option is mutually exclusive with batch_size"),
        (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive with batch_size"),
        (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
        (dict(num_workers=-1), "num_workers option should be non-negative; use num_workers=0 to disable multiprocessing."),
        (dict(timeout=-1), "timeout option should be non-negative"),
        (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
        (dict(num_workers=1, prefetch_factor=-1), "prefetch_factor option should be non-negative"),
        (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
        (dict(multiprocessing_context="spawn"), "multiprocessing_context can only be used with multi-process loading"),
        (dict(num_workers=1, multiprocessing_context="teleport"), "multiprocessing_context option should specify a valid start method"),
        (dict(drop_last=1), "drop_last should be a boolean value, but got drop_last=1"),
    ],
)
def test_loader_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        DataLoader(IntDataset(4), **kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(shuffle=True), "DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle=True"),
        (dict(sampler=[0]), "DataLoader with IterableDataset: expected unspecified sampler option"),
        (dict(batch_sampler=[[0]]), "DataLoader with IterableDataset: expected unspecified batch_sampler option"),
    ],
)
def test_loader_bad_arguments_for_iterable_datasets(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(UnshardedRange(3), **kwargs)


def test_loader_attributes_are_frozen_after_init():
    loader = DataLoader(IntDataset(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 3
    loader.num_workers = 0  # not one of the protected attributes
    assert loader.pin_memory is False
    assert len(DataLoader(IntDataset(4), pin_memory=True)) == 4  # accepted, no-op


# --- DataLoader with worker processes --------------------------------------------------


def test_workers_yield_the_same_batches_in_the_same_order():
    # Index 0 is slow, so worker 1's batches arrive first and must be held back.
    ds = RangeDataset(17, slow=[0])
    ref = [to_py(b) for b in DataLoader(ds, batch_size=3)]
    got = [to_py(b) for b in DataLoader(ds, batch_size=3, num_workers=2)]
    assert got == ref
    assert len(got) == 6 and got[0]["i"] == ("tensor", str(ember.int64), [0, 1, 2])


def test_workers_with_tensor_dataset_shuffle_and_drop_last():
    x = np.random.RandomState(1).randn(13, 2).astype(np.float32)
    ds = TensorDataset(ember.from_numpy(x), ember.from_numpy(np.arange(13)))
    kw = dict(batch_size=4, shuffle=True, drop_last=True)
    ref = [to_py(b) for b in DataLoader(ds, generator=gen(5), **kw)]
    loader = DataLoader(ds, generator=gen(5), num_workers=2, **kw)
    got = [to_py(b) for b in loader]
    assert got == ref and len(got) == len(loader) == 3
    # The indices are a permutation and the rows match them.
    idx = [i for _, ys in got for i in ys[2]]
    assert len(set(idx)) == 12
    for xb, yb in got:
        np.testing.assert_array_equal(np.array(xb[2], np.float32), x[yb[2]])


def test_worker_exception_carries_the_worker_traceback():
    it = iter(DataLoader(FailingDataset(), batch_size=2, num_workers=2))
    assert next(it).tolist() == [0, 1]
    assert next(it).tolist() == [2, 3]
    with pytest.raises(ValueError) as info:
        next(it)
    msg = str(info.value)
    assert "Caught ValueError in DataLoader worker process 0" in msg
    assert "Traceback (most recent call last)" in msg
    assert "raise_from_dataset" in msg and "sample 5 is broken" in msg
    # The loader goes on with the next batch, as torch's does.
    assert next(it).tolist() == [6, 7]


def test_worker_init_fn_runs_in_each_worker():
    loader = DataLoader(OffsetDataset(), batch_size=2, num_workers=2, worker_init_fn=set_offset)
    # Batches go to workers round-robin: batch k is loaded by worker k % 2.
    assert [b.tolist() for b in loader] == [[100, 101], [202, 203], [104, 105], [206, 207]]


def test_worker_init_fn_error_is_reported():
    with pytest.raises(KeyError) as info:
        list(DataLoader(IntDataset(8), batch_size=2, num_workers=2, worker_init_fn=failing_init))
    assert "Caught KeyError in DataLoader worker process 1" in str(info.value)
    assert "init failed in worker 1" in str(info.value)


def test_worker_info_and_seeds():
    loader = DataLoader(WorkerInfoDataset(), batch_size=2, num_workers=2, generator=gen(0))
    rows_ = [r for b in loader for r in rows(b)]
    assert [r[0] for r in rows_] == list(range(8))
    assert [r[1] for r in rows_] == [0, 0, 1, 1, 0, 0, 1, 1]
    assert all(r[2] == 2 for r in rows_)
    seeds = {r[1]: r[3] for r in rows_}
    assert seeds[1] == seeds[0] + 1  # seed = base_seed + worker id
    assert len({r[4] for r in rows_} | {os.getpid()}) == 3  # two worker processes
    again = [r for b in DataLoader(WorkerInfoDataset(), batch_size=2, num_workers=2, generator=gen(0)) for r in rows(b)]
    assert {r[1]: r[3] for r in again} == seeds  # same generator, same seeds


def test_random_draws_in_workers_are_seeded_and_distinct():
    def draws(seed):
        return [v for b in DataLoader(RandomDataset(), batch_size=2, num_workers=2, generator=gen(seed)) for v in b.tolist()]

    a = draws(3)
    assert a == draws(3)
    assert a != draws(4)
    # Worker 0 loads samples 0,1,4,5 and worker 1 samples 2,3,6,7: different streams.
    assert a[0:2] != a[2:4]
    assert len(set(a)) == 8


def test_iterable_dataset_sharded_across_workers():
    loader = DataLoader(ShardedRange(0, 10), batch_size=2, num_workers=2)
    # Worker 0 holds 0..4, worker 1 holds 5..9; their batches alternate.
    assert [b.tolist() for b in loader] == [[0, 1], [5, 6], [2, 3], [7, 8], [4], [9]]
    samples = list(DataLoader(ShardedRange(0, 10), batch_size=None, num_workers=2))
    assert samples == [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]
    dropped = DataLoader(ShardedRange(0, 10), batch_size=2, num_workers=2, drop_last=True)
    assert [b.tolist() for b in dropped] == [[0, 1], [5, 6], [2, 3], [7, 8]]


def test_unsharded_iterable_dataset_is_duplicated_per_worker():
    values = [v for b in DataLoader(UnshardedRange(5), batch_size=2, num_workers=2) for v in b.tolist()]
    assert sorted(values) == sorted(list(range(5)) * 2)


def test_persistent_workers_are_reused_across_epochs():
    loader = DataLoader(WorkerInfoDataset(), batch_size=2, num_workers=2, persistent_workers=True)
    first = [r for b in loader for r in rows(b)]
    second = [r for b in loader for r in rows(b)]
    assert [r[0] for r in first] == [r[0] for r in second] == list(range(8))
    assert {r[4] for r in first} == {r[4] for r in second}  # the same two processes
    # An epoch abandoned half-way does not leak stale batches into the next one.
    it = iter(loader)
    next(it)
    assert [r[0] for b in loader for r in rows(b)] == list(range(8))
    loader._iterator._shutdown_workers()


def test_persistent_workers_with_iterable_dataset():
    loader = DataLoader(ShardedRange(0, 6), batch_size=2, num_workers=2, persistent_workers=True)
    expected = [[0, 1], [3, 4], [2], [5]]
    assert [b.tolist() for b in loader] == expected
    assert [b.tolist() for b in loader] == expected
    loader._iterator._shutdown_workers()


def test_prefetch_factor_bounds_the_batches_in_flight():
    sampler = CountingBatchSampler(10)
    loader = DataLoader(IntDataset(20), batch_sampler=sampler, num_workers=2, prefetch_factor=3)
    it = iter(loader)
    assert sampler.drawn == 6  # prefetch_factor * num_workers requested up front
    assert next(it).tolist() == [0, 1]
    assert sampler.drawn == 7  # one more for each batch handed out
    assert [b.tolist() for b in it][-1] == [18, 19]
    assert sampler.drawn == 10


def test_timeout_raises():
    loader = DataLoader(SleepyDataset(), batch_size=1, num_workers=1, timeout=0.2)
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        next(iter(loader))


def test_dead_worker_is_reported():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(DataLoader(ExitingDataset(), batch_size=1, num_workers=2))


def test_unpicklable_batch_raises_instead_of_hanging():
    loader = DataLoader(UnpicklableDataset(), batch_size=2, num_workers=1, collate_fn=list_collate, timeout=30)
    with pytest.raises(TypeError, match="not picklable on purpose") as info:
        next(iter(loader))
    assert "in DataLoader worker process 0" in str(info.value)


def test_out_of_order_mode_yields_every_batch():
    ds = RangeDataset(12, slow=[0], delay=0.8)
    got = [b["i"].tolist() for b in DataLoader(ds, batch_size=2, num_workers=2, in_order=False)]
    assert sorted(got) == [[2 * k, 2 * k + 1] for k in range(6)]
    assert got[0] != [0, 1]  # the slow first batch did not hold the others back


def test_workers_shut_down_when_the_iterator_is_dropped():
    it = iter(DataLoader(IntDataset(40), batch_size=2, num_workers=2))
    assert next(it).tolist() == [0, 1]
    workers = list(it._workers)
    assert all(w.is_alive() for w in workers)
    del it
    deadline = time.time() + 5
    while any(w.is_alive() for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(w.is_alive() for w in workers)


def test_fork_context_is_honoured():
    loader = DataLoader(IntDataset(6), batch_size=2, num_workers=2, multiprocessing_context="fork", collate_fn=list_collate, timeout=20)
    assert list(loader) == [[0, 1], [2, 3], [4, 5]]
    assert loader.multiprocessing_context.get_start_method() == "fork"


def test_default_start_method_is_fork_on_linux_spawn_elsewhere():
    assert DataLoader(IntDataset(2), num_workers=1).multiprocessing_context is None
    from ember.data.dataloader import _default_mp_context

    expected = "fork" if sys.platform.startswith("linux") else "spawn"
    assert _default_mp_context().get_start_method() == expected


def test_ember_utils_data_is_the_same_api():
    import ember.data
    import ember.utils.data

    assert ember.utils.data.DataLoader is ember.data.DataLoader
    assert ember.utils.data.TensorDataset is ember.data.TensorDataset
    assert set(ember.data.__all__) <= set(dir(ember.utils.data))


def test_unpicklable_dataset_fails_at_start_with_advice():
    class LocalDataset(Dataset):  # a local class cannot be pickled by reference
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return i

    with pytest.raises(Exception) as info:
        iter(DataLoader(LocalDataset(), num_workers=1, multiprocessing_context="forkserver"))
    assert "LocalDataset" in str(info.value)
    assert any("define them at module level" in note for note in getattr(info.value, "__notes__", []))


def test_interactive_main_forks_and_spawn_refuses_it_with_advice():
    import subprocess
    import sys

    code = (
        "import ember.data as d\n"
        "class DS(d.Dataset):\n"
        "    def __len__(self): return 2\n"
        "    def __getitem__(self, i): return i\n"
        "print('FORKED', list(d.DataLoader(DS(), num_workers=1)))\n"
        "try:\n"
        "    list(d.DataLoader(DS(), num_workers=1, multiprocessing_context='spawn'))\n"
        "except RuntimeError as e:\n"
        "    print('REFUSED', e)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    # fork (the default) runs a dataset from an interactive __main__; spawn cannot import it.
    assert "FORKED [tensor([0]), tensor([1])]" in out.stdout, out.stderr
    assert "REFUSED" in out.stdout, out.stderr
    assert "interactive __main__" in out.stdout and "num_workers=0" in out.stdout
