"""`Binomial` at its torch.distributions module path."""

from ._discrete import Binomial

__all__ = ["Binomial"]
