"""``ember.distributed`` (``torch.distributed`` under ``import ember as torch``): process
groups, collectives and point-to-point messages between processes and machines, on MPI.

Start the processes with any MPI launcher (``mpiexec -n 4 python train.py``, Slurm's ``srun``)
or with ``python -m ember.distributed.run --nproc-per-node 4 train.py``, which also sets
torchrun's variables. Every backend name PyTorch code passes (``"nccl"``, ``"gloo"``,
``"mpi"``) runs on MPI. MPI itself (mpi4py) is imported only at ``init_process_group``, so
``import ember`` stays fast; install it with ``pip install 'ember[distributed]'``.
"""

from ._errors import DistBackendError, DistError, DistNetworkError, DistStoreError
from .distributed_c10d import *  # noqa: F401,F403
from .distributed_c10d import __all__ as _c10d_all

__all__ = ["DistBackendError", "DistError", "DistNetworkError", "DistStoreError", *_c10d_all]
__all__ = sorted(set(__all__))


def __getattr__(name):
    # dist.GradBucket lives with DDP; loaded on first use (DDP imports this package).
    if name == "GradBucket":
        from ember.nn.parallel.distributed import GradBucket

        return GradBucket
    raise AttributeError(f"module 'ember.distributed' has no attribute '{name}'")
