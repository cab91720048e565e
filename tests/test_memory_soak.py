"""A short memory soak: a thousand training steps of a small MLP must not grow the process's
resident memory (CPU) or the bytes live tensors hold on the device (GPU). A leak of one small
tensor per step would exceed the tolerances below."""

import gc
import math

import pytest

import ember
from conftest import DEVICES


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _train(device, steps):
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(32, 64), ember.nn.ReLU(), ember.nn.Linear(64, 10)).to(device)
    opt = ember.optim.Adam(model.parameters(), lr=1e-3)
    x = ember.randn(64, 32, device=device)
    y = ember.randint(0, 10, (64,), device=device)
    loss_fn = ember.nn.CrossEntropyLoss()

    def run(n):
        for _ in range(n):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return float(loss)
    return run


@pytest.mark.parametrize("device", DEVICES)
def test_a_thousand_training_steps_hold_memory_flat(device):
    run = _train(device, 1000)
    run(100)  # warm-up: the pool, the optimizer state and the allocator settle
    gc.collect()
    rss0 = _rss_bytes()
    gpu0 = ember.gpu.memory_allocated() if device != "cpu" else 0
    first = run(900)
    gc.collect()
    if device != "cpu":
        ember.gpu.synchronize()
        grown = ember.gpu.memory_allocated() - gpu0
        # One leaked [64, 64] float32 tensor per step would be 900 * 16 KiB = 14 MiB.
        assert grown <= 256 * 1024, f"GPU bytes in use grew by {grown} over 900 steps"
    grown_rss = _rss_bytes() - rss0
    assert grown_rss <= 8 * 1024 * 1024, f"resident memory grew by {grown_rss} bytes over 900 steps"
    assert math.isfinite(first)
