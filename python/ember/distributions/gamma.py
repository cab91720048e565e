"""`Gamma` at its torch.distributions module path."""

from ._gamma import Gamma

__all__ = ["Gamma"]
