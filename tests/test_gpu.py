"""The GPU backend itself: devices, transfers, memory, limits and the errors it raises.

Op-by-op agreement with the CPU lives in test_gpu_ops.py (and every op test runs on "gpu" through
the ``device`` fixture); here are the properties only a GPU has.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import nn

PYTHON = sys.executable


def _run(code, **env):
    """Runs ``code`` in a fresh interpreter (a new adapter choice) and returns its stdout."""
    full_env = dict(os.environ, **env)
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=full_env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_device_queries_and_cuda_alias():
    assert ember.gpu.is_available() and ember.gpu.device_count() >= 1
    props = ember.gpu.get_device_properties(0)
    assert props.name == ember.gpu.get_device_name() and props.backend in {"vulkan", "metal", "dx12", "gl"}
    assert isinstance(ember.gpu.is_software(), bool)
    assert ember.cuda is ember.gpu
    t = ember.ones(2, device="cuda")
    assert t.device == ember.device("gpu:0") and t.device.type == "gpu"
    with pytest.raises(RuntimeError, match="gpu:7"):
        ember.zeros(1, device="gpu:7")


def test_transfers_round_trip_every_dtype():
    values = {
        ember.float32: [1.5, -2.25, 3e38],
        ember.float64: [1.0 / 3.0, -1e300, 2.0**-1000],
        ember.int32: [2**31 - 1, -(2**31), 7],
        ember.int64: [2**62 + 1, -(2**40) - 3, 5],
        ember.bool: [True, False, True],
        ember.float16: [0.5, -65504.0, 1.0],
    }
    for dtype, v in values.items():
        if dtype == ember.float64 and not ember.gpu.get_device_properties().has_float64:
            continue
        t = ember.tensor(v, dtype=dtype)
        g = t.to("gpu")
        assert g.device.type == "gpu" and g.dtype == dtype
        assert g.cpu().tolist() == t.tolist(), dtype
        assert g.tolist() == t.tolist()
    # Views travel as their own elements.
    x = ember.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(x.t()[1:].to("gpu").cpu().numpy(), x.t()[1:].numpy())


def test_int64_values_are_exact_on_the_gpu():
    big = [2**53 + 1, -(2**61) + 7, 2**62 - 1]
    g = ember.tensor(big, device="gpu")
    assert (g + 1).tolist() == [v + 1 for v in big]
    assert g.max().item() == max(big) and g.argmax().item() == 2
    assert (g * 2).cpu().tolist() == [v * 2 for v in big]
    assert g[ember.tensor([2, 0], device="gpu")].tolist() == [big[2], big[0]]


def test_cross_device_ops_name_both_devices():
    a, b = ember.ones(2), ember.ones(2, device="gpu")
    with pytest.raises(RuntimeError, match=r"cpu.*gpu:0|gpu:0.*cpu"):
        a + b
    with pytest.raises(RuntimeError, match=r"cpu.*gpu:0|gpu:0.*cpu"):
        ember.ones(2, 2, device="gpu") @ ember.ones(2, 2)


def test_gradients_flow_back_across_devices():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.to("gpu") * ember.tensor([2.0, 3.0, 4.0], device="gpu")).sum()
    y.backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 3.0, 4.0])


def test_dispatch_over_the_workgroup_limit_is_split():
    # 65,535 workgroups of 256 invocations cover 16,776,960 elements: go past it.
    n = 65535 * 256 + 4099
    a = np.arange(n, dtype=np.float32) % 1000.0
    g = ember.tensor(a, device="gpu")
    out = (g + 1.0).cpu().numpy()
    np.testing.assert_array_equal(out[-5000:], a[-5000:] + 1.0)
    np.testing.assert_array_equal(out[:5000], a[:5000] + 1.0)
    assert abs(g.sum().item() - float(a.astype(np.float64).sum())) / a.sum() < 1e-5


def test_tensors_beyond_one_storage_binding_are_refused_clearly():
    limit = ember.gpu.get_device_properties().max_tensor_bytes
    with pytest.raises(ember.OutOfMemoryError, match="does not fit one storage buffer"):
        ember.empty(limit // 4 + 1024, device="gpu")
    with pytest.raises(RuntimeError, match="overflow"):
        ember.empty(2**62, 2**10, device="gpu")
    assert ember.ones(4, device="gpu").sum().item() == 4.0  # the device still works


def test_training_memory_stays_flat():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).to("gpu")
    opt = ember.optim.Adam(model.parameters(), lr=1e-2)
    x = ember.randn(64, 16, device="gpu")
    y = ember.randint(0, 4, (64,), device="gpu")
    seen = []
    for step in range(12):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        ember.gpu.synchronize()
        seen.append((ember.gpu.memory_allocated(), ember.gpu.memory_reserved()))
    assert loss.item() < 1.4
    assert seen[4] == seen[-1], seen
    assert ember.gpu.max_memory_allocated() >= seen[-1][0]
    ember.gpu.empty_cache()
    assert ember.gpu.memory_reserved() == ember.gpu.memory_allocated()


def test_ember_gpu_picks_the_backend_and_float64_needs_shader_f64():
    code = (
        "import ember\n"
        "p = ember.gpu.get_device_properties()\n"
        "print(p.backend, p.has_float64)\n"
        "x = ember.arange(6.0, device='gpu').reshape(2, 3)\n"
        "print((x @ x.t()).sum().item())\n"
        "try:\n"
        "    ember.zeros(2, dtype=ember.float64, device='gpu')\n"
        "    print('float64 ok')\n"
        "except RuntimeError as e:\n"
        "    print('float64 refused:', e)\n"
    )
    first, total, f64 = _run(code, EMBER_GPU="gl").splitlines()[-3:]
    backend, has_f64 = first.split()
    assert backend == "gl"
    xs = np.arange(6.0).reshape(2, 3)
    assert float(total) == (xs @ xs.T).sum()
    if has_f64 == "False":
        assert f64.startswith("float64 refused:") and "shader-f64" in f64 and "float32" in f64
    # An adapter-name filter that matches nothing leaves no GPU, and says so.
    out = _run("import ember\nprint(ember.gpu.device_count())\n"
               "try:\n    ember.ones(1, device='gpu')\nexcept RuntimeError as e:\n    print(e)\n",
               EMBER_GPU="no-such-adapter")
    count, message = out.splitlines()[:2]
    assert count == "0" and "no GPU adapter" in message


def test_reads_wait_for_queued_work_and_synchronize_returns():
    x = ember.zeros(1000, device="gpu")
    for _ in range(300):  # more than one submission batch, no read in between
        x.add_(1.0)
    ember.gpu.synchronize()
    assert x.sum().item() == 300_000.0


# ---- ember.gpu.set_device (torch.cuda.set_device): which adapter a bare "gpu" means ----

SET_DEVICE_PROGRAM = r"""
import ember
assert ember.gpu.device_count() == 2, ember.gpu.device_count()
assert ember.gpu.current_device() == 0
ember.gpu.set_device(1)
assert ember.gpu.current_device() == 1
x = ember.ones(3, device="gpu")
y = ember.full((3,), 2.0, device="cuda")
assert str(x.device) == "gpu:1" and str(y.device) == "gpu:1", (x.device, y.device)
assert ember.device("gpu").index == 1
assert (x + y).cpu().tolist() == [3.0, 3.0, 3.0]
with ember.gpu.device(0):
    z = ember.ones(2, device="gpu")
    assert str(z.device) == "gpu:0" and ember.gpu.current_device() == 0
assert ember.gpu.current_device() == 1
assert str(ember.nn.Linear(2, 2).to("gpu").weight.device) == "gpu:1"
ember.cuda.set_device("cuda:0")
assert str(ember.zeros(1, device="gpu").device) == "gpu:0"
ember.gpu.set_device(ember.device("gpu", 1))
assert ember.gpu.current_device() == 1
try:
    x + z
except RuntimeError as e:
    assert "gpu:0" in str(e) and "gpu:1" in str(e), str(e)
else:
    raise AssertionError("gpu:1 + gpu:0 gave a result")
print("ok")
"""


def test_set_device_moves_what_a_bare_gpu_means():
    """Two adapters (lavapipe through Vulkan and llvmpipe through OpenGL, as in CI) in a child
    process, since the current device is process-wide."""
    env = dict(os.environ, EMBER_GPU="vulkan,gl")
    probe = subprocess.run([sys.executable, "-c", "import ember; print(ember.gpu.device_count())"],
                           env=env, capture_output=True, text=True, timeout=120)
    if probe.stdout.strip() != "2":
        pytest.skip(f"needs two adapters under EMBER_GPU=vulkan,gl, found {probe.stdout.strip() or probe.stderr}")
    p = subprocess.run([sys.executable, "-c", SET_DEVICE_PROGRAM], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stdout + p.stderr


def test_set_device_refuses_a_missing_adapter_and_ignores_negative():
    n = ember.gpu.device_count()
    before = ember.gpu.current_device()
    with pytest.raises(RuntimeError, match=f"invalid device ordinal: gpu:{n} requested, {n} GPU"):
        ember.gpu.set_device(n)
    ember.gpu.set_device(-1)
    assert ember.gpu.current_device() == before
    with pytest.raises(ValueError, match="Expected a gpu device"):
        ember.gpu.set_device("cpu")


def test_loss_input_checks_do_not_wait_for_the_device():
    """BCE's range check and NLL's target check stay on the GPU (no wait per call) and raise
    at the next read, with the CPU's exception type and message."""
    import ember.nn.functional as F

    logp = ember.randn(8, 5, device="gpu").log_softmax(1)
    target = ember.tensor([0, 1, 2, 3, 4, 0, 1, 2], device="gpu")
    p = ember.rand(8, device="gpu")
    ember.gpu.synchronize()
    waits = ember.gpu._stream_counts()["waits"]
    for _ in range(3):
        F.nll_loss(logp, target)
        F.binary_cross_entropy(p, ember.ones(8, device="gpu"))
    assert ember.gpu._stream_counts()["waits"] == waits
    loss = F.nll_loss(logp, ember.tensor([0, 1, 7, 3, 4, 0, 1, 2], device="gpu"))
    with pytest.raises(IndexError, match="Target 7 is out of bounds for 5 classes"):
        loss.item()
    loss = F.binary_cross_entropy(p * 3, ember.ones(8, device="gpu"))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        loss.item()
    assert F.nll_loss(logp, target).item() == pytest.approx(
        -np.mean(logp.cpu().numpy()[np.arange(8), target.cpu().numpy()]), rel=1e-6)
