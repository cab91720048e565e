"""Tensors as MPI buffers: a contiguous CPU tensor lends its own memory (zero-copy through
``numpy()``); a GPU, strided or bfloat16 tensor is staged through a host copy that is written
back when the operation is done. Reductions of 16-bit floats run in float32 (MPI has no
half-precision arithmetic), which is also more accurate than summing in 16 bits."""

from __future__ import annotations


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
        a = d.numpy().reshape(-1)  # huge pages already: ember's allocator asks for them
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
