"""Tensors as MPI buffers: a contiguous CPU tensor lends its own memory (zero-copy through
``numpy()``); a GPU, strided or bfloat16 tensor is staged through a host copy that is written
back when the operation is done. Reductions of 16-bit floats run in float32 (MPI has no
half-precision arithmetic), which is also more accurate than summing in 16 bits."""

from __future__ import annotations

import collections
import ctypes
import sys
import threading

import numpy as np

import ember

# Dtype codes travel in the cross-rank consistency check.
DTYPE_CODES = {
    "bool": 1,
    "int32": 2,
    "int64": 3,
    "float16": 4,
    "bfloat16": 5,
    "float32": 6,
    "float64": 7,
}


def dtype_name(t) -> str:
    return str(t.dtype).rsplit(".", 1)[-1]


class Staged:
    """A host buffer for ``tensor``; ``finish()`` writes it back when it is not the tensor's
    own memory."""

    __slots__ = ("tensor", "array", "own")

    def __init__(self, tensor, array, own):
        self.tensor = tensor
        self.array = array
        self.own = own

    def finish(self):
        if not self.own:
            write(self.tensor, self.array)


def wire_dtype(name: str, reduce: bool):
    """The element type a tensor of dtype ``name`` travels as: the same on every rank whatever
    the tensor's device or layout, so the ranks' buffers always agree."""
    if name == "bfloat16" or (reduce and name == "float16"):
        return np.float32
    if name == "float16":
        return np.uint16  # moved as raw bits: MPI has no float16 type
    return {"bool": np.bool_, "int32": np.int32, "int64": np.int64, "float32": np.float32,
            "float64": np.float64}[name]


def stage(t, reduce: bool = False, fresh: bool = False) -> Staged:
    """A flat host buffer holding ``t``'s values in its wire type. ``reduce``: MPI will do
    arithmetic on it. ``fresh``: the values are not needed (the tensor only receives)."""
    name = dtype_name(t)
    wire = wire_dtype(name, reduce)
    d = t.detach()
    if d.device.type == "cpu" and d.is_contiguous() and name != "bfloat16":
        a = d.numpy().reshape(-1)
        if a.nbytes >= _HUGE_MIN:
            huge_pages(a)
        if a.dtype == wire:
            return Staged(t, a, True)
        if a.dtype == np.float16 and wire == np.uint16:
            return Staged(t, a.view(np.uint16), True)
    if fresh:
        return Staged(t, np.empty(d.numel(), wire), False)
    if name == "bfloat16":
        d = d.float()
    a = np.ascontiguousarray(d.cpu().numpy()).reshape(-1)
    a = a.view(wire) if wire == np.uint16 else a.astype(wire, copy=True)
    return Staged(t, a, False)


def write(t, values: np.ndarray):
    """Copies flat host ``values`` (in ``t``'s wire type) into tensor ``t``."""
    if values.dtype == np.uint16:
        values = values.view(np.float16)
    src = ember.from_numpy(np.ascontiguousarray(values).reshape(tuple(t.shape)))
    with ember.no_grad():
        t.copy_(src)


# --- transparent huge pages -----------------------------------------------------------------
# MPI moves a large buffer between processes of one machine with the kernel (CMA,
# process_vm_readv), page by page: on 4 KB pages that costs far more than on 2 MB ones. NumPy
# asks for huge pages for its large arrays (madvise), ember's allocator does not, so on the
# same machine mpi4py's Allreduce of a NumPy array ran 1.3x to 3x faster than of an ember
# tensor of the same size. A large tensor that is communicated a second time (a bucket, a
# persistent buffer: the first sighting may be a one-off) has its pages collapsed into huge
# ones (MADV_COLLAPSE, Linux 6.1+; the values stay as they are), once.

_HUGE_MIN = 4 << 20  # NumPy's threshold for asking for huge pages
_HUGE = 2 << 20
_MADV_HUGEPAGE = 14
_MADV_COLLAPSE = 25
_seen: "collections.OrderedDict[tuple[int, int], bool]" = collections.OrderedDict()
_seen_lock = threading.Lock()
_madvise = None
_huge_ok = sys.platform.startswith("linux")


def _libc_madvise():
    global _madvise, _huge_ok
    if _madvise is None:
        try:
            with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
                if "[never]" in f.read():
                    raise OSError("transparent huge pages are off")
            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.madvise
            fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            fn.restype = ctypes.c_int
            _madvise = fn
        except (OSError, AttributeError):
            _huge_ok = False
    return _madvise


def huge_pages(a: np.ndarray) -> None:
    """Backs ``a``'s whole 2 MB pages with huge pages, the second time it is seen."""
    if not _huge_ok:
        return
    start = a.ctypes.data
    lo = (start + _HUGE - 1) & ~(_HUGE - 1)
    hi = (start + a.nbytes) & ~(_HUGE - 1)
    if hi - lo < _HUGE:
        return
    key = (lo, hi)
    with _seen_lock:
        state = _seen.get(key)
        if state is None:
            _seen[key] = False
            if len(_seen) > 256:
                _seen.popitem(last=False)
            return
        _seen.move_to_end(key)
        if state:
            return
        _seen[key] = True
    madvise = _libc_madvise()
    if madvise is None:
        return
    # Where the kernel refuses (an old kernel, a policy), nothing changes but the speed.
    if madvise(lo, hi - lo, _MADV_HUGEPAGE) == 0:
        madvise(lo, hi - lo, _MADV_COLLAPSE)
