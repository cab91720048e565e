"""`Categorical` at its torch.distributions module path."""

from ._discrete import Categorical

__all__ = ["Categorical"]
