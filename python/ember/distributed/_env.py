"""Where this process sits in the job, read from whichever launcher started it: Open MPI's
mpiexec, MPICH/Hydra (PMI), Slurm, or torchrun-style variables set by ember's own launcher."""

from __future__ import annotations

import os

# (rank, world size, local rank, local world size) variable names, most specific first.
_LAUNCHERS = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK", "PMIX_LOCAL_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"),
    ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"),
)


def _int(name):
    v = os.environ.get(name)
    if v is None:
        return None
    try:
        return int(v.split("(")[0].split(",")[0])
    except ValueError:
        return None


def launcher_ranks():
    """(rank, world_size, local_rank, local_world_size) from the environment, or None."""
    for rank, size, local, local_size in _LAUNCHERS:
        r, n = _int(rank), _int(size)
        if r is None or n is None:
            continue
        lr = _int(local)
        ln = _int(local_size)
        return r, n, (lr if lr is not None else r), (ln if ln is not None else n)
    return None


def export_torchrun_env(rank: int, world_size: int):
    """Sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT where
    the launcher did not, so code written for torchrun reads what it expects."""
    found = launcher_ranks()
    local, local_n = (found[2], found[3]) if found else (rank, world_size)
    for k, v in (("RANK", rank), ("WORLD_SIZE", world_size), ("LOCAL_RANK", local),
                 ("LOCAL_WORLD_SIZE", local_n), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", 29500)):
        os.environ.setdefault(k, str(v))
