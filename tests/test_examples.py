"""The runnable examples at reduced size: the digits main job and the character-level LM."""

import json
import os
import struct

import pytest

import ember
from ember.examples import charlm, digits


def test_digits_example_trains_saves_and_plots(tmp_path):
    out = tmp_path / "digits"
    history = digits.main(["--epochs", "2", "--batch-size", "64", "--out", str(out), "--device", "cpu", "--seed", "1"])
    assert len(history) == 2
    # Two short epochs already learn far more than chance (10%).
    assert history[-1]["test_acc"] > 0.5
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    ckpt = out / "checkpoint.safetensors"
    state = ember.load(ckpt)
    model = digits.make_model()
    model.load_state_dict(state["model"])
    assert state["epochs"] == 2 and len(state["history"]) == 2
    png = (out / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 100 and height > 100
    assert json.loads((out / "history.json").read_text())[-1]["epoch"] == 2


def test_digits_max_batches_limits_an_epoch(tmp_path):
    history = digits.main(["--epochs", "1", "--max-batches", "3", "--out", str(tmp_path), "--device", "cpu"])
    assert len(history) == 1 and 0.0 <= history[0]["test_acc"] <= 1.0


def test_digits_device_flag_rejects_unknown_devices(tmp_path):
    with pytest.raises(RuntimeError, match="device"):
        digits.main(["--epochs", "1", "--max-batches", "1", "--out", str(tmp_path), "--device", "tpu"])


def test_charlm_learns_and_resumes(tmp_path, capsys):
    args = ["--steps", "30", "--batch-size", "8", "--seq-len", "16", "--d-model", "32", "--layers", "1", "--heads", "2", "--sample-every", "15", "--out", str(tmp_path), "--device", "cpu"]
    loss = charlm.main(args)
    text, chars = charlm.load_corpus()
    # Uniform guessing over the vocabulary costs ln(V); 30 steps must already beat it.
    import math

    assert loss < math.log(len(chars))
    printed = capsys.readouterr().out
    assert "sample:" in printed and "step 30" in printed
    state = ember.load(os.path.join(tmp_path, "checkpoint.safetensors"))
    assert state["step"] == 30
    resumed = charlm.main(args[:1] + ["40"] + args[2:] + ["--resume"])
    printed = capsys.readouterr().out
    assert "resumed from" in printed and "step 40" in printed
    assert ember.load(os.path.join(tmp_path, "checkpoint.safetensors"))["step"] == 40
    assert resumed == resumed  # a finite loss
