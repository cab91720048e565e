"""The resumable-loader state behind ``DataLoader.state_dict()`` / ``load_state_dict()``
(torchdata's StatefulDataLoader): what an epoch's order depends on, the loader settings a
state must match, and the checks that turn a foreign or malformed state into ValueError.

A state is plain Python data (ints, bools, lists, dicts, None), so that it can go into a
checkpoint with ``ember.save`` or pickle. It describes the latest epoch:

* ``num_yielded``: batches yielded so far; ``finished``: whether the epoch ran out.
* ``base_seed``: the workers' base seed (drawn once per iterator, so it is replayed rather
  than drawn again: the global RNG is the user's, and must not move on resume).
* ``generators``: states of the loader's and samplers' ``ember.Generator`` objects, taken
  when the epoch's order was about to be drawn (at its end, once ``finished``).
* ``sampler_seed``: the seed a generator-less RandomSampler drew for this epoch (None until
  drawn); ``sampler_epoch``: a DistributedSampler's epoch (None without one).
* iterable datasets only: ``dataset_state`` (the dataset's own ``state_dict()``, one per
  worker with workers), ``worker_yielded`` (batches each worker yielded) and
  ``next_worker`` (whose batch comes next in the round-robin).

On resume the sampler is re-iterated and the batches already yielded are skipped (indices
only, nothing is loaded). That replays the epoch exactly for the built-in samplers, for any
sampler whose randomness comes from its own ``generator``, and for deterministic ones; a
custom sampler drawing from the global generator would be replayed with other draws.
"""

import ember

from ._worker import _DatasetKind
from .sampler import DistributedSampler, RandomSampler

VERSION = 1


def samplers(loader):
    """The index-order objects of ``loader``: its sampler, batch sampler and the batch
    sampler's own sampler (a user's ``batch_sampler`` may wrap one), each once."""
    found = []
    for s in (loader.sampler, loader.batch_sampler, getattr(loader.batch_sampler, "sampler", None)):
        if s is not None and all(s is not f for f in found):
            found.append(s)
    return found


def random_sampler(loader):
    return next((s for s in samplers(loader) if isinstance(s, RandomSampler)), None)


def distributed_sampler(loader):
    return next((s for s in samplers(loader) if isinstance(s, DistributedSampler)), None)


def generators(loader):
    """The ember generators the order (and the base seed) are drawn from, each once."""
    found = []
    for g in [loader.generator] + [getattr(s, "generator", None) for s in samplers(loader)]:
        if isinstance(g, ember.Generator) and all(g is not f for f in found):
            found.append(g)
    return found


def generator_states(gens):
    return [g.get_state().tolist() for g in gens]


def set_generator_states(gens, states):
    for g, s in zip(gens, states):
        g.set_state(ember.tensor(s, dtype=ember.int64))


def num_batches(loader):
    try:
        return len(loader._index_sampler)
    except TypeError:  # an IterableDataset, or a sampler without a length
        return None


def config(loader):
    """The settings that decide which batches an epoch has: a state only fits a loader
    that agrees on all of them."""
    iterable = loader._dataset_kind == _DatasetKind.Iterable
    cfg = {
        "dataset": "iterable" if iterable else "map",
        "batch_size": loader.batch_size,
        "drop_last": loader.drop_last,
        "sampler": type(loader.sampler).__name__,
        "batch_sampler": type(loader.batch_sampler).__name__,
        "num_batches": num_batches(loader),
    }
    if iterable:
        # Each worker iterates its own copy of the stream, so the split depends on the count.
        cfg["num_workers"] = loader.num_workers
    return cfg


def fresh(loader):
    """The state of a loader that has not started an epoch."""
    return {
        "version": VERSION,
        "config": config(loader),
        "num_yielded": 0,
        "finished": False,
        "base_seed": None,
        "generators": None,
        "sampler_seed": None,
        "sampler_epoch": None,
        "dataset_state": None,
        "worker_yielded": None,
        "next_worker": 0,
    }


def _bad(msg):
    raise ValueError(f"DataLoader.load_state_dict: {msg}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check(loader, sd):
    """Raise ValueError unless ``sd`` is a state that ``state_dict()`` of a loader configured
    like ``loader`` could have returned."""
    if not isinstance(sd, dict):
        _bad(f"expected the dict returned by DataLoader.state_dict(), got {type(sd).__name__}")
    want = fresh(loader)
    if sd.get("version") != VERSION:
        _bad(f"unknown state version {sd.get('version')!r} (this ember writes version {VERSION})")
    missing = sorted(set(want) - set(sd))
    extra = sorted(set(sd) - set(want))
    if missing or extra:
        _bad(f"malformed state: missing keys {missing}, unexpected keys {extra}")
    if not isinstance(sd["config"], dict):
        _bad("malformed state: 'config' must be a dict")
    diffs = [
        f"{k}={sd['config'].get(k)!r} (this loader has {k}={v!r})"
        for k, v in want["config"].items()
        if sd["config"].get(k) != v
    ]
    if diffs or set(sd["config"]) != set(want["config"]):
        _bad("the state comes from a differently configured DataLoader: it was saved with "
             + (", ".join(diffs) or f"config keys {sorted(sd['config'])}"))

    k, total = sd["num_yielded"], want["config"]["num_batches"]
    if not _is_int(k) or k < 0 or (total is not None and k > total):
        _bad(f"malformed state: num_yielded must be an int in [0, {total}], got {k!r}")
    if not isinstance(sd["finished"], bool):
        _bad(f"malformed state: finished must be a bool, got {sd['finished']!r}")
    for key in ("base_seed", "sampler_seed", "sampler_epoch"):
        if sd[key] is not None and not _is_int(sd[key]):
            _bad(f"malformed state: {key} must be an int or None, got {sd[key]!r}")
    if sd["base_seed"] is None:
        if k or sd["finished"]:
            _bad("malformed state: batches were yielded but no base_seed was recorded")
        return
    gens, states = generators(loader), sd["generators"]
    if (
        not isinstance(states, list)
        or len(states) != len(gens)
        or not all(
            isinstance(s, list) and len(s) == g.get_state().numel() and all(_is_int(v) for v in s)
            for g, s in zip(gens, states)
        )
    ):
        _bad(f"malformed state: generators must be {len(gens)} lists of ints "
             "(one per ember.Generator of the loader and its sampler)")
    if (sd["sampler_epoch"] is None) != (distributed_sampler(loader) is None):
        _bad("malformed state: sampler_epoch must be recorded exactly when the sampler is a DistributedSampler")
    if want["config"]["dataset"] == "iterable" and loader.num_workers > 0:
        wy, nw = sd["worker_yielded"], loader.num_workers
        if not isinstance(wy, list) or len(wy) != nw or not all(_is_int(c) and c >= 0 for c in wy):
            _bad(f"malformed state: worker_yielded must be a list of {nw} non-negative ints")
        if sum(wy) != k:
            _bad(f"malformed state: worker_yielded {wy} does not add up to num_yielded={k}")
        if sd["dataset_state"] is not None and (
            not isinstance(sd["dataset_state"], list) or len(sd["dataset_state"]) != nw
        ):
            _bad(f"malformed state: dataset_state must be None or a list of {nw} worker states")
    if not _is_int(sd["next_worker"]) or not 0 <= sd["next_worker"] < max(loader.num_workers, 1):
        _bad(f"malformed state: next_worker must be a worker id, got {sd['next_worker']!r}")
