"""`Geometric` at its torch.distributions module path."""

from ._discrete import Geometric

__all__ = ["Geometric"]
