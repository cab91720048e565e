"""The safetensors file format, read and written by hand so that bfloat16 stays bfloat16.

A file is an 8-byte little-endian header length, a JSON header (``{name: {dtype, shape,
data_offsets}}`` plus ``__metadata__``, a str -> str dict) padded with spaces to 8 bytes, then
the tensors' bytes back to back. The ``safetensors`` package's NumPy API cannot write BF16
(NumPy has no bfloat16), hence this module. Every claim in a header is checked against the
file's real size before a byte of tensor data is touched, so a hostile header cannot make
ember allocate what the file does not hold.
"""

import json
import math

from .. import _core
from ._errors import CheckpointError

# safetensors dtype -> (ember dtype name, little-endian NumPy dtype of the stored bytes).
# BF16 is stored as raw uint16 bits. The narrow integer types have no ember dtype: they widen
# losslessly to int32 / int64 (as ember.tensor does for such NumPy arrays).
_READ = {
    "F32": ("float32", "<f4"), "F64": ("float64", "<f8"), "F16": ("float16", "<f2"),
    "BF16": ("bfloat16", "<u2"), "I32": ("int32", "<i4"), "I64": ("int64", "<i8"),
    "BOOL": ("bool", "u1"), "U8": ("int32", "u1"), "I8": ("int32", "i1"), "I16": ("int32", "<i2"),
    "U16": ("int32", "<u2"), "U32": ("int64", "<u4"), "U64": ("int64", "<u8"),
}
_WRITE = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int32": "I32", "int64": "I64", "bool": "BOOL"}
_PYTORCH_ZIP = b"PK\x03\x04"
_PICKLE_PROTOCOLS = (2, 3, 4, 5)


def ember_dtype_name(dtype):
    return repr(dtype).removeprefix("ember.")


def tensor_bytes(t):
    """The little-endian bytes of tensor ``t`` (any device, any layout) and its safetensors dtype."""
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    t = t.detach().cpu()
    name = ember_dtype_name(t.dtype)
    if name == "bfloat16":
        # bf16 bits are the top half of a float32's; the float32 values are bf16 values, so
        # dropping the low half is exact.
        arr = (np.ascontiguousarray(t.float().numpy(), dtype="<f4").view("<u4") >> 16).astype("<u2")
    else:
        arr = np.ascontiguousarray(t.numpy())
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return _WRITE[name], arr.reshape(-1).view(np.uint8)


def header_bytes(entries, metadata):
    """The length prefix and padded JSON header for ``entries``: (name, dtype, shape, nbytes)."""
    header, offset = {}, 0
    for name, dtype, shape, nbytes in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)  # keeps every tensor 8-byte aligned after the prefix
    return len(text).to_bytes(8, "little") + text


def _no_duplicate_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def parse_header(prefix, file_size, where):
    """Checks the first bytes of a file (at least its header) and returns (tensor specs, metadata, data start).

    ``prefix`` holds the file's first bytes; ``file_size`` its total length. Specs are
    (name, safetensors dtype, shape, start, end) with offsets into the whole file.
    """
    def bad(what):
        return CheckpointError(f"ember.load: {where} is not a valid checkpoint: {what}")

    _reject_pytorch_files(prefix, file_size, where)
    if file_size < 8:
        raise bad(f"a file of {file_size} bytes is too short for a safetensors header")
    n = int.from_bytes(prefix[:8], "little")
    if n > file_size - 8:
        raise bad(f"the header claims {n} bytes but the file holds {file_size} bytes (truncated or corrupt)")
    raw = bytes(prefix[8: 8 + n])
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"the header is not valid JSON ({type(e).__name__}: {str(e)[:100]})") from None
    if not isinstance(header, dict):
        raise bad(f"the header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise bad("'__metadata__' must map strings to strings")
    data_start, data_size = 8 + n, file_size - 8 - n
    specs = []
    for name, info in header.items():
        specs.append(_check_entry(name, info, data_size, bad))
    specs.sort(key=lambda s: (s[3], s[4]))
    end = 0
    for name, _, _, start, stop in specs:
        if start != end:
            what = "overlaps the tensor before it" if start < end else f"leaves a gap of {start - end} bytes before it"
            raise bad(f"tensor {name!r} at bytes {start}..{stop} {what}")
        end = stop
    if end != data_size:
        raise bad(f"the tensors cover {end} bytes of a {data_size}-byte data section")
    return [(name, dtype, shape, data_start + a, data_start + b) for name, dtype, shape, a, b in specs], metadata, data_start


def _check_entry(name, info, data_size, bad):
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise bad(f"entry {name!r} must have exactly 'dtype', 'shape' and 'data_offsets'")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in _READ:
        raise bad(f"tensor {name!r} has dtype {dtype!r}, which ember cannot read (it reads {', '.join(_READ)})")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad(f"tensor {name!r} has shape {shape!r}; a shape is a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets):
        raise bad(f"tensor {name!r} has data_offsets {offsets!r}; expected [begin, end]")
    start, stop = offsets
    if not 0 <= start <= stop <= data_size:
        raise bad(f"tensor {name!r} has data_offsets {offsets!r} outside the {data_size}-byte data section")
    nbytes = math.prod(shape) * np.dtype(_READ[dtype][1]).itemsize  # Python ints: no overflow
    if nbytes != stop - start:
        raise bad(f"tensor {name!r} of dtype {dtype} and shape {shape} needs {nbytes} bytes, its offsets span {stop - start}")
    return name, dtype, tuple(shape), start, stop


def _reject_pytorch_files(prefix, file_size, where):
    """``torch.save`` files are pickles; naming them beats a baffling 'header of 10^17 bytes'."""
    head = bytes(prefix[:2])
    # A safetensors header starts b'{', which tells a real header whose length happens to begin
    # with byte 0x80 apart from a pickle's protocol opcode.
    n = int.from_bytes(prefix[:8], "little") if file_size >= 8 else None
    looks_safetensors = n is not None and n <= file_size - 8 and bytes(prefix[8:9]) == b"{"
    is_zip = bytes(prefix[:4]) == _PYTORCH_ZIP
    is_pickle = len(head) == 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS
    if (is_zip or is_pickle) and not looks_safetensors:
        kind = "zip" if is_zip else "legacy pickle"
        raise CheckpointError(
            f"ember.load: {where} is a PyTorch {kind} checkpoint (torch.save), not a safetensors file. "
            "ember loads safetensors only: it never unpickles a file, since unpickling can run arbitrary code. "
            "Convert it once where PyTorch is installed, e.g. for a state_dict: "
            f"from safetensors.torch import save_file; save_file(torch.load({where!r}), 'model.safetensors')"
        )


def tensor_from_bytes(buffer, dtype, name, where):
    """An ember tensor (on the CPU, owning its memory) from the raw bytes of one stored tensor."""
    import numpy as np  # here, not at the top: `import ember` does not pay for NumPy

    ember_name, stored = _READ[dtype]
    arr = np.frombuffer(buffer, dtype=stored)
    if dtype == "BF16":
        # bf16 bits are the top half of a float32's: widening is exact, and so is the cast back.
        return _core.tensor((arr.astype(np.uint32) << 16).view(np.float32)).to(_core.bfloat16)
    if dtype == "BOOL":
        return _core.tensor(arr != 0)  # any non-zero byte is True, as NumPy and PyTorch read it
    if dtype == "U64" and arr.size and int(arr.max()) >= 2**63:
        raise CheckpointError(f"ember.load: {where}: U64 tensor {name!r} holds {int(arr.max())}, beyond ember's int64")
    if ember_name == "int32" and arr.dtype != np.int32:
        arr = arr.astype(np.int32)
    elif ember_name == "int64" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    elif arr.dtype.byteorder not in ("=", "|"):  # only on big-endian hosts
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return _core.tensor(arr)
