"""Collation: how a DataLoader turns a list of samples into one batch.

Mirrors ``torch.utils.data._utils.collate``: :func:`default_collate` stacks tensors and
NumPy arrays, turns Python numbers into int64 / float64 tensors, keeps strings as lists and
recurses into dicts, namedtuples, tuples and lists; :func:`default_convert` (used when
automatic batching is off) only converts NumPy arrays to tensors. :func:`collate` with a
``collate_fn_map`` lets you extend the rules for your own types.
"""

import collections.abc
import copy
import re

import numpy as np

import ember

__all__ = ["collate", "default_collate", "default_convert", "default_collate_fn_map"]

# NumPy dtype kinds that cannot become tensors: bytes, unicode strings and objects.
_np_str_obj_array_pattern = re.compile(r"[SaUO]")

_default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, "
    "dicts or lists; found {}"
)


def _is_numpy_value(obj):
    # torch's test: the type lives in numpy and is not a numpy string scalar.
    t = type(obj)
    return t.__module__ == "numpy" and t.__name__ not in ("str_", "string_", "bytes_")


def default_convert(data):
    """Convert NumPy arrays and scalars in ``data`` to ember tensors, recursively; leave
    everything else as it is (used when ``batch_size=None``)."""
    elem_type = type(data)
    if isinstance(data, ember.Tensor):
        return data
    if _is_numpy_value(data):
        if elem_type.__name__ in ("ndarray", "memmap") and _np_str_obj_array_pattern.search(
            data.dtype.str
        ) is not None:
            return data
        return _array_to_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                # Copy, then update, so that dict subclasses with extra state survive.
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def _array_to_tensor(arr):
    # from_numpy wants a C-contiguous, native-endian array (IDX files are big-endian,
    # flips and crops give views); copy only when that is not already the case.
    if not arr.flags.c_contiguous or not arr.dtype.isnative:
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return ember.from_numpy(arr)


def collate_tensor_fn(batch, *, collate_fn_map=None):
    return ember.stack(list(batch), 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    elem = batch[0]
    if _np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(_default_collate_err_msg_format.format(elem.dtype))
    try:
        # One NumPy stack and one conversion instead of a tensor per sample.
        stacked = np.stack(batch)
    except ValueError:
        # Unequal shapes: let ember.stack raise its own error, as torch.stack would.
        return collate([ember.as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)
    return _array_to_tensor(stacked)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    return _array_to_tensor(np.asarray(batch))


def collate_float_fn(batch, *, collate_fn_map=None):
    return ember.tensor(list(batch), dtype=ember.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    # bool is an int subclass; ember.tensor infers bool for it and int64 for int, like torch.
    return ember.tensor(list(batch))


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


# Checked in insertion order after an exact-type lookup; the NumPy scalar entry comes before
# ``float`` because np.float64 subclasses float but must keep its NumPy dtype.
default_collate_fn_map = {
    np.ndarray: collate_numpy_array_fn,
    np.memmap: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def _fn_map():
    # ember.Tensor may not be bound yet when this module is imported (ember/__init__.py may
    # import ember.data before the core names), so the tensor rule is added on first use.
    if ember.Tensor not in default_collate_fn_map:
        default_collate_fn_map[ember.Tensor] = collate_tensor_fn
    return default_collate_fn_map


def collate(batch, *, collate_fn_map=None):
    """Collate a list of samples into a batch, recursively.

    ``collate_fn_map`` maps a type to a function ``f(batch, *, collate_fn_map)`` used for
    elements of that type (or a subclass); containers (mappings, namedtuples, tuples,
    sequences) are handled here by recursing into their fields.
    """
    elem = batch[0]
    elem_type = type(elem)

    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)

    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(
                    {
                        key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                        for key in elem
                    }
                )
                return clone
            return elem_type(
                {
                    key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                    for key in elem
                }
            )
        except TypeError:
            # The mapping type cannot be rebuilt from a dict: fall back to a plain dict.
            return {
                key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                for key in elem
            }
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            # Like torch: a batch of tuples becomes a *list* of collated fields.
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone[i] = collate(samples, collate_fn_map=collate_fn_map)
                return clone
            return elem_type([collate(samples, collate_fn_map=collate_fn_map) for samples in transposed])
        except TypeError:
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]

    raise TypeError(_default_collate_err_msg_format.format(elem_type))


def default_collate(batch):
    """Collate a list of samples the way ``torch.utils.data.default_collate`` does.

    ======================================  =========================================
    sample element                          batch
    ======================================  =========================================
    ember.Tensor                            ``ember.stack(batch)`` (new leading dim)
    NumPy array                             stacked, converted to an ember tensor
    NumPy scalar                            1-D tensor of its dtype
    float                                   float64 tensor
    int (bool)                              int64 (bool) tensor
    str / bytes                             unchanged list
    Mapping                                 same mapping type, collated per key
    namedtuple                              same namedtuple, collated per field
    tuple / list / other Sequence           list (or the same sequence type for lists),
                                            collated per position
    ======================================  =========================================
    """
    return collate(batch, collate_fn_map=_fn_map())
