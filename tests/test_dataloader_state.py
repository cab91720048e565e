"""DataLoader.state_dict() / load_state_dict(), torchdata's StatefulDataLoader: a new loader
that loads the state of one interrupted after k batches yields exactly the rest of that
epoch, then the same later epochs, compared batch by batch with an uninterrupted run."""

import io
import pickle

import pytest

import ember
from ember.utils.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    get_worker_info,
)

EPOCHS = 3


class Range(Dataset):
    def __init__(self, n=11):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def lists(batches):
    return [b.tolist() if hasattr(b, "tolist") else b for b in batches]


# name -> (DataLoader kwargs given a fresh dataset and generator, whether a DistributedSampler)
CONFIGS = {
    "sequential": lambda ds, g: dict(batch_size=3),
    "shuffle": lambda ds, g: dict(batch_size=3, shuffle=True),
    "generator": lambda ds, g: dict(batch_size=3, shuffle=True, generator=g),
    "drop_last": lambda ds, g: dict(batch_size=4, shuffle=True, drop_last=True),
    "distributed": lambda ds, g: dict(batch_size=2, sampler=DistributedSampler(ds, num_replicas=2, rank=1, seed=3)),
    # several permutations per epoch, drawn lazily from the generator while the epoch runs
    "num_samples": lambda ds, g: dict(batch_size=4, sampler=RandomSampler(ds, num_samples=25, generator=g)),
}


def make(name, num_workers, seed=5, **extra):
    ds = Range()
    kwargs = CONFIGS[name](ds, ember.Generator().manual_seed(seed))
    return DataLoader(ds, num_workers=num_workers, **kwargs, **extra)


def run_epoch(loader, epoch):
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    return lists(loader)


def reference(name, num_workers, **extra):
    ember.manual_seed(0)
    loader = make(name, num_workers, **extra)
    return [run_epoch(loader, e) for e in range(EPOCHS)]


def interrupted(name, num_workers, k, **extra):
    """Epoch 0 whole, k batches of epoch 1, then the state (through pickle) and the global
    RNG state, as a checkpoint would hold them."""
    ember.manual_seed(0)
    loader = make(name, num_workers, **extra)
    run_epoch(loader, 0)
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(1)
    it = iter(loader)
    head = lists(next(it) for _ in range(k))
    sd = pickle.loads(pickle.dumps(loader.state_dict()))
    rng = ember.default_generator().get_state()
    del it, loader
    return head, sd, rng


def resumed(name, num_workers, sd, rng, **extra):
    ember.manual_seed(1234)  # a new process: its RNGs are somewhere else
    loader = make(name, num_workers, seed=999, **extra)  # and so is its generator
    loader.load_state_dict(sd)
    ember.default_generator().set_state(rng)  # restored from the checkpoint, like the model's
    # no set_epoch for the resumed epoch: the state carries the DistributedSampler's epoch
    rest = lists(loader)
    return rest, [run_epoch(loader, e) for e in range(2, EPOCHS)]


@pytest.mark.parametrize(
    "name, num_workers",
    [(name, 0) for name in CONFIGS] + [(name, 2) for name in ("shuffle", "generator", "drop_last", "distributed")],
)
def test_resume_mid_epoch_matches_the_uninterrupted_run(name, num_workers):
    ref = reference(name, num_workers)
    assert ref[1] != ref[0] or name == "sequential"  # a reshuffle, so order really is tested
    head, sd, rng = interrupted(name, num_workers, 2)
    assert head == ref[1][:2]
    rest, later = resumed(name, num_workers, sd, rng)
    assert rest == ref[1][2:]
    assert later == ref[2:]


@pytest.mark.parametrize("k", [0, 1, "last"])
def test_resume_at_the_edges_of_an_epoch(k):
    ref = reference("generator", 0)
    k = len(ref[1]) if k == "last" else k  # "last": all batches yielded, StopIteration not yet seen
    head, sd, rng = interrupted("generator", 0, k)
    rest, later = resumed("generator", 0, sd, rng)
    assert head + rest == ref[1] and later == ref[2:]


@pytest.mark.parametrize("name", ["shuffle", "generator"])
def test_a_resumed_loader_can_be_checkpointed_again(name):
    ref = reference(name, 0)
    head, sd, rng = interrupted(name, 0, 1)
    ember.manual_seed(77)
    second = make(name, 0, seed=999)
    second.load_state_dict(sd)
    ember.default_generator().set_state(rng)
    it = iter(second)
    middle = lists([next(it), next(it)])
    sd2 = pickle.loads(pickle.dumps(second.state_dict()))
    assert sd2["num_yielded"] == 3
    rng2 = ember.default_generator().get_state()
    del it
    rest, later = resumed(name, 0, sd2, rng2)
    assert head + middle + rest == ref[1] and later == ref[2:]


def test_state_after_an_epoch_ended_starts_the_next_one():
    ref = reference("generator", 0)
    ember.manual_seed(0)
    loader = make("generator", 0)
    assert run_epoch(loader, 0) == ref[0]
    assert run_epoch(loader, 1) == ref[1]
    sd = loader.state_dict()
    assert sd["finished"] and sd["num_yielded"] == len(ref[1])
    new = make("generator", 0, seed=999)
    new.load_state_dict(sd)
    assert run_epoch(new, 2) == ref[2]


def test_a_map_style_state_moves_between_worker_counts():
    # batches come out in sampler order whatever num_workers is, so the state carries over
    ref = reference("shuffle", 0)
    head, sd, rng = interrupted("shuffle", 2, 2)
    rest, later = resumed("shuffle", 0, sd, rng)
    assert head + rest == ref[1] and later == ref[2:]


def test_persistent_workers_resume():
    ref = reference("generator", 2, persistent_workers=True)
    head, sd, rng = interrupted("generator", 2, 1, persistent_workers=True)
    rest, later = resumed("generator", 2, sd, rng, persistent_workers=True)
    assert head + rest == ref[1] and later == ref[2:]


def test_persistent_workers_rewind_to_a_state_of_their_own():
    # load_state_dict while the workers are mid-epoch: they are replaced by resumed ones
    ref = reference("generator", 2, persistent_workers=True)
    loader = make("generator", 2, persistent_workers=True)
    assert run_epoch(loader, 0) == ref[0]
    it = iter(loader)
    head = lists([next(it), next(it)])
    sd = loader.state_dict()
    next(it)
    loader.load_state_dict(sd)
    assert head + lists(loader) == ref[1]
    assert run_epoch(loader, 2) == ref[2]


def test_state_is_plain_data_and_survives_ember_save():
    head, sd, rng = interrupted("distributed", 0, 1)

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (bool, int, str))

    assert plain(sd), sd
    assert sd["num_yielded"] == 1 and sd["sampler_epoch"] == 1
    buf = io.BytesIO()
    ember.save({"loader": sd}, buf)
    buf.seek(0)
    assert ember.load(buf)["loader"] == sd
    # a state read before iterating, and one loaded but not yet used, are states too
    fresh = make("shuffle", 0)
    assert fresh.state_dict()["num_yielded"] == 0
    fresh.load_state_dict(sd := make("shuffle", 0).state_dict())
    assert fresh.state_dict() == sd


# -- IterableDataset ---------------------------------------------------------------------


class UnevenStream(IterableDataset):
    """Worker 0 streams 0..16, worker 1 streams 17..22: worker 1 runs out first, so the
    round-robin has to resume without it."""

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(23))
        return iter(range(0, 17) if info.id == 0 else range(17, 23))


class StatefulStream(IterableDataset):
    """Keeps its own position (torchdata's protocol); logs every load_state_dict call."""

    def __init__(self, log):
        self.log = log
        self.start = 0

    def state_dict(self):
        return {"pos": self.pos}

    def load_state_dict(self, sd):
        with open(self.log, "a") as f:
            f.write(f"{sd['pos']}\n")
        self.start = sd["pos"]

    def __iter__(self):
        info = get_worker_info()
        wid, n = (0, 1) if info is None else (info.id, info.num_workers)
        self.pos, self.start = self.start, 0
        while self.pos < 20:
            self.pos += 1
            if (self.pos - 1) % n == wid:
                yield self.pos - 1


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("stateful", [False, True])
@pytest.mark.parametrize("k", [3, 5])
def test_iterable_dataset_resume(num_workers, stateful, k, tmp_path):
    log = tmp_path / "loads"

    def loader():
        ds = StatefulStream(str(log)) if stateful else UnevenStream()
        return DataLoader(ds, batch_size=3, num_workers=num_workers)

    ref = [lists(loader()) for _ in range(2)]
    if not stateful and num_workers == 2:
        assert len(ref[0]) == 8  # 6 batches from worker 0, 2 from worker 1
    first = loader()
    it = iter(first)
    head = lists(next(it) for _ in range(k))
    sd = pickle.loads(pickle.dumps(first.state_dict()))
    del it
    new = loader()
    new.load_state_dict(sd)
    assert head + lists(new) == ref[0]
    assert lists(new) == ref[1]
    # a dataset that keeps its position is asked to restore it (in every worker that yielded)
    loads = log.read_text().split() if log.exists() else []
    assert len(loads) == (num_workers or 1 if stateful else 0), loads


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other, message",
    [
        (dict(batch_size=4, shuffle=True), r"saved with batch_size=3 \(this loader has batch_size=4\)"),
        (dict(batch_size=3), r"sampler='RandomSampler' \(this loader has sampler='SequentialSampler'\)"),
        (dict(batch_size=3, shuffle=True, drop_last=True), r"drop_last=False \(this loader has drop_last=True\)"),
    ],
)
def test_a_state_from_a_different_loader_raises(other, message):
    _, sd, _ = interrupted("shuffle", 0, 1)
    with pytest.raises(ValueError, match=message):
        DataLoader(Range(), **other).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"num_batches=4 \(this loader has num_batches=5\)"):
        DataLoader(Range(13), batch_size=3, shuffle=True).load_state_dict(sd)


def test_iterable_state_needs_the_same_num_workers():
    first = DataLoader(UnevenStream(), batch_size=3, num_workers=2)
    next(iter(first))
    with pytest.raises(ValueError, match=r"num_workers=2 \(this loader has num_workers=0\)"):
        DataLoader(UnevenStream(), batch_size=3).load_state_dict(first.state_dict())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda sd: [1, 2], "expected the dict returned by DataLoader.state_dict"),
        (lambda sd: {**sd, "version": 7}, "unknown state version 7"),
        (lambda sd: {k: v for k, v in sd.items() if k != "num_yielded"}, r"missing keys \['num_yielded'\]"),
        (lambda sd: {**sd, "num_yielded": -1}, r"num_yielded must be an int in \[0, 4\]"),
        (lambda sd: {**sd, "num_yielded": 5}, r"num_yielded must be an int in \[0, 4\]"),
        (lambda sd: {**sd, "num_yielded": "2"}, "num_yielded must be an int"),
        (lambda sd: {**sd, "base_seed": 1.5}, "base_seed must be an int or None"),
        (lambda sd: {**sd, "generators": [[1, 2]]}, "generators must be 1 lists of ints"),
        (lambda sd: {**sd, "config": "x"}, "'config' must be a dict"),
    ],
)
def test_a_malformed_state_raises(change, message):
    _, sd, _ = interrupted("generator", 0, 1)
    loader = make("generator", 0)
    with pytest.raises(ValueError, match=message):
        loader.load_state_dict(change(sd))
    # nothing was half-applied: the loader still runs a normal epoch
    assert len(lists(loader)) == 4
