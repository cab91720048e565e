"""`Exponential` at its torch.distributions module path."""

from ._continuous import Exponential

__all__ = ["Exponential"]
