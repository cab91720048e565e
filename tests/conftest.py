"""Shared fixtures and helpers for the ember tensor-core test suite.

``device`` runs a test once per backend in ``EMBER_TEST_DEVICES`` (default ``cpu,gpu``): the CPU
and the GPU (wgpu; in CI Mesa's software Vulkan, lavapipe). On a machine where ember finds no GPU
adapter the ``gpu`` cases and the GPU-only files are skipped, and the run ends with one line
saying so and how to get a driver; ``EMBER_REQUIRE_GPU=1`` (CI sets it) makes a missing adapter
fail them instead. ``EMBER_TEST_DEVICES=cpu`` leaves the GPU out without looking for one.

Helpers (import them with ``from conftest import ...``):

* ``to_np(t)``: a NumPy copy of a tensor's values (detached, on the CPU).
* ``make(array, device, layout=..., dtype=..., requires_grad=...)``: a tensor holding ``array``'s
  values in a chosen memory layout: ``"contiguous"``, ``"transposed"`` (a transposed view of a
  contiguous buffer) or ``"sliced"`` (a strided slice of a larger buffer, nonzero storage offset).
* ``assert_close(t, expected, ...)``: shape, dtype kind and values against a NumPy reference.
* ``check_grad(fn, *inputs)``: ``ember.autograd.gradcheck`` on float64 inputs; an input made
  with ``grad_input(array, device, layout)`` reaches ``fn`` in that (non-contiguous) layout.
* ``numeric_grad(f, x)``: an independent NumPy central-difference gradient of a scalar function.
"""

import os
import pathlib
import sys

import numpy as np
import pytest

try:  # Make `pytest tests/` work from a fresh checkout without PYTHONPATH=python.
    import ember  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))
    import ember  # noqa: F401

# The backends this run asks for.
ASKED_DEVICES = os.environ.get("EMBER_TEST_DEVICES", "cpu,gpu").split(",")

GPU_ONLY_FILES = ["test_gpu.py", "test_gpu_ops.py", "test_gpu_int_sort.py", "test_gpu_native.py",
                  "test_gpu_f64.py", "test_gpu_half.py"]

REQUIRE_GPU = os.environ.get("EMBER_REQUIRE_GPU", "") not in ("", "0")


def _no_gpu_reason():
    """Why the GPU cases cannot run here ("" when they can).

    Listing adapters opens no device, so this costs one driver probe per session (a fraction of
    a second, and quiet: ember gives the driver a runtime dir where it needs one). A run narrowed
    to the CPU does not probe at all."""
    if "gpu" not in ASKED_DEVICES or ember.gpu.device_count() > 0:
        return ""
    return ("no GPU adapter found (EMBER_GPU={!r}); install a Vulkan driver, e.g. `apt-get install "
            "mesa-vulkan-drivers` (CPU-only: EMBER_TEST_DEVICES=cpu)".format(os.environ.get("EMBER_GPU", "")))


NO_GPU = _no_gpu_reason()
SKIP_GPU = bool(NO_GPU) and not REQUIRE_GPU

# The backends tests can use: those asked for, less a GPU that is missing and may be skipped.
DEVICES = [d for d in ASKED_DEVICES if not (d == "gpu" and SKIP_GPU)]

# The GPU-only files need the GPU backend: a run narrowed to the CPU leaves them out (a missing
# adapter skips them instead, in pytest_pycollect_makemodule).
collect_ignore = [] if "gpu" in ASKED_DEVICES else GPU_ONLY_FILES

LAYOUTS = ["contiguous", "transposed", "sliced"]


@pytest.fixture(params=[pytest.param(d, marks=pytest.mark.skip(reason=NO_GPU)) if d == "gpu" and SKIP_GPU
                        else d for d in ASKED_DEVICES])
def device(request):
    """The device string a test builds its tensors on (one test run per asked device)."""
    return request.param


class _SkippedGpuModule(pytest.Module):
    """A GPU-only test file on a machine without an adapter: skipped whole, never imported
    (some of them ask the adapter for its features at import)."""

    def collect(self):
        pytest.skip(NO_GPU)


def pytest_pycollect_makemodule(module_path, parent):
    if SKIP_GPU and module_path.name in GPU_ONLY_FILES:
        return _SkippedGpuModule.from_parent(parent, path=module_path)
    return None


def pytest_terminal_summary(terminalreporter):
    """The one line that says why the GPU cases did not run (or, under EMBER_REQUIRE_GPU=1, why
    they failed): a run that quietly tested only the CPU would look like a pass."""
    if not NO_GPU:
        return
    if REQUIRE_GPU:
        terminalreporter.write_line(f"ember: EMBER_REQUIRE_GPU=1 and {NO_GPU}: the gpu tests fail",
                                    red=True, bold=True)
        return
    terminalreporter.write_line(f"ember: GPU tests SKIPPED: {NO_GPU}",
                                yellow=True, bold=True)


_SEEDED_MODULES = {
    "test_ops",
    "test_views_indexing",
    "test_autograd",
    "test_creation_dtype",
    "test_errors",
    "test_properties",
}


@pytest.fixture(autouse=True)
def _reset_grad_mode_and_seed(request):
    """Each test starts with grad mode on (and, in the tensor-core modules, a fixed seed),
    whatever the previous test did."""
    ember._core._set_grad_enabled(True)
    if request.module.__name__.rsplit(".", 1)[-1] in _SEEDED_MODULES:
        ember.manual_seed(0)
    yield
    ember._core._set_grad_enabled(True)
    if "gpu" in request.node.name and "gpu" in DEVICES:
        # A bad input a GPU kernel flagged raises at the next wait: make it this test's.
        ember.gpu.synchronize()


@pytest.fixture
def rng():
    """A NumPy random generator with a fixed seed."""
    return np.random.default_rng(1234)


def to_np(t):
    """A NumPy copy of ``t``'s values; bfloat16 is widened to float32 first."""
    t = t.detach()
    if t.dtype == ember.bfloat16:
        t = t.float()
    if t.device.type != "cpu":
        t = t.cpu()
    return np.array(t.numpy(), copy=True)


def make(array, device="cpu", layout="contiguous", dtype=None, requires_grad=False):
    """An ember tensor with ``array``'s values on ``device`` in the given memory layout.

    The result is a leaf. With ``layout="transposed"`` (arrays of 2+ dims) it is a transposed
    view of a contiguous buffer; with ``layout="sliced"`` it is every other element of a buffer
    twice as large along the last dim, starting one element in.
    """
    a = np.asarray(array)
    if dtype is None:
        dtype = {
            np.dtype(np.float64): ember.float64,
            np.dtype(np.float32): ember.float32,
            np.dtype(np.float16): ember.float16,
            np.dtype(np.int64): ember.int64,
            np.dtype(np.int32): ember.int32,
            np.dtype(np.bool_): ember.bool,
        }[a.dtype]
    if layout == "contiguous" or a.ndim == 0:
        t = ember.tensor(a.tolist(), dtype=dtype, device=device)
    elif layout == "transposed":
        if a.ndim < 2:
            raise ValueError("layout='transposed' needs 2+ dims")
        buf = ember.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2)).tolist(), dtype=dtype, device=device)
        t = buf.transpose(-1, -2)
        assert min(a.shape[-2:]) <= 1 or not t.is_contiguous()
    elif layout == "sliced":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), dtype=a.dtype)
        big[..., 1::2] = a
        buf = ember.tensor(big.tolist(), dtype=dtype, device=device)
        t = buf[..., 1::2]
        assert t.shape[-1] <= 1 or not t.is_contiguous()
    else:
        raise ValueError(layout)
    if requires_grad:
        t.requires_grad_(True)
    return t


def assert_close(t, expected, rtol=1e-5, atol=1e-6, check_dtype=True):
    """``t`` (an ember tensor) matches ``expected`` (array-like) in shape, dtype kind and values."""
    assert isinstance(t, ember.Tensor), type(t)
    exp = np.asarray(expected)
    got = to_np(t)
    assert tuple(t.shape) == exp.shape, f"shape {tuple(t.shape)} != expected {exp.shape}"
    if check_dtype:
        assert got.dtype.kind == exp.dtype.kind or (exp.dtype.kind in "iu" and got.dtype.kind in "iu"), (
            f"dtype {t.dtype} does not match expected kind of {exp.dtype}"
        )
    if exp.dtype.kind in "biu":
        np.testing.assert_array_equal(got, exp)
    else:
        np.testing.assert_allclose(got, exp, rtol=rtol, atol=atol, equal_nan=True)


class StridedInput:
    """A gradcheck input seen by the function under test in a non-contiguous layout.

    gradcheck perturbs ``buffer`` (a contiguous float64 leaf); the function receives
    ``view(buffer)``, a transposed or strided-slice view holding ``array``'s values. (The
    non-contiguous-leaf case of gradcheck itself is covered by test_autograd.py.)
    """

    def __init__(self, array, device="cpu", layout="transposed"):
        a = np.asarray(array, dtype=np.float64)
        if layout == "transposed":
            self.buffer = make(np.ascontiguousarray(np.swapaxes(a, -1, -2)), device, requires_grad=True)
            self.view = lambda b: b.transpose(-1, -2)
        elif layout == "sliced":
            big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,))
            big[..., 1::2] = a
            self.buffer = make(big, device, requires_grad=True)
            self.view = lambda b: b[..., 1::2]
        else:
            raise ValueError(layout)


def grad_input(array, device="cpu", layout="contiguous"):
    """A float64 gradcheck input in the given layout: a leaf, or a StridedInput."""
    if layout == "contiguous":
        return leaf(array, device)
    return StridedInput(array, device, layout)


def check_grad(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Runs ember.autograd.gradcheck on float64 inputs (leaves or StridedInputs).

    0-dim outputs are checked through a 1-element view (the scalar-output case of gradcheck
    itself is covered by test_autograd.py).
    """
    views = []
    leaves = []
    for x in inputs:
        if isinstance(x, StridedInput):
            views.append(x.view)
            leaves.append(x.buffer)
        else:
            views.append(None)
            leaves.append(x)
        t = leaves[-1]
        if isinstance(t, ember.Tensor) and t.requires_grad:
            assert t.dtype == ember.float64, "gradcheck needs float64 inputs"

    def wrapped(*args):
        seen = []
        for v, a in zip(views, args):
            if v is not None:
                a = v(a)
                assert a.dim() < 2 or min(a.shape[-2:]) <= 1 or not a.is_contiguous()
            seen.append(a)
        out = fn(*seen)
        if isinstance(out, (tuple, list)):
            return tuple(o.reshape(1) if o.dim() == 0 else o for o in out)
        return out.reshape(1) if out.dim() == 0 else out

    assert ember.autograd.gradcheck(wrapped, tuple(leaves), eps=eps, atol=atol, rtol=rtol)


def numeric_grad(f, x, eps=1e-6):
    """Central-difference gradient of the scalar NumPy function ``f`` at the float64 array ``x``."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def leaf(array, device="cpu", layout="contiguous"):
    """A float64 leaf requiring grad."""
    return make(np.asarray(array, dtype=np.float64), device, layout=layout, requires_grad=True)


def trace_host_paths(snippets, setup="import sys, ember"):
    """The host-path trace lines (EMBER_GPU_TRACE_HOST=1) each snippet prints, by name, from one
    traced interpreter: what runs a CPU kernel on host copies instead of a GPU kernel.

    A control runs last and must be traced, so an empty list means something: the maximum over
    an empty dim, which the GPU kernel leaves to the CPU's error (it has no identity)."""
    import subprocess
    import sys

    lines = [setup, "def attempt(f):", "    try:", "        return f()",
             "    except RuntimeError:", "        return ember.zeros(1)"]
    control = {"control": "attempt(lambda: ember.zeros(2, 0, device='gpu').amax(1))"}
    for name, code in {**snippets, **control}.items():
        lines += [f"print('@@ {name}', file=sys.stderr, flush=True)", f"r = {code}", "r.cpu()"]
    lines.append("print('@@ end', file=sys.stderr, flush=True)")
    env = dict(os.environ, EMBER_GPU_TRACE_HOST="1")
    done = subprocess.run([sys.executable, "-c", "\n".join(lines)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    found, current = {}, None
    for line in done.stderr.splitlines():
        if line.startswith("@@ "):
            current = line[3:]
            found[current] = []
        elif "host path" in line and current is not None:
            found[current].append(line)
    assert "end" in found, done.stderr
    assert found.pop("control"), "EMBER_GPU_TRACE_HOST printed nothing for the control"
    del found["end"]
    return found
