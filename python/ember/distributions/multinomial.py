"""`Multinomial` at its torch.distributions module path."""

from ._discrete import Multinomial

__all__ = ["Multinomial"]
