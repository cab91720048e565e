"""`Chi2` at its torch.distributions module path."""

from ._gamma import Chi2

__all__ = ["Chi2"]
