"""`Bernoulli` at its torch.distributions module path."""

from ._discrete import Bernoulli

__all__ = ["Bernoulli"]
