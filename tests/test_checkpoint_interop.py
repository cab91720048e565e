"""Checkpoints against the outside world: BF16/F16 stored natively and readable by the
safetensors package, files it writes read back, PyTorch pickles named, malformed files (hand-made
and fuzzed) refused with one error type, file objects, map_location, and saves killed mid-write."""

import io
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import safetensors
from hypothesis import given, settings, strategies as st

import ember
from conftest import DEVICES
from ember.serialization import CheckpointError


def _bits16(t):
    """The raw 16-bit patterns of a float16/bfloat16 tensor (bfloat16: the top half of float32)."""
    if t.dtype == ember.float16:
        return t.numpy().view(np.uint16).copy()
    return (t.float().numpy().view(np.uint32) >> 16).astype(np.uint16)


@pytest.mark.parametrize("dtype,code", [(ember.bfloat16, "BF16"), (ember.float16, "F16")])
def test_half_dtypes_are_stored_natively_and_read_by_safetensors(tmp_path, dtype, code):
    t = ember.tensor([1.0, -2.5, 3.140625, 65504.0 if dtype == ember.float16 else 1e30]).to(dtype)
    path = tmp_path / "h.safetensors"
    ember.save({"w": t}, path)
    header = dict(safetensors.deserialize(path.read_bytes()))
    assert header["w"]["dtype"].upper() in (code, {"BF16": "BFLOAT16", "F16": "FLOAT16"}[code])
    assert bytes(header["w"]["data"]) == _bits16(t).tobytes()
    back = ember.load(path)["w"]
    assert back.dtype == dtype
    np.testing.assert_array_equal(_bits16(back), _bits16(t))


def test_a_bf16_file_written_by_the_safetensors_package_loads(tmp_path):
    values = np.array([1.0, -0.5, 2.0**-10, 3.0e38], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    spec = safetensors.TensorSpec(dtype="bfloat16", shape=[2, 2], data_ptr=bits.ctypes.data, data_len=bits.nbytes)
    data = bytes(safetensors.serialize({"x": spec}))
    path = tmp_path / "from_package.safetensors"
    path.write_bytes(data)
    x = ember.load(path)["x"]
    assert x.dtype == ember.bfloat16 and list(x.shape) == [2, 2]
    np.testing.assert_array_equal(x.float().numpy().reshape(-1), (bits.astype(np.uint32) << 16).view(np.float32))


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64, ember.int32, ember.int64, ember.bool])
def test_every_dtype_round_trips_exactly(tmp_path, dtype):
    t = ember.tensor([[0, 1, 5], [7, 0, 1]]).to(dtype)
    ember.save({"t": t}, tmp_path / "d.safetensors")
    back = ember.load(tmp_path / "d.safetensors")["t"]
    assert back.dtype == dtype
    np.testing.assert_array_equal(back.numpy(), t.numpy())


@pytest.mark.parametrize("head", [b"PK\x03\x04" + b"\0" * 60, b"\x80\x02}q\x00." + b"\0" * 60])
def test_a_pytorch_pickle_is_named_with_a_conversion_hint(tmp_path, head):
    path = tmp_path / "model.pt"
    path.write_bytes(head)
    with pytest.raises(CheckpointError, match="(?i)pytorch") as err:
        ember.load(path)
    assert "save_file" in str(err.value)
    assert isinstance(err.value, RuntimeError)


def _valid_file():
    buf = io.BytesIO()
    ember.save({"a": ember.arange(6).reshape(2, 3).float(), "n": {"b": ember.ones(2, dtype=ember.int64), "k": 3}}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("make", [
    lambda d: d[:5],
    lambda d: d[:-3],
    lambda d: struct.pack("<Q", 1 << 60) + d[8:],
    lambda d: d.replace(b'"shape":[2,3]', b'"shape":[2000000000,3000000000]'),
    lambda d: d.replace(b'"F32"', b'"Q99"'),
    lambda d: d[:8] + b"[" * (len(d) - 8),
    lambda d: d.replace(b'\\"a\\": \\"cpu\\"', b'\\"a\\": \\" pu\\"'),
], ids=["truncated-header", "truncated-data", "huge-header", "huge-shape", "unknown-dtype", "deep-json", "bad-device"])
def test_malformed_files_raise_one_error_type(make, tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(make(_valid_file()))
    with pytest.raises(CheckpointError):
        ember.load(path)


# Derandomized: CI must not turn red on a case a new random draw happens to find; fuzz harder by
# hand with more examples when changing the loader.
@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.data())
def test_fuzzed_files_load_or_raise_checkpoint_error(data):
    raw = bytearray(_valid_file())
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        outcome = ember.load(io.BytesIO(bytes(raw)))
    except CheckpointError as e:
        outcome = e
    # Anything else (KeyError, RecursionError, a crash) fails: a file loads or is refused cleanly.
    assert isinstance(outcome, (dict, CheckpointError))


def test_file_objects_round_trip():
    buf = io.BytesIO()
    ember.save({"w": ember.ones(3) * 2}, buf)
    buf.seek(0)
    np.testing.assert_array_equal(ember.load(buf)["w"].numpy(), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("device", DEVICES)
def test_map_location_forms(tmp_path, device):
    path = tmp_path / "m.safetensors"
    ember.save({"w": ember.ones(2)}, path)
    assert ember.load(path, map_location=device)["w"].device.type == ember.device(device).type
    assert ember.load(path, map_location=ember.device(device))["w"].device.type == ember.device(device).type
    seen = []
    out = ember.load(path, map_location=lambda t, loc: seen.append(loc) or t * 3, weights_only=True)
    assert seen and out["w"].numpy().tolist() == [3.0, 3.0]


def test_killed_saves_keep_the_old_file_and_leave_no_temporary(tmp_path):
    path = tmp_path / "big.safetensors"
    ember.save({"w": ember.zeros(4 << 20)}, path)  # 16 MB of zeros: the "previous" checkpoint
    child = textwrap.dedent(f"""
        import ember
        w = ember.ones(4 << 20)
        print("ready", flush=True)
        while True:
            ember.save({{"w": w}}, {str(path)!r})
    """)
    rng = np.random.default_rng(0)
    for _ in range(8):
        p = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.0, 0.3)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        w = ember.load(path)["w"]
        assert w.shape[0] == 4 << 20 and float(w[123]) in (0.0, 1.0)
        leftovers = [n for n in os.listdir(tmp_path) if n != "big.safetensors"]
        assert leftovers == [] or leftovers == [".big.safetensors.ember-tmp"]
    ember.save({"w": ember.ones(2)}, path)  # the next save clears any leftover
    assert os.listdir(tmp_path) == ["big.safetensors"]
