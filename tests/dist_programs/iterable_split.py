"""Rank program: an IterableDataset that shards its stream over ranks x DataLoader workers,
PyTorch's idiom, read inside ``__iter__`` from ember.distributed and get_worker_info(). For
num_workers 0, 1 and 2, the elements every rank loaded are gathered, and each rank checks
that together they are the whole stream, each element exactly once. Prints OK at the end."""

import itertools
from datetime import timedelta

import ember.distributed as dist
from ember.utils.data import DataLoader, IterableDataset, get_worker_info

N = 23  # not a multiple of ranks x workers: some shards are one element shorter


class ShardedStream(IterableDataset):
    """Element ``i`` of the stream goes to shard ``i % (world * workers)``."""

    def __iter__(self):
        rank, world = 0, 1
        if dist.is_initialized():
            rank, world = dist.get_rank(), dist.get_world_size()
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        shard, shards = rank * workers + worker, world * workers
        return itertools.islice(iter(range(N)), shard, None, shards)


dist.init_process_group("gloo", timeout=timedelta(seconds=60))
r, n = dist.get_rank(), dist.get_world_size()
assert n >= 2, "run me with mpiexec -n 2 (or more)"

for num_workers in (0, 1, 2):
    mine = [x for b in DataLoader(ShardedStream(), batch_size=3, num_workers=num_workers) for x in b.tolist()]
    everyone = [None] * n
    dist.all_gather_object(everyone, mine)
    seen = sorted(x for share in everyone for x in share)
    assert seen == list(range(N)), f"rank {r}, num_workers={num_workers}: {everyone}"
    # each rank got its own, non-empty share
    assert all(everyone), everyone

dist.destroy_process_group()
print(f"rank {r} OK", flush=True)
