"""ember.save / ember.load: nested checkpoints (model + optimizer state + plain values) round
trip exactly, writes are atomic, corrupt and truncated files raise RuntimeError, files of
tensors are plain safetensors; and an end-to-end run: an MLP trained on sklearn's digits reaches
held-out accuracy >= 0.9, is checkpointed, and resumes identically."""

import os
import time

import numpy as np
import pytest

import ember
from ember import nn, optim


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)


def A(t):
    return np.array(t.detach().cpu().float().numpy() if t.dtype == ember.bfloat16 else t.detach().cpu().numpy(), copy=True)


def _mlp(d_in=64, hidden=64, d_out=10):
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.LayerNorm(hidden), nn.Linear(hidden, d_out))


def _train_steps(model, opt, x, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def test_nested_checkpoint_round_trip(tmp_path, device):
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 2)).to(device)
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    x, y = ember.randn(8, 4).to(device), ember.tensor([0, 1, 1, 0, 1, 0, 0, 1]).to(device)
    _train_steps(model, opt, x, y, 2)
    tensors = {
        "f32": ember.randn(2, 3), "f64": ember.randn(3, dtype=ember.float64), "i64": ember.arange(5),
        "i32": ember.arange(4, dtype=ember.int32), "bool": ember.tensor([True, False, True]),
        "f16": ember.randn(4).half(), "bf16": ember.randn(4).to(ember.bfloat16),
        "view": ember.arange(12).reshape(3, 4).t(),  # non-contiguous
    }
    ckpt = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7, "best": 0.25,
        "meta": {"name": "run-1", "lrs": [0.1, 0.01], "pair": (1, 2.5), "none": None, "flag": True, 3: "int key"},
        "tensors": tensors, "list_of_tensors": [ember.ones(2), ember.zeros(1)],
    }
    path = tmp_path / "ckpt.ember"
    ember.save(ckpt, path)
    back = ember.load(path)
    assert back["epoch"] == 7 and back["best"] == 0.25
    assert back["meta"] == {"name": "run-1", "lrs": [0.1, 0.01], "pair": (1, 2.5), "none": None, "flag": True, 3: "int key"}
    assert isinstance(back["meta"]["pair"], tuple) and isinstance(back["meta"]["lrs"], list)
    for k, t in tensors.items():
        assert back["tensors"][k].dtype == t.dtype, k
        assert tuple(back["tensors"][k].shape) == tuple(t.shape), k
        np.testing.assert_array_equal(A(back["tensors"][k]), A(t), err_msg=k)
    assert [A(t).tolist() for t in back["list_of_tensors"]] == [[1.0, 1.0], [0.0]]
    assert list(back["model"]) == list(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(A(back["model"][k]), A(v), err_msg=k)
    sd = opt.state_dict()
    assert set(back["optimizer"]["state"]) == set(sd["state"]) == {0, 1, 2, 3, 4, 5}, "integer keys stay integers"
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["optimizer"]["param_groups"][0]["amsgrad"] is True
    assert back["optimizer"]["state"][0]["step"] == 2
    np.testing.assert_array_equal(A(back["optimizer"]["state"][2]["max_exp_avg_sq"]), A(sd["state"][2]["max_exp_avg_sq"]))
    # A fresh model loads the state and computes the same function.
    fresh = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 2)).to(device)
    fresh.load_state_dict(back["model"])
    model.eval()
    fresh.eval()
    np.testing.assert_array_equal(A(fresh(x)), A(model(x)))


def test_zero_dim_tensor_round_trip(tmp_path):
    path = tmp_path / "scalar.ember"
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    model(ember.randn(4, 2))
    ember.save({"loss": ember.tensor(2.5), "model": model.state_dict()}, path)
    back = ember.load(path)
    assert tuple(back["loss"].shape) == () and back["loss"].item() == 2.5
    fresh = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    fresh.load_state_dict(back["model"])  # num_batches_tracked is 0-dim
    assert fresh[1].num_batches_tracked.item() == 1


def test_resume_from_checkpoint_is_identical(tmp_path, device):
    rng = np.random.default_rng(0)
    x = ember.from_numpy(rng.standard_normal((32, 6)).astype(np.float32)).to(device)
    y = ember.from_numpy(rng.integers(0, 3, 32)).to(device)
    for make_opt in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), lambda p: optim.AdamW(p, lr=0.01), lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True)):
        model = _mlp(6, 8, 3).to(device)
        opt = make_opt(model.parameters())
        _train_steps(model, opt, x, y, 3)
        path = tmp_path / "resume.ember"
        ember.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
        _train_steps(model, opt, x, y, 3)
        ck = ember.load(path)
        model2 = _mlp(6, 8, 3).to(device)
        model2.load_state_dict(ck["model"])
        opt2 = make_opt(model2.parameters())
        opt2.load_state_dict(ck["opt"])
        _train_steps(model2, opt2, x, y, 3)
        for (name, p), q in zip(model.named_parameters(), model2.parameters()):
            np.testing.assert_allclose(A(q), A(p), rtol=1e-6, atol=1e-7, err_msg=f"{type(opt).__name__} {name}")


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    ember.save({"w": ember.ones(3)}, path)
    assert os.listdir(tmp_path) == ["model.safetensors"]
    ember.save({"w": ember.zeros(3)}, str(path))  # overwrite, path given as str
    assert os.listdir(tmp_path) == ["model.safetensors"]
    np.testing.assert_array_equal(A(ember.load(path)["w"]), np.zeros(3))
    # A value that cannot be stored: nothing is written, the old file is intact.
    with pytest.raises(TypeError):
        ember.save({"w": ember.ones(3), "bad": object()}, path)
    assert os.listdir(tmp_path) == ["model.safetensors"]
    np.testing.assert_array_equal(A(ember.load(path)["w"]), np.zeros(3))
    # A failure at the final rename: the temporary file is removed and the old file survives.
    import ember.serialization as ser

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(ser.os, "replace", boom)
    with pytest.raises(OSError):
        ember.save({"w": ember.full((3,), 5.0)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.safetensors"]
    np.testing.assert_array_equal(A(ember.load(path)["w"]), np.zeros(3))


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_corrupt_and_truncated_files_raise_runtime_error(tmp_path):
    good = tmp_path / "good.ember"
    ember.save({"a": ember.randn(16, 16), "b": {"c": ember.arange(10)}, "n": 3}, good)
    raw = good.read_bytes()
    cases = {
        "empty": b"",
        "tiny": raw[:5],
        "header_cut": raw[:40],
        "data_cut": raw[:-100],
        "one_byte_short": raw[:-1],
        "huge_header_len": (10**12).to_bytes(8, "little") + raw[8:],
        "garbage_header": raw[:8] + b"\xff" * (len(raw) - 8),
        "random": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "text": b"this is not a checkpoint at all, just some text that is long enough",
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.ember"
        _write(p, data)
        with pytest.raises(RuntimeError):
            ember.load(p)
    with pytest.raises(FileNotFoundError):
        ember.load(tmp_path / "missing.ember")
    assert ember.load(good)["n"] == 3  # the good file still loads


def test_files_are_plain_safetensors(tmp_path):
    from safetensors.numpy import load_file, save_file

    model = nn.Linear(3, 2)
    path = tmp_path / "linear.safetensors"
    ember.save(model.state_dict(), path)
    arrays = load_file(str(path))
    assert set(arrays) == {"weight", "bias"}
    np.testing.assert_array_equal(arrays["weight"], A(model.weight))
    # A safetensors file written by another tool loads as a flat dict of tensors.
    other = tmp_path / "other.safetensors"
    save_file({"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([1, 2], dtype=np.int64)}, str(other))
    back = ember.load(other)
    assert sorted(back) == ["x", "y"] and back["y"].dtype == ember.int64
    np.testing.assert_array_equal(A(back["x"]), np.arange(6).reshape(2, 3))


def test_mlp_on_digits_reaches_90_percent_and_survives_a_checkpoint(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(X))
    X, y = X[perm], y[perm]
    n_train = 1400
    xtr, ytr = ember.from_numpy(X[:n_train]), ember.from_numpy(y[:n_train])
    xte, yte = ember.from_numpy(X[n_train:]), y[n_train:]
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=15)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    batch = 100
    for epoch in range(15):
        model.train()
        order = ember.randperm(n_train)
        for i in range(0, n_train, batch):
            idx = order[i: i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        sched.step()
    elapsed = time.perf_counter() - start
    model.eval()
    with ember.no_grad():
        pred = A(model(xte).argmax(dim=1))
    acc = float((pred == yte).mean())
    assert acc >= 0.9, f"held-out accuracy {acc:.3f} after {elapsed:.1f} s"
    assert loss.item() < 0.5
    path = tmp_path / "digits.ember"
    ember.save({"model": model.state_dict(), "acc": acc}, path)
    fresh = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))
    ck = ember.load(path)
    fresh.load_state_dict(ck["model"])
    fresh.eval()
    with ember.no_grad():
        pred2 = A(fresh(xte).argmax(dim=1))
    assert ck["acc"] == acc and np.array_equal(pred, pred2)
