"""`Normal` at its torch.distributions module path."""

from ._continuous import Normal

__all__ = ["Normal"]
