"""`LogNormal` at its torch.distributions module path."""

from ._continuous import LogNormal

__all__ = ["LogNormal"]
