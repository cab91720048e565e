"""The ``Distribution`` base class, as ``torch.distributions.Distribution``."""

import ember as _e

from . import constraints
from .utils import lazy_property


def _size(shape):
    if isinstance(shape, int):
        return _e.Size([shape])
    return _e.Size(list(shape))


class Distribution:
    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__

    @staticmethod
    def set_default_validate_args(value):
        if value not in (True, False):
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape=_e.Size(), event_shape=_e.Size(), validate_args=None):
        self._batch_shape = _size(batch_shape)
        self._event_shape = _size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and isinstance(getattr(type(self), param, None), lazy_property):
                    continue  # not given: derived from the other parametrisation
                value = getattr(self, param)
                if not bool(constraint.check(value).all()):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape {tuple(value.shape)}) "
                        f"of distribution {self!r} to satisfy the constraint {constraint!r}, "
                        f"but found invalid values:\n{value}")
        super().__init__()

    def expand(self, batch_shape, _instance=None):
        raise NotImplementedError

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    @property
    def arg_constraints(self):
        raise NotImplementedError

    @property
    def support(self):
        raise NotImplementedError

    @property
    def mean(self):
        raise NotImplementedError

    @property
    def mode(self):
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self):
        raise NotImplementedError

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=_e.Size()):
        with _e.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=_e.Size()):
        raise NotImplementedError

    def sample_n(self, n):
        return self.sample(_e.Size((n,)))

    def log_prob(self, value):
        raise NotImplementedError

    def cdf(self, value):
        raise NotImplementedError

    def icdf(self, value):
        raise NotImplementedError

    def enumerate_support(self, expand=True):
        raise NotImplementedError

    def entropy(self):
        raise NotImplementedError

    def perplexity(self):
        return self.entropy().exp()

    def _extended_shape(self, sample_shape=_e.Size()):
        return _e.Size(list(_size(sample_shape)) + list(self._batch_shape) + list(self._event_shape))

    def _validate_sample(self, value):
        if not isinstance(value, _e.Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = value.dim() - len(self._event_shape)
        if tuple(value.shape[event_dim_start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{tuple(value.shape)} vs {tuple(self._event_shape)}.")
        actual = value.shape
        expected = list(self._batch_shape) + list(self._event_shape)
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{tuple(actual)} vs {tuple(expected)}.")
        support = self.support
        if not bool(support.check(value).all()):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) "
                f"to be within the support ({support!r}) of the distribution {self!r}, "
                f"but found invalid values:\n{value}")

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(
                f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom __init__ "
                "method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    # Every expand() is the same three steps: a checked bare instance, each stored parameter
    # expanded to the new batch shape, and the base __init__ rerun without validation (the
    # parameters were checked when ``self`` was built) before copying ``self``'s setting.
    # The two halves are split so a subclass can add its own attributes in between.
    def _expand_begin(self, cls, batch_shape, _instance=None, params=(), param_tail=()):
        """The instance ``expand`` fills and the batch shape as a Size; ``params`` are expanded
        to the batch shape followed by ``param_tail`` (see ``_expand_into``)."""
        new = self._get_checked_instance(cls, _instance)
        batch_shape = _size(batch_shape)
        self._expand_into(new, params, _e.Size(list(batch_shape) + list(param_tail)))
        return new, batch_shape

    def _expand_into(self, new, params, shape):
        # Only the parameters ``self`` holds in its __dict__: of probs/logits (or the MVN
        # matrices) the ones never computed stay lazy on ``new`` too, as in PyTorch.
        for name in params:
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(shape)

    def _expand_end(self, new, batch_shape, event_shape=_e.Size()):
        Distribution.__init__(new, batch_shape, event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _expand_params(self, cls, batch_shape, _instance, params):
        """The whole of ``expand`` for a distribution with only scalar-event parameters."""
        new, batch_shape = self._expand_begin(cls, batch_shape, _instance, params)
        return self._expand_end(new, batch_shape)

    def __repr__(self):
        names = [k for k in self.arg_constraints if k in self.__dict__]
        args = ", ".join(
            f"{p}: {self.__dict__[p] if self.__dict__[p].numel() == 1 else _e.Size(self.__dict__[p].shape)}"
            for p in names)
        return self.__class__.__name__ + "(" + args + ")"


__all__ = ["Distribution"]
