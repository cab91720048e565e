"""DistributedDataParallel: one model replica per process; gradients are averaged across the
process group in buckets while backward still runs, so each step ends with identical
gradients (and, after the optimizer, identical parameters) on every rank.

How a step runs: each parameter's post-accumulate-grad hook marks it ready; when every
parameter of a bucket is ready, the bucket goes to the group's communication thread as one
asynchronous all-reduce (buckets go out strictly in order, so all ranks issue the same
collectives in the same order). That thread also copies the gradients into the bucket's
buffer first, so the backward pass only hands over references; a gradient that already lives
in the bucket (``gradient_as_bucket_view=True``, kept by ``zero_grad(set_to_none=False)`` or
accumulated under ``no_sync``) is not copied at all. Each bucket's buffer is allocated once
(on the CPU from NumPy memory, which large-page backs it). A callback queued on the backward
pass waits for the last bucket and writes the averages into ``.grad`` (or makes ``.grad`` a
view of the bucket) before ``backward()`` returns.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

import ember
from ember import distributed as dist

from ..module import Module

_FIRST_BUCKET_BYTES = 1 << 20  # small, so the first all-reduce starts early in backward


_NUMPY_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16}


class _Bucket:
    __slots__ = ("params", "sizes", "work", "flat", "views", "used", "kept")

    def __init__(self, params):
        self.params = params
        self.sizes = [int(p.numel()) for p in params]
        self.work = None
        self.used = None
        self.kept = {}  # bucket-view gradients of parameters this rank did not use, kept
        numel = sum(self.sizes)
        p0 = params[0]
        kind = str(p0.dtype).rsplit(".", 1)[-1]
        if p0.device.type == "cpu" and kind in _NUMPY_DTYPES:
            # NumPy memory: large arrays get huge pages, which MPI moves faster between ranks
            self.flat = ember.from_numpy(np.zeros(numel, _NUMPY_DTYPES[kind]))
        else:
            self.flat = ember.zeros(numel, dtype=p0.dtype, device=p0.device)
        self.views = []
        off = 0
        for p, n in zip(params, self.sizes):
            self.views.append(self.flat[off:off + n].view(tuple(p.shape)))
            off += n


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training over ``process_group`` (the default group
    when None). Every rank must build the same model; rank 0's parameters and buffers are
    copied to all ranks here.

    ``bucket_cap_mb`` bounds a bucket's size (25 MB; the first bucket is 1 MB).
    ``find_unused_parameters=True`` lets a step leave parameters without gradient (they count
    as zero); without it such a step raises at the next forward, as in PyTorch.
    ``gradient_as_bucket_view=True`` makes each ``.grad`` a view into its bucket's buffer.
    ``static_graph=True`` promises the same graph every step (it also allows unused
    parameters). ``device_ids`` and ``output_device`` are accepted for ported code: a
    replica's parameters already live on its device.
    """

    def __init__(
        self,
        module,
        device_ids=None,
        output_device=None,
        dim=0,
        broadcast_buffers=True,
        process_group=None,
        bucket_cap_mb=None,
        find_unused_parameters=False,
        check_reduction=False,
        gradient_as_bucket_view=False,
        static_graph=False,
        delay_all_reduce_named_params=None,
        param_to_hook_all_reduce=None,
        mixed_precision=None,
        device_mesh=None,
    ):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an ember.nn.Module, got {type(module).__name__}")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("device_ids can only be None or contain a single element.")
        if not dist.is_initialized():
            raise RuntimeError(
                "Default process group has not been initialized, please make sure to call "
                "init_process_group."
            )
        self.module = module
        self.process_group = process_group if process_group is not None else dist.group.WORLD
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self._sync_this_step = True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self.world_size = dist.get_world_size(self.process_group)

        named = []
        seen = set()
        for name, p in module.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                named.append((name, p))
        if not named:
            raise RuntimeError(
                "DistributedDataParallel is not needed when a module doesn't have any "
                "parameter that requires a gradient."
            )
        self._param_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._check_same_model()
        self._sync_from_rank0([p for p in self._params] + list(self.module.buffers()))

        self._comm_hook = None
        self._buckets = self._make_buckets()
        self._bucket_of = {}
        for b, bucket in enumerate(self._buckets):
            for p in bucket.params:
                self._bucket_of[id(p)] = b
        self._reset_step()
        me = weakref.ref(self)
        for p in self._params:
            p.register_post_accumulate_grad_hook(_ready_hook(me, id(p)))

    # ---- setup ---------------------------------------------------------------------------
    def _check_same_model(self):
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in zip(self._param_names, self._params)]
        everyone = [None] * self.world_size
        dist.all_gather_object(everyone, mine, group=self.process_group)
        ref = everyone[0]
        for r, theirs in enumerate(everyone[1:], start=1):
            if len(theirs) != len(ref):
                raise RuntimeError(
                    f"DDP expects same model across all ranks, but Rank {r} has {len(theirs)} "
                    f"params, while rank 0 has inconsistent {len(ref)} params."
                )
            for a, b in zip(ref, theirs):
                if a != b:
                    raise RuntimeError(
                        f"DDP expects same model across all ranks, but rank {r} has parameter "
                        f"{b[0]} of shape {list(b[1])} and dtype {b[2]} where rank 0 has {a[0]} "
                        f"of shape {list(a[1])} and dtype {a[2]}."
                    )

    def _sync_from_rank0(self, tensors):
        """Broadcasts rank 0's values of ``tensors``, coalesced per dtype and device."""
        src = dist.get_global_rank(self.process_group, 0)
        for group in _by_kind(tensors):
            flat = ember.cat([t.detach().reshape(-1) for t in group])
            dist.broadcast(flat, src=src, group=self.process_group)
            _unflatten_into(flat, group)

    def _make_buckets(self):
        # Reverse registration order approximates the order gradients become ready.
        buckets, current, size, cap = [], [], 0, min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap)
        kind = None
        for p in reversed(self._params):
            nbytes = int(p.numel()) * p.element_size()
            k = (str(p.dtype), p.device.type)
            if current and (size + nbytes > cap or k != kind):
                buckets.append(_Bucket(current))
                current, size, cap = [], 0, self.bucket_bytes_cap
            current.append(p)
            size += nbytes
            kind = k
        if current:
            buckets.append(_Bucket(current))
        return buckets

    # ---- one step ------------------------------------------------------------------------
    def _reset_step(self):
        self._ready = set()
        self._next_bucket = 0
        self._pending = [0] * len(self._buckets)
        for b, bucket in enumerate(self._buckets):
            self._pending[b] = len(bucket.params)
            bucket.work = None
        self._callback_queued = False

    def _mark_ready(self, pid):
        if not self._sync_this_step or pid in self._ready:
            return
        if not self._callback_queued:
            self._callback_queued = True
            me = weakref.ref(self)
            ember._core._queue_callback(lambda: me() is not None and me()._finish_step())
        self._ready.add(pid)
        b = self._bucket_of[pid]
        self._pending[b] -= 1
        self._launch_ready()

    def _launch_ready(self):
        while self._next_bucket < len(self._buckets) and self._pending[self._next_bucket] == 0:
            self._launch(self._buckets[self._next_bucket])
            self._next_bucket += 1

    def _launch(self, bucket):
        # Only references here, on the backward pass; the copies run on the comm thread.
        grads = [p.grad if id(p) in self._ready else None for p in bucket.params]
        bucket.used = [g is not None for g in grads]
        # An unused parameter whose .grad is its bucket view: the bucket needs zeros there, its
        # .grad must keep its value should no rank have used it.
        bucket.kept = {
            i: p.grad.clone() for i, p in enumerate(bucket.params)
            if grads[i] is None and p.grad is not None and p.grad.data_ptr() == bucket.views[i].data_ptr()
        }

        def fill():
            with ember.no_grad():
                for g, view in zip(grads, bucket.views):
                    if g is None:
                        view.zero_()
                    elif g.data_ptr() != view.data_ptr():
                        view.copy_(g.detach())

        if self._comm_hook is not None:
            fill()  # the hook reads the bucket's buffer
            state, hook = self._comm_hook
            b = self._buckets.index(bucket)
            bucket.work = hook(state, GradBucket(b, bucket, b == len(self._buckets) - 1))
            if not hasattr(bucket.work, "wait"):
                raise RuntimeError(
                    "a DDP communication hook must return a Future (e.g. "
                    "dist.all_reduce(..., async_op=True).get_future()), got "
                    f"{type(bucket.work).__name__}"
                )
            return
        bucket.work = dist.distributed_c10d._all_reduce(
            bucket.flat, dist.ReduceOp.AVG, self.process_group, True, before=fill
        )

    def _finish_step(self):
        unused = [i for i, p in enumerate(self._params) if id(p) not in self._ready]
        if unused and not (self.find_unused_parameters or self.static_graph):
            # PyTorch reports this at the next forward; the launched buckets still finish.
            self._unfinished = [self._param_names[i] for i in unused]
        else:
            self._unfinished = None
            for i in unused:
                b = self._bucket_of[id(self._params[i])]
                self._pending[b] -= 1
            self._launch_ready()
        globally_used = self._global_use() if unused and self._unfinished is None else None
        for bucket in self._buckets[: self._next_bucket]:
            got = bucket.work.wait()
            if self._comm_hook is not None:
                self._take_hook_result(bucket, got)
            self._write_back(bucket, globally_used)
        self._reset_step()

    def register_comm_hook(self, state, hook):
        """Replaces the averaging all-reduce of each bucket with ``hook(state, bucket)``
        (PyTorch's DDP communication hooks): ``bucket`` is a ``GradBucket`` (``buffer()``,
        ``gradients()``, ``parameters()``, ``index()``, ``is_last()``), and the hook returns a
        Future (``Work.get_future()``, possibly chained with ``then``) whose value is the
        bucket's reduced flat tensor (or a one-tensor list), written into ``.grad``. Call it
        once, before the first backward."""
        if self._comm_hook is not None:
            raise RuntimeError("register_comm_hook or register_builtin_comm_hook can only be called once.")
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        self._comm_hook = (state, hook)

    def _take_hook_result(self, bucket, got):
        if isinstance(got, (list, tuple)):
            if len(got) != 1:
                raise RuntimeError(f"a DDP communication hook's future must hold one tensor, got {len(got)}")
            got = got[0]
        if not isinstance(got, ember.Tensor) or int(got.numel()) != int(bucket.flat.numel()):
            raise RuntimeError(
                "a DDP communication hook's future must hold the bucket's flat tensor of "
                f"{int(bucket.flat.numel())} elements, got {got!r:.80}"
            )
        if got.data_ptr() != bucket.flat.data_ptr():
            with ember.no_grad():
                bucket.flat.copy_(got.detach().reshape(-1).to(bucket.flat.dtype))

    def _global_use(self):
        """Which parameters some rank used this step (the others keep their ``.grad``)."""
        flags = ember.tensor([1 if id(p) in self._ready else 0 for p in self._params], dtype=ember.int32)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self.process_group)
        return {id(p) for p, f in zip(self._params, flags.tolist()) if f}

    def _write_back(self, bucket, globally_used):
        with ember.no_grad():
            for i, (p, avg) in enumerate(zip(bucket.params, bucket.views)):
                if globally_used is not None and id(p) not in globally_used:
                    if i in bucket.kept:
                        p.grad = bucket.kept[i]
                    continue
                g = p.grad
                if self.gradient_as_bucket_view:
                    if g is None or g.data_ptr() != avg.data_ptr():
                        p.grad = avg
                elif g is None:
                    p.grad = avg.clone()
                else:
                    g.copy_(avg)

    def forward(self, *inputs, **kwargs):
        unfinished = getattr(self, "_unfinished", None)
        if unfinished:
            self._unfinished = None
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` "
                "function outputs participate in calculating loss. Parameters which did not "
                f"receive grad for rank {dist.get_rank(self.process_group)}: "
                f"{', '.join(unfinished)}"
            )
        # As in PyTorch, whether the coming backward communicates is decided here, at forward.
        self._sync_this_step = self.require_backward_grad_sync and ember.is_grad_enabled()
        if self.broadcast_buffers:
            buffers = list(self.module.buffers())
            if buffers:
                self._sync_from_rank0(buffers)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside this block accumulate gradients locally, without
        communication; the first backward after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self):
        return f"world_size={self.world_size}, buckets={len(self._buckets)}"


class GradBucket:
    """One bucket as a DDP communication hook sees it (PyTorch's ``dist.GradBucket``)."""

    def __init__(self, index, bucket, last):
        self._index = index
        self._bucket = bucket
        self._last = last

    def index(self) -> int:
        return self._index

    def buffer(self):
        """The flat tensor of the bucket's gradients (this rank's, before any reduction)."""
        return self._bucket.flat

    def gradients(self):
        return list(self._bucket.views)

    def parameters(self):
        return list(self._bucket.params)

    def is_last(self) -> bool:
        return self._last

    def set_buffer(self, tensor):
        with ember.no_grad():
            self._bucket.flat.copy_(tensor.detach().reshape(-1))


def _ready_hook(me, pid):
    def hook(_param):
        ddp = me()
        if ddp is not None:
            ddp._mark_ready(pid)

    return hook


def _by_kind(tensors):
    groups = {}
    for t in tensors:
        groups.setdefault((str(t.dtype), t.device.type), []).append(t)
    return list(groups.values())


def _unflatten_into(flat, tensors):
    off = 0
    with ember.no_grad():
        for t in tensors:
            n = int(t.numel())
            t.copy_(flat[off:off + n].view(tuple(t.shape)))
            off += n
