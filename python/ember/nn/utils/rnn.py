"""``ember.nn.utils.rnn``: variable-length batches, as ``torch.nn.utils.rnn``.

A :class:`PackedSequence` holds PyTorch's packed layout: ``data`` is the concatenation over
time steps ``t`` of the rows of the (length-sorted, longest first) batch still running at
``t``; ``batch_sizes[t]`` (an int64 CPU tensor) is how many rows that is. ``sorted_indices``
maps the sorted batch back to the caller's order (``None`` when the caller's batch was
already sorted); ``unsorted_indices`` is its inverse.
"""

from collections import namedtuple

from ... import _core

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]


def invert_permutation(permutation):
    if permutation is None:
        return None
    output = _core.zeros(permutation.numel(), dtype=permutation.dtype, device=permutation.device)
    output.scatter_(0, permutation, _core.arange(permutation.numel(), device=permutation.device))
    return output


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """Holds the data and ``batch_sizes`` of a packed batch; build one with
    :func:`pack_padded_sequence` or :func:`pack_sequence`, not directly."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence((data, batch_sizes)) as torch allows
            data, batch_sizes = data[0], data[1]
        if batch_sizes.device.type != "cpu":
            raise ValueError(
                "batch_sizes should always be on CPU. Instances of PackedSequence should never be created "
                "manually. They should be instantiated by functions like pack_sequence and pack_padded_sequences "
                "in nn.utils.rnn. https://pytorch.org/docs/stable/nn.html#torch.nn.utils.rnn.pack_sequence")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """Moves/casts ``data`` as ``Tensor.to``; the indices follow ``data``'s device and
        ``batch_sizes`` stays on the CPU. Returns ``self`` when ``data`` is unchanged."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        dev = data.device
        si = self.sorted_indices.to(dev) if self.sorted_indices is not None else None
        ui = self.unsorted_indices.to(dev) if self.unsorted_indices is not None else None
        return type(self)(data, self.batch_sizes, si, ui)

    def cpu(self, *args, **kwargs):
        return self.to("cpu", *args, **kwargs)

    def cuda(self, *args, **kwargs):
        return self.to(self.data.cuda(*args, **kwargs).device)

    def double(self):
        return self.to(dtype=_core.float64)

    def float(self):
        return self.to(dtype=_core.float32)

    def half(self):
        return self.to(dtype=_core.float16)

    def long(self):
        return self.to(dtype=_core.int64)

    def int(self):
        return self.to(dtype=_core.int32)

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return self.data.is_pinned()


def _batch_sizes(lengths):
    """Lengths sorted longest first -> how many sequences are still running at each step."""
    return [sum(1 for n in lengths if n > t) for t in range(lengths[0])] if lengths else []


def _pack(padded, batch_sizes):
    """``[T, B, *]`` (sorted batch) -> packed ``data``."""
    return _core.cat([padded[t, :bs] for t, bs in enumerate(batch_sizes)], 0)


def _unpack(data, batch_sizes, padding_value=0.0, total_length=None):
    """Packed ``data`` -> ``[T, B, *]`` in the sorted batch order."""
    B = batch_sizes[0]
    rest = tuple(data.shape[1:])
    steps, at = [], 0
    for bs in batch_sizes:
        piece = data[at: at + bs]
        at += bs
        if bs < B:
            piece = _core.cat([piece, _core.full((B - bs,) + rest, padding_value, dtype=data.dtype, device=data.device)], 0)
        steps.append(piece)
    T = len(batch_sizes)
    if total_length is not None and total_length > T:
        steps += [_core.full((B,) + rest, padding_value, dtype=data.dtype, device=data.device)] * (total_length - T)
    return _core.stack(steps, 0)


def _lengths_list(lengths):
    if isinstance(lengths, _core.Tensor):
        return [int(v) for v in lengths.reshape(-1).tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded batch ``[T, B, *]`` (``[B, T, *]`` with ``batch_first``) of sequences of
    the given ``lengths``. With ``enforce_sorted`` the lengths must be in decreasing order."""
    lengths = _lengths_list(lengths)
    batch_dim = 0 if batch_first else 1
    if len(lengths) != input.shape[batch_dim]:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                         f"(batch_size={input.shape[batch_dim]})")
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
                "if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable, as torch.sort(descending)
        lengths = [lengths[i] for i in order]
        sorted_indices = _core.tensor(order, dtype=_core.int64, device=input.device)
        input = input.index_select(batch_dim, sorted_indices)
    if lengths and lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0")
    if lengths[0] > input.shape[1 - batch_dim]:
        raise RuntimeError(f"Expected sequence length to be larger than or equal to {lengths[0]}, got {input.shape[1 - batch_dim]}")
    if batch_first:
        input = input.transpose(0, 1)
    bs = _batch_sizes(lengths)
    return PackedSequence(_pack(input, bs), _core.tensor(bs, dtype=_core.int64), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of :func:`pack_padded_sequence`: returns ``(padded, lengths)`` in the caller's
    original batch order; ``lengths`` is an int64 CPU tensor."""
    batch_sizes = [int(v) for v in sequence.batch_sizes.tolist()]
    max_len = len(batch_sizes)
    if total_length is not None:
        if total_length < max_len:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {max_len}")
    padded = _unpack(sequence.data, batch_sizes, padding_value, total_length)
    B = batch_sizes[0]
    lengths = [sum(1 for bs in batch_sizes if bs > b) for b in range(B)]
    lengths = _core.tensor(lengths, dtype=_core.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths.index_select(0, sequence.unsorted_indices.to("cpu"))
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, lengths


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks tensors ``[L_i, *]`` into ``[T, B, *]`` (``[B, T, *]`` with ``batch_first``),
    padding each to the longest with ``padding_value`` on ``padding_side``."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, _core.Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    max_len = max(s.shape[0] for s in sequences)
    out = []
    for s in sequences:
        n = max_len - s.shape[0]
        if n:
            pad = _core.full((n,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = _core.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        out.append(s)
    return _core.stack(out, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Inverse of :func:`pad_sequence` (right padding): a list of the unpadded tensors."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:n] for seq, n in zip(padded_sequences, _lengths_list(lengths))]


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of tensors ``[L_i, *]``; same as padding then :func:`pack_padded_sequence`."""
    lengths = [v.shape[0] for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """Inverse of :func:`pack_sequence`: the list of tensors, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
