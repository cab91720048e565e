"""A program's plumbing as PyTorch programs set it up: settings, printing, RNG state,
accelerator, backends flags, compile/jit/onnx, hub from a local directory, multiprocessing."""

import os
import textwrap

import numpy as np
import pytest

import ember
import ember.backends
import ember.hub
import ember.jit
import ember.onnx
import ember.random
from ember import nn


def test_deterministic_and_matmul_precision_settings():
    assert ember.are_deterministic_algorithms_enabled() is False
    ember.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert ember.are_deterministic_algorithms_enabled() is True
        assert ember.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        ember.use_deterministic_algorithms(False)
    with pytest.raises(TypeError):
        ember.use_deterministic_algorithms("yes")
    assert ember.get_float32_matmul_precision() == "highest"
    assert ember.backends.cuda.matmul.allow_tf32 is False
    ember.set_float32_matmul_precision("high")
    try:
        assert ember.backends.cuda.matmul.allow_tf32 is True
        ember.backends.cuda.matmul.allow_tf32 = False
        assert ember.get_float32_matmul_precision() == "highest"
    finally:
        ember.set_float32_matmul_precision("highest")
    with pytest.raises(RuntimeError, match="Invalid float32 matmul precision"):
        ember.set_float32_matmul_precision("low")
    assert ember.backends.cudnn.is_available() is False and ember.backends.mps.is_available() is False
    ember.backends.cudnn.benchmark = True  # programs set it; it must stay settable
    assert ember.backends.cudnn.benchmark is True
    ember.backends.cudnn.benchmark = False


def test_compile_runs_the_model_as_it_is():
    model = nn.Linear(3, 2)
    assert ember.compile(model) is model
    assert ember.compile(model, mode="max-autotune", fullgraph=True) is model

    @ember.compile
    def double(x):
        return x * 2

    @ember.compile(dynamic=True)
    def triple(x):
        return x * 3

    assert double(ember.ones(2)).tolist() == [2.0, 2.0] and triple(ember.ones(1)).tolist() == [3.0]
    with pytest.raises(RuntimeError, match="Either mode or options"):
        ember.compile(model, mode="default", options={})


def test_printoptions():
    x = ember.tensor([1.23456, 2.5])
    try:
        ember.set_printoptions(precision=2)
        assert repr(x) == "tensor([1.23, 2.50])"
        ember.set_printoptions(sci_mode=True)
        assert "e+00" in repr(x)
        ember.set_printoptions(profile="default", threshold=5, edgeitems=2)
        assert "..." in repr(ember.arange(10.0)) and repr(ember.arange(10.0)).count(",") == 4
        ember.set_printoptions(profile="full")
        assert "..." not in repr(ember.zeros(3000))
        with pytest.raises(ValueError, match="profile"):
            ember.set_printoptions(profile="long")
    finally:
        ember.set_printoptions(profile="default")
    assert repr(x) == "tensor([1.2346, 2.5000])"
    assert ember.get_printoptions()["precision"] == 4


def test_rng_state_round_trip_and_fork_rng():
    ember.manual_seed(7)
    state = ember.get_rng_state()
    a = ember.rand(5)
    ember.set_rng_state(state)
    np.testing.assert_array_equal(ember.rand(5).numpy(), a.numpy())
    before = ember.get_rng_state()
    with ember.random.fork_rng():
        ember.rand(100)
    np.testing.assert_array_equal(ember.get_rng_state().numpy(), before.numpy())
    assert isinstance(ember.random.seed(), int) and ember.random.initial_seed() >= 0
    with pytest.raises(TypeError):
        ember.set_rng_state([1, 2])


def test_accelerator_answers_as_ember_gpu():
    import ember.accelerator as acc

    assert acc.is_available() == ember.gpu.is_available()
    assert acc.device_count() == ember.gpu.device_count()
    if acc.is_available():
        assert acc.current_accelerator().type == "gpu"
        assert acc.current_device_index() == ember.gpu.current_device()
        acc.synchronize()
    else:
        assert acc.current_accelerator() is None


def test_jit_script_and_trace_run_eagerly_and_refuse_to_save(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    x = ember.randn(5, 3)
    for scripted in (ember.jit.script(model), ember.jit.trace(model, (x,))):
        np.testing.assert_array_equal(scripted(x).detach().numpy(), model(x).detach().numpy())
        assert scripted.state_dict().keys() == model.state_dict().keys()
        assert scripted[0].weight is model[0].weight  # the same parameters, as a ScriptModule's
        with pytest.raises(RuntimeError, match="no TorchScript graph to save"):
            scripted.save(str(tmp_path / "m.pt"))
    f = ember.jit.script(lambda t: t + 1)
    assert f(ember.ones(1)).item() == 2.0
    assert not (tmp_path / "m.pt").exists()
    assert hasattr(model, "save") is False  # the original is left as it was


def test_onnx_imports_and_export_raises_one_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="graph capture"):
        ember.onnx.export(nn.Linear(2, 2), (ember.ones(1, 2),), str(tmp_path / "m.onnx"))
    assert not (tmp_path / "m.onnx").exists()
    assert issubclass(ember.onnx.OnnxExporterError, RuntimeError)


def test_hub_from_a_local_directory(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "mymodels.py").write_text("from ember import nn\nclass Tiny(nn.Module):\n"
                                      "    def __init__(self, width):\n        super().__init__()\n"
                                      "        self.fc = nn.Linear(2, width)\n"
                                      "    def forward(self, x):\n        return self.fc(x)\n")
    (repo / "hubconf.py").write_text(textwrap.dedent('''
        dependencies = ["ember"]
        from mymodels import Tiny

        def tiny(width=3):
            """A tiny model."""
            return Tiny(width)
    '''))
    assert "tiny" in ember.hub.list(str(repo), source="local")
    assert ember.hub.help(str(repo), "tiny", source="local") == "A tiny model."
    model = ember.hub.load(str(repo), "tiny", width=5, source="local")
    assert model(ember.ones(1, 2)).shape == (1, 5)
    with pytest.raises(RuntimeError, match="Cannot find callable missing"):
        ember.hub.load(str(repo), "missing", source="local")
    with pytest.raises(ValueError, match="Unknown source"):
        ember.hub.load(str(repo), "tiny", source="s3")
    with pytest.raises(FileNotFoundError, match="hubconf.py"):
        ember.hub.load(str(tmp_path), "tiny", source="local")

    ckpt = tmp_path / "w.safetensors"
    ember.save({"w": ember.arange(3.0)}, ckpt)
    got = ember.hub.load_state_dict_from_url(ckpt.as_uri(), model_dir=str(tmp_path / "cache"), progress=False)
    assert got["w"].tolist() == [0.0, 1.0, 2.0]
    assert (tmp_path / "cache" / "w.safetensors").exists()


def _writes_its_rank(i, folder):
    with open(os.path.join(folder, f"rank{i}"), "w") as f:
        f.write(str(ember.tensor([float(i)]).sum().item()))


def _fails_on_one(i):
    if i == 1:
        raise ValueError("rank one refuses")


def test_multiprocessing_spawn_and_sharing_strategy(tmp_path):
    import ember.multiprocessing as mp

    mp.spawn(_writes_its_rank, args=(str(tmp_path),), nprocs=2)
    assert sorted(os.listdir(tmp_path)) == ["rank0", "rank1"]
    assert (tmp_path / "rank1").read_text() == "1.0"
    with pytest.raises(mp.ProcessRaisedException, match="rank one refuses") as info:
        mp.spawn(_fails_on_one, nprocs=2)
    assert info.value.error_index == 1
    assert mp.get_sharing_strategy() in mp.get_all_sharing_strategies()
    with pytest.raises(ValueError, match="Unknown sharing strategy"):
        mp.set_sharing_strategy("shared_pony")
    assert mp.get_context("spawn").get_start_method() == "spawn"  # the standard module's API


def test_import_ember_stays_light():
    """`import ember` loads no NumPy, MPI or lazily-loaded module: it must stay milliseconds."""
    import subprocess
    import sys

    code = ("import sys, ember\n"
            "heavy = [m for m in ('numpy', 'mpi4py', 'ember.distributed', 'ember.data', 'ember.jit', 'ember.hub',\n"
            "         'ember.multiprocessing', 'ember.backends') if m in sys.modules]\n"
            "print(heavy)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]", p.stdout
