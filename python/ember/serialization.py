"""``ember.save`` / ``ember.load``: checkpoints in the safetensors format, written atomically.

A checkpoint is a (possibly nested) dict whose leaves are tensors or plain JSON values. Tensors
are stored under their dotted path; everything else goes into the header's metadata, so a file
of only tensors (a model's state_dict) opens as-is in PyTorch's ``safetensors.torch.load_file``.
"""

import json
import os
import struct
import tempfile

from . import _core

_SEP = "."
_META_KEY = "ember.structure"


def _flatten(obj, prefix, tensors, structure):
    if isinstance(obj, _core.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"ember.save: dict keys must be str or int, got {type(k).__name__}")
            key = str(k)
            out[key] = _flatten(v, f"{prefix}{_SEP}{key}" if prefix else key, tensors, structure)
        if any(isinstance(k, int) for k in obj):
            return {"__dict__": out, "__intkeys__": [str(k) for k in obj if isinstance(k, int)]}
        return {"__dict__": out}
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, f"{prefix}{_SEP}{i}" if prefix else str(i), tensors, structure) for i, v in enumerate(obj)]
        return {"__list__": items, "__tuple__": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"__value__": obj}
    raise TypeError(f"ember.save can store tensors, dicts, lists, tuples, numbers, strings and None, not {type(obj).__name__}")


def _unflatten(node, tensors):
    if "__tensor__" in node:
        return tensors[node["__tensor__"]]
    if "__dict__" in node:
        ints = set(node.get("__intkeys__", []))
        return {(int(k) if k in ints else k): _unflatten(v, tensors) for k, v in node["__dict__"].items()}
    if "__list__" in node:
        items = [_unflatten(v, tensors) for v in node["__list__"]]
        return tuple(items) if node["__tuple__"] else items
    return node["__value__"]


def save(obj, f):
    """Writes ``obj`` to path ``f``: a temporary file in the same folder, then an atomic rename."""
    from safetensors.numpy import save as st_save

    import numpy as np

    tensors = {}
    structure = _flatten(obj, "", tensors, None)
    arrays = {}
    dtypes = {}
    for name, t in tensors.items():
        t = t.detach().cpu()
        if repr(t.dtype) == "ember.bfloat16":
            dtypes[name] = "bfloat16"
            t = t.float()
        arrays[name] = np.array(t.numpy(), order="C")  # a C-ordered copy; keeps 0-d arrays 0-d
    meta = {_META_KEY: json.dumps(structure), "ember.dtypes": json.dumps(dtypes), "format": "pt"}
    data = st_save(arrays, metadata=meta)
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ember-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_header(raw, path):
    if len(raw) < 8:
        raise RuntimeError(f"ember.load: {path} is not a checkpoint (file of {len(raw)} bytes is too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise RuntimeError(f"ember.load: {path} is truncated or corrupt (header of {n} bytes, file of {len(raw)} bytes)")
    try:
        return json.loads(raw[8: 8 + n])
    except ValueError as e:
        raise RuntimeError(f"ember.load: {path} has a corrupt header: {e}") from None


def load(f, map_location=None, weights_only=True):
    """Reads a checkpoint written by ``save`` (or any safetensors file) back into tensors."""
    from safetensors.numpy import load as st_load

    path = os.fspath(f)
    with open(path, "rb") as fh:
        raw = fh.read()
    header = _read_header(raw, path)
    try:
        arrays = st_load(raw)
    except Exception as e:  # safetensors raises its own error type for malformed files
        raise RuntimeError(f"ember.load: {path} is truncated or corrupt: {e}") from None
    meta = header.get("__metadata__") or {}
    dtypes = json.loads(meta.get("ember.dtypes", "{}"))
    tensors = {}
    for name, arr in arrays.items():
        t = _core.tensor(arr)
        if name in dtypes:
            t = t.to(getattr(_core, dtypes[name]))
        if map_location is not None and not callable(map_location):
            t = t.to(map_location)
        tensors[name] = t
    if _META_KEY in meta:
        return _unflatten(json.loads(meta[_META_KEY]), tensors)
    return dict(sorted(tensors.items()))
