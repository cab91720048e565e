"""``ember.save`` / ``ember.load``: checkpoints in the safetensors format, written atomically.

A checkpoint is a (possibly nested) dict whose leaves are tensors or plain JSON values. Tensors
are stored under their dotted path in their own dtype (bfloat16 as BF16, float16 as F16);
everything else goes into the header's metadata, so a file of only tensors (a model's
state_dict) opens as-is in PyTorch's ``safetensors.torch.load_file``. Unlike ``torch.load``,
``ember.load`` never unpickles: a file holds data only, so loading one cannot run code.
"""

import json
import mmap as _mmap
import os

from .. import _core
from ._atomic import write_atomically
from ._errors import CheckpointError
from ._safetensors import ember_dtype_name, header_bytes, parse_header, tensor_bytes, tensor_from_bytes
from ._structure import flatten, unflatten

__all__ = ["save", "load", "CheckpointError"]

_STRUCTURE_KEY = "ember.structure"
_DEVICES_KEY = "ember.devices"  # where each tensor lived, for load's map_location=None
_OLD_DTYPES_KEY = "ember.dtypes"  # files of older ember: bfloat16 written as float32


def save(obj, f):
    """Saves ``obj`` (tensors, dicts, lists, tuples, numbers, strings, None) to ``f``, as ``torch.save``.

    ``f`` is a path (str or os.PathLike), written atomically: the old file stays whole until the
    new one is on disk, even if the process is killed; or an open binary file / ``io.BytesIO``.
    """
    tensors = {}
    structure = flatten(obj, "", tensors)
    stored = [(name, t, *tensor_bytes(t)) for name, t in tensors.items()]
    metadata = {
        _STRUCTURE_KEY: json.dumps(structure),
        _DEVICES_KEY: json.dumps({name: str(t.device) for name, t, _, _ in stored}),
        "format": "pt",
    }
    entries = [(name, dtype, tuple(t.shape), data.nbytes) for name, t, dtype, data in stored]
    header = header_bytes(entries, metadata)

    def write(out):
        out.write(header)
        for _, _, _, data in stored:
            out.write(data)

    if hasattr(f, "write"):
        write(f)
    else:
        write_atomically(f, write)


def load(f, map_location=None, *, weights_only=None, mmap=None):
    """Loads a checkpoint written by ``save`` (or any safetensors file), as ``torch.load``.

    ``f``: a path or an open binary file / ``io.BytesIO``. ``map_location``: None puts each
    tensor back on the device it was saved from (the CPU for files from other tools); a device
    string or ``ember.device`` moves every tensor there; a dict maps saved locations to new ones
    (``{"cuda:0": "cpu"}``; "cuda" names ember's "gpu"); a callable ``(tensor, location)``
    returns the tensor to use, or None for the default. ``weights_only`` is accepted for
    PyTorch compatibility: ember never runs code from a file, so True and False are both safe.
    ``mmap=True`` maps a file instead of reading it into memory first.
    A file that cannot be read raises ``CheckpointError`` (a RuntimeError) naming what is wrong.
    """
    if weights_only not in (None, True, False):
        raise TypeError(f"ember.load: weights_only must be a bool, got {type(weights_only).__name__}")
    if hasattr(f, "read"):
        if mmap:
            raise ValueError("ember.load: f must be a file path in order to use the mmap argument")
        return _load_buffer(f.read(), repr(getattr(f, "name", f)), map_location)
    path = os.fspath(f)
    with open(path, "rb") as fh:
        if not mmap or os.fstat(fh.fileno()).st_size == 0:  # an empty file cannot be mapped
            return _load_buffer(_read_checked(fh, path), path, map_location)
        with _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_READ) as mapped:
            with memoryview(mapped) as view:
                return _load_buffer(view, path, map_location)


def _read_checked(fh, path):
    """The file's bytes, after checking its header against its size (so no claim drives a read)."""
    size = os.fstat(fh.fileno()).st_size
    prefix = fh.read(min(size, 64 * 1024))
    if len(prefix) >= 8:
        n = int.from_bytes(prefix[:8], "little")
        if 8 + n > len(prefix) and n <= size - 8:
            prefix += fh.read(8 + n - len(prefix))
    parse_header(prefix, size, path)  # raises before the rest is read if the header is bad
    return prefix + fh.read()


def _load_buffer(buffer, where, map_location):
    specs, metadata, _ = parse_header(buffer, len(buffer), where)
    old_dtypes = _json_meta(metadata, _OLD_DTYPES_KEY, where, {})
    devices = _json_meta(metadata, _DEVICES_KEY, where, {})
    if not isinstance(old_dtypes, dict) or not isinstance(devices, dict):
        raise CheckpointError(f"ember.load: {where} has corrupt '{_OLD_DTYPES_KEY}' or '{_DEVICES_KEY}' metadata")
    tensors = {}
    for name, dtype, shape, start, stop in specs:
        t = tensor_from_bytes(buffer[start:stop], dtype, name, where).reshape(shape)
        if old_dtypes.get(name) == "bfloat16" and dtype == "F32":
            t = t.to(_core.bfloat16)
        location = devices.get(name, "cpu")
        if not isinstance(location, str) or not _names_a_device(location):
            raise CheckpointError(f"ember.load: {where} records location {location!r} for tensor {name!r}")
        tensors[name] = _place(t, location, map_location)
    if _STRUCTURE_KEY in metadata:
        return unflatten(_json_meta(metadata, _STRUCTURE_KEY, where, None), tensors, where)
    return dict(sorted(tensors.items()))


def _json_meta(metadata, key, where, default):
    if key not in metadata:
        return default
    try:
        return json.loads(metadata[key])
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"ember.load: {where} has corrupt '{key}' metadata ({type(e).__name__})") from None


def _place(t, location, map_location):
    """Puts a freshly read CPU tensor where ``map_location`` says, as ``torch.load`` does."""
    if callable(map_location) and not isinstance(map_location, (str, _core.device)):
        moved = map_location(t, location)
        return _place(t, location, None) if moved is None else moved
    if isinstance(map_location, dict):
        target = map_location.get(location)
        if target is None:
            target = next((v for k, v in map_location.items() if _same_location(k, location)), location)
        return _to(t, target)
    return _to(t, location if map_location is None else map_location)


def _names_a_device(location):
    """Whether a location read from a file parses as a device (a corrupt one is the file's fault)."""
    try:
        _core.device(location)
    except (TypeError, ValueError, RuntimeError):
        return False
    return True


def _same_location(a, b):
    try:
        return _core.device(str(a)) == _core.device(str(b))  # "cuda:0" and "gpu" both name gpu:0
    except (TypeError, ValueError, RuntimeError):
        return False


def _to(t, device):
    return t if str(device) == "cpu" else t.to(device)
