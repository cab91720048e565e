"""`Dirichlet` at its torch.distributions module path."""

from ._gamma import Dirichlet

__all__ = ["Dirichlet"]
