"""What a user sees around the GPU adapter probe: no driver noise on stderr, and on a machine
without an adapter a test run that skips the GPU cases with one line saying why (or fails them
under EMBER_REQUIRE_GPU=1)."""

import os
import pathlib
import subprocess
import sys

import pytest

from conftest import DEVICES

TESTS = pathlib.Path(__file__).resolve().parent

# Hides every Vulkan and EGL driver from the loaders: the machine then has no adapter at all.
NO_DRIVERS = {"VK_ICD_FILENAMES": "/nonexistent", "VK_DRIVER_FILES": "/nonexistent",
              "__EGL_VENDOR_LIBRARY_FILENAMES": "/nonexistent"}


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "EMBER_REQUIRE_GPU", "EMBER_TEST_DEVICES")}
    env.update(extra)
    return env


@pytest.mark.skipif("gpu" not in DEVICES, reason="needs a GPU adapter")
def test_the_probe_prints_no_driver_noise_without_a_runtime_dir():
    code = "import ember; ember.gpu.device_count(); print((ember.ones(2, device='gpu') + 1).cpu().tolist())"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[2.0, 2.0]"
    assert "XDG_RUNTIME_DIR" not in p.stderr and "error" not in p.stderr.lower(), p.stderr


def test_a_cpu_only_run_prints_nothing_on_stderr():
    code = "import ember; print((ember.ones(2) + 1).tolist())"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env())
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "[2.0, 2.0]", "")


def _pytest_without_adapter(**extra):
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            str(TESTS / "test_bad_input.py"), "-k", "zeros-negative"]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=TESTS.parent,
                          env=_env(**NO_DRIVERS, **extra))


def test_without_an_adapter_the_gpu_cases_skip_with_one_line():
    p = _pytest_without_adapter()
    assert p.returncode == 0, p.stdout[-2000:]
    assert p.stdout.count("GPU tests SKIPPED") == 1, p.stdout[-2000:]
    assert "mesa-vulkan-drivers" in p.stdout
    assert "1 passed" in p.stdout  # the cpu case still ran


def test_without_an_adapter_require_gpu_fails_the_run():
    p = _pytest_without_adapter(EMBER_REQUIRE_GPU="1")
    assert p.returncode != 0, p.stdout[-2000:]
    assert "EMBER_REQUIRE_GPU=1" in p.stdout
