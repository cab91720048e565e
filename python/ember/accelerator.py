"""``ember.accelerator`` (torch.accelerator): the device-agnostic view of the GPU backend, so
code written for "whatever accelerator is present" finds ember's wgpu adapters."""

from . import _core, gpu


def is_available():
    return gpu.is_available()


def current_accelerator(check_available=False):
    """``ember.device('gpu')`` where an adapter exists; None otherwise (as PyTorch)."""
    if not gpu.is_available():
        return None
    return _core.device("gpu", gpu.current_device())


def device_count():
    return gpu.device_count()


def current_device_index():
    return gpu.current_device()


def set_device_index(device):
    gpu.set_device(device)


current_device_idx = current_device_index
set_device_idx = set_device_index


def device_index(device):
    """``with ember.accelerator.device_index(i):`` as ``ember.gpu.device(i)``."""
    return gpu.device(device)


def synchronize(device=None):
    gpu.synchronize(device)
