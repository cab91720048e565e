"""`Poisson` at its torch.distributions module path."""

from ._discrete import Poisson

__all__ = ["Poisson"]
