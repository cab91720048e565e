"""`Laplace` at its torch.distributions module path."""

from ._continuous import Laplace

__all__ = ["Laplace"]
