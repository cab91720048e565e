"""Helpers shared by the distributions (as ``torch.distributions.utils``)."""

import numbers

import ember as _e


class lazy_property:
    """Computed on first access, then cached on the instance (``probs`` / ``logits``)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = getattr(wrapped, "__doc__", None)
        self.__name__ = wrapped.__name__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value


def _broadcast_shape(*shapes):
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            j = len(s) - ndim + i
            if j < 0:
                continue
            if s[j] != 1:
                if size != 1 and size != s[j]:
                    raise ValueError(f"shapes {[tuple(x) for x in shapes]} cannot be broadcast together")
                size = s[j]
        out.append(size)
    return _e.Size(out)


def broadcast_all(*values):
    """Numbers and tensors to tensors of one broadcast shape (numbers take the tensors' dtype)."""
    tensors = [v for v in values if isinstance(v, _e.Tensor)]
    for v in values:
        if not isinstance(v, (_e.Tensor, numbers.Number)):
            raise ValueError("Input arguments must all be instances of numbers.Number or ember.Tensor.")
    floats = [t for t in tensors if t.dtype.is_floating_point]
    dtype = floats[0].dtype if floats else _e.get_default_dtype()
    device = tensors[0].device if tensors else None
    vals = []
    for v in values:
        if isinstance(v, _e.Tensor):
            vals.append(v if v.dtype.is_floating_point else v.to(dtype))
        else:
            vals.append(_e.tensor(float(v), dtype=dtype, device=device))
    shape = _broadcast_shape(*[v.shape for v in vals])
    return tuple(v.expand(shape) if tuple(v.shape) != tuple(shape) else v for v in vals)


def _broadcast_params(*values):
    """``broadcast_all(*values)`` and the batch shape it gives: ``()`` when every value is a
    Python number (as PyTorch's constructors do), else the broadcast shape. Shared by the
    constructors so the scalar rule is written once."""
    tensors = broadcast_all(*values)
    scalar = all(isinstance(v, numbers.Number) for v in values)
    return tensors, (_e.Size() if scalar else tensors[0].shape)


def _sum_rightmost(value, dim):
    if dim == 0:
        return value
    return value.reshape(*value.shape[:value.dim() - dim], -1).sum(-1)


def clamp_probs(probs):
    eps = _e.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def logits_to_probs(logits, is_binary=False):
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def probs_to_logits(probs, is_binary=False):
    ps = clamp_probs(probs)
    if is_binary:
        return ps.log() - (-ps).log1p()
    return ps.log()
