"""ember.gpu: the wgpu devices (Vulkan, Metal, DX12, OpenGL) — torch.cuda's counterpart.

``EMBER_GPU`` picks the backend (``vulkan``, ``metal``, ``dx12``, ``gl``, comma-separated) or an
adapter whose name contains the given text. ``ember.cuda`` is this module too, so ported code
that asks ``torch.cuda.is_available()`` keeps working.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

from . import _core
from ._core import OutOfMemoryError  # torch.cuda.OutOfMemoryError is torch.OutOfMemoryError


def _index(device: Union[None, int, str, "_core.device"] = None) -> int:
    if device is None:
        return _core.gpu_current()
    if isinstance(device, int):
        return device
    d = _core.device(device) if isinstance(device, str) else device
    if d.type != "gpu":
        raise ValueError(f"Expected a gpu device, but got: {d}")
    return d.index or 0


def device_count() -> int:
    """The number of GPU adapters ember sees (software ones included)."""
    return _core.gpu_device_count()


def is_available() -> bool:
    """Whether ``device="gpu"`` works: at least one adapter, possibly a software one."""
    return device_count() > 0


def is_software(device=None) -> bool:
    """Whether the adapter is a CPU rasteriser (lavapipe, llvmpipe, WARP): correct but slow."""
    return _core.gpu_adapter(_index(device))[2]


def get_device_name(device=None) -> str:
    return _core.gpu_adapter(_index(device))[0]


class DeviceProperties(NamedTuple):
    name: str
    backend: str
    is_software: bool
    has_float16: bool
    has_float64: bool
    max_tensor_bytes: int


def get_device_properties(device=None) -> DeviceProperties:
    i = _index(device)
    name, backend, software = _core.gpu_adapter(i)
    f16, f64, max_bytes = _core.gpu_capabilities(i)
    return DeviceProperties(name, backend, software, f16, f64, max_bytes)


def current_device() -> int:
    """The adapter a bare ``"gpu"`` (or ``"cuda"``) means in this process."""
    return _core.gpu_current()


def set_device(device) -> None:
    """Makes ``device`` (an index, ``"gpu:1"``, an ``ember.device``) the adapter a bare ``"gpu"``
    means, as ``torch.cuda.set_device``: the usual first line of a one-process-per-GPU script,
    ``set_device(local_rank)``. A negative index does nothing, as in PyTorch."""
    i = _index(device)
    if i >= 0:
        _core.gpu_set_current(i)


class device:
    """``with ember.gpu.device(1):`` runs the block with ``"gpu"`` meaning adapter 1 (as
    ``torch.cuda.device``), and restores the previous choice after it."""

    def __init__(self, device):
        self.index = _index(device) if device is not None else -1
        self.previous = -1

    def __enter__(self):
        self.previous = current_device()
        set_device(self.index)
        return self

    def __exit__(self, *exc):
        set_device(self.previous)
        return False


def synchronize(device=None) -> None:
    """Waits until all work recorded on the device has finished."""
    _core.gpu_synchronize(_index(device))


def memory_allocated(device=None) -> int:
    """Bytes held by live tensors on the device."""
    return _core.gpu_memory_stats(_index(device))[0]


def max_memory_allocated(device=None) -> int:
    """The peak of ``memory_allocated`` since start or ``reset_peak_memory_stats``."""
    return _core.gpu_memory_stats(_index(device))[1]


def memory_reserved(device=None) -> int:
    """Bytes held by live tensors plus the pool's cached free buffers."""
    allocated, _, cached = _core.gpu_memory_stats(_index(device))
    return allocated + cached


def empty_cache(device: Optional[int] = None) -> None:
    """Returns the pool's cached free buffers to the driver."""
    _core.gpu_empty_cache(_index(device))


def reset_peak_memory_stats(device=None) -> None:
    _core.gpu_reset_peak(_index(device))


def manual_seed(seed: int) -> None:
    """Seeds the generator GPU tensors draw from (the same one as the CPU's)."""
    from . import manual_seed as _seed

    _seed(seed)


manual_seed_all = manual_seed


def _stream_counts(device=None) -> dict:
    """Kernels dispatched, batches submitted and host waits on `device` since it opened.

    Not part of torch.cuda: ember's own view of what a piece of work costs the stream, for
    benchmarks and for tests that hold fused paths to their dispatch counts.
    """
    dispatches, submits, waits = _core.gpu_stream_counts(_index(device))
    return {"dispatches": dispatches, "submits": submits, "waits": waits}


def _profile(device=None, reset: bool = False) -> list:
    """GPU time per kernel, longest first: [(kernel, dispatches, milliseconds)].

    Filled only when the process starts with EMBER_GPU_PROFILE=1 (each dispatch is then timed
    with GPU timestamps and the stream waits after every batch); empty otherwise.
    """
    return _core.gpu_profile(_index(device), reset)
