"""Tests of DataLoader workers started with fork (the Linux default, as in PyTorch): local
datasets and lambdas work, a worker's CPU kernels run serially instead of deadlocking on the
parent's rayon pool, the GPU refuses to be used in a forked worker, and the other start
methods and the parent's own threads are unaffected.

Every loader that could hang has a ``timeout``, so a deadlock fails the test instead.
"""

import multiprocessing
import os
import sys

import numpy as np
import pytest

import ember
from ember.data import DataLoader, Dataset

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is the default on Linux only")

GPU = "gpu" in os.environ.get("EMBER_TEST_DEVICES", "cpu,gpu").split(",")

# Above the core's parallel thresholds (rust/cpu/strided.rs, reduce.rs, matmul.rs), so these
# take rayon's path in a process that may use threads.
BIG = 1 << 20
MATMUL_N = 256


def big_ops(seed):
    """Parallel-sized add, sum and matmul; returns them with NumPy's answers."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(BIG), rng.standard_normal(BIG)
    m = rng.standard_normal((MATMUL_N, MATMUL_N))
    ta, tb, tm = ember.tensor(a), ember.tensor(b), ember.tensor(m)
    got = ((ta + tb).sum().item(), (tm @ tm).numpy(), ta.sum().item())
    want = ((a + b).sum(), m @ m, a.sum())
    return got, want


def assert_big_ops(got, want):
    assert got[0] == pytest.approx(want[0], rel=1e-9, abs=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-9)
    assert got[2] == pytest.approx(want[2], rel=1e-9, abs=1e-6)


class BigOpsDataset(Dataset):
    """Module level, so spawn and forkserver workers can unpickle it too."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        got, want = big_ops(i)
        return {"got": got, "want": want, "threads": ember.get_num_threads(), "pid": os.getpid()}


def as_list(batch):
    return batch


@pytest.fixture(autouse=True)
def parent_used_the_pool():
    # The deadlock needs a parent whose rayon pool is running when it forks.
    assert_big_ops(*big_ops(100))


def test_default_start_method_is_fork():
    from ember.data.dataloader import _default_mp_context

    assert _default_mp_context().get_start_method() == "fork"


def test_local_dataset_and_lambda_transform_load_in_forked_workers():
    class Squares(Dataset):  # defined here: only fork can send it to a worker
        def __init__(self, transform):
            self.transform = transform

        def __len__(self):
            return 8

        def __getitem__(self, i):
            return self.transform(i)

    loader = DataLoader(Squares(lambda i: ember.tensor([i * i, os.getpid()])), batch_size=2, num_workers=2, timeout=60)
    batches = list(loader)
    values = [v for b in batches for v in b[:, 0].tolist()]
    pids = {p for b in batches for p in b[:, 1].tolist()}
    assert values == [i * i for i in range(8)]
    assert os.getpid() not in pids and len(pids) == 2


def test_forked_worker_runs_parallel_sized_kernels_serially():
    loader = DataLoader(BigOpsDataset(), batch_size=None, num_workers=2, collate_fn=as_list, timeout=60)
    items = list(loader)
    assert len(items) == 2
    for item in items:
        assert item["pid"] != os.getpid()
        assert item["threads"] == 1
        assert_big_ops(item["got"], item["want"])


def test_plain_fork_child_is_serial_and_does_not_deadlock():
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()

    def child():
        got, want = big_ops(7)
        results.put((ember.get_num_threads(), got, want))

    p = ctx.Process(target=child)
    p.start()
    try:
        threads, got, want = results.get(timeout=60)
    finally:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    assert threads == 1
    assert_big_ops(got, want)
    assert p.exitcode == 0


@pytest.mark.parametrize("method", ["spawn", "forkserver", "context"])
def test_other_start_methods_still_work_when_asked_for(method):
    ctx = multiprocessing.get_context("spawn") if method == "context" else method
    loader = DataLoader(BigOpsDataset(), batch_size=None, num_workers=1, collate_fn=as_list, multiprocessing_context=ctx, timeout=120)
    items = list(loader)
    assert loader.multiprocessing_context.get_start_method() == ("spawn" if method == "context" else method)
    assert len(items) == 2
    for item in items:
        # PyTorch runs every worker with one thread, whatever the start method.
        assert item["threads"] == 1
        assert_big_ops(item["got"], item["want"])


@pytest.mark.skipif(not GPU, reason="needs the GPU")
def test_gpu_in_forked_worker_raises_runtime_error():
    parent = ember.ones(4, device="gpu")
    assert parent.sum().item() == 4.0  # the parent has opened the device

    class MakesGpuTensors(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return ember.ones(2, device="gpu")

    with pytest.raises(RuntimeError, match="Cannot re-initialize the GPU in forked subprocess") as info:
        list(DataLoader(MakesGpuTensors(), num_workers=1, timeout=60))
    assert "'spawn' start method" in str(info.value)

    class ReadsParentTensor(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return parent.cpu()  # reads a buffer of the parent's device

    with pytest.raises(RuntimeError, match="Cannot re-initialize the GPU in forked subprocess"):
        list(DataLoader(ReadsParentTensor(), num_workers=1, timeout=60))

    class ChangesParentTensor(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            parent.add_(parent)  # in place on two parent buffers: refused at the op, not at a later read
            return ember.zeros(1)

    with pytest.raises(RuntimeError, match="Cannot re-initialize the GPU in forked subprocess"):
        list(DataLoader(ChangesParentTensor(), num_workers=1, timeout=60))

    # The parent's device is untouched by all this.
    assert (parent * 2).sum().item() == 8.0


def test_parent_keeps_its_threads_after_forked_workers():
    before = ember.get_num_threads()
    list(DataLoader(BigOpsDataset(), batch_size=None, num_workers=2, collate_fn=as_list, timeout=60))
    assert ember.get_num_threads() == before
    if (os.cpu_count() or 1) > 1 and "RAYON_NUM_THREADS" not in os.environ:
        assert before > 1
    assert_big_ops(*big_ops(3))


def test_set_num_threads_limits_and_restores():
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        assert ember.get_num_threads() == 1
        assert_big_ops(*big_ops(4))
        ember.set_num_threads(2)
        assert ember.get_num_threads() == min(2, before)
        assert_big_ops(*big_ops(5))
    finally:
        ember.set_num_threads(before)
    assert ember.get_num_threads() == before
    with pytest.raises(RuntimeError, match="set_num_threads expects a positive integer"):
        ember.set_num_threads(0)
