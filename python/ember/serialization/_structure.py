"""The nesting of a checkpoint (dicts, lists, tuples, plain values) as JSON, with tensors by name.

``flatten`` turns a checkpoint into a JSON-able tree plus a flat ``{dotted name: tensor}`` dict;
``unflatten`` checks a tree read from a file node by node before it rebuilds the checkpoint, so
a hostile file can only ever produce a ``CheckpointError``.
"""

from .. import _core
from ._errors import CheckpointError

_SEP = "."
# Deep enough for any real checkpoint, shallow enough that neither side can hit Python's
# recursion limit (about 1000 frames), whatever the file claims.
MAX_DEPTH = 200


def flatten(obj, prefix, tensors, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError(f"ember.save: the checkpoint nests deeper than {MAX_DEPTH} levels (a dict or list that contains itself?)")
    if isinstance(obj, _core.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"ember.save: dict keys must be str or int, got {type(k).__name__}")
            key = str(k)
            out[key] = flatten(v, f"{prefix}{_SEP}{key}" if prefix else key, tensors, depth + 1)
        if any(isinstance(k, int) for k in obj):
            return {"__dict__": out, "__intkeys__": [str(k) for k in obj if isinstance(k, int)]}
        return {"__dict__": out}
    if isinstance(obj, (list, tuple)):
        items = [flatten(v, f"{prefix}{_SEP}{i}" if prefix else str(i), tensors, depth + 1) for i, v in enumerate(obj)]
        return {"__list__": items, "__tuple__": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"__value__": obj}
    raise TypeError(f"ember.save can store tensors, dicts, lists, tuples, numbers, strings and None, not {type(obj).__name__}")


def unflatten(node, tensors, where, depth=0):
    """Rebuilds the checkpoint from ``node``; ``where`` names the file in error messages."""

    def bad(what):
        return CheckpointError(f"ember.load: {where} has a corrupt 'ember.structure' entry: {what}")

    if depth > MAX_DEPTH:
        raise bad(f"it nests deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise bad(f"expected a node object, got {_short(node)}")
    if "__tensor__" in node and len(node) == 1:
        name = node["__tensor__"]
        if not isinstance(name, str) or name not in tensors:
            raise bad(f"it refers to tensor {_short(name)}, which the file does not hold")
        return tensors[name]
    if "__dict__" in node:
        items, ints = node["__dict__"], node.get("__intkeys__", [])
        if not isinstance(items, dict) or not isinstance(ints, list) or (len(node) == 2 and "__intkeys__" not in node):
            raise bad(f"malformed dict node {_short(node)}")
        for k in ints:
            if not isinstance(k, str) or k not in items or not _is_int_literal(k):
                raise bad(f"integer key {_short(k)} is not an integer key of its dict")
        ints = set(ints)
        return {(int(k) if k in ints else k): unflatten(v, tensors, where, depth + 1) for k, v in items.items()}
    if "__list__" in node:
        items, is_tuple = node["__list__"], node.get("__tuple__")
        if not isinstance(items, list) or not isinstance(is_tuple, bool):
            raise bad(f"malformed list node {_short(node)}")
        out = [unflatten(v, tensors, where, depth + 1) for v in items]
        return tuple(out) if is_tuple else out
    if "__value__" in node and len(node) == 1:
        value = node["__value__"]
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise bad(f"a plain value must be a number, string, bool or null, got {_short(value)}")
        return value
    raise bad(f"unknown node {_short(node)}")


def _is_int_literal(s):
    try:
        return str(int(s)) == s
    except ValueError:
        return False


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
