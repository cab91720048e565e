"""`OneHotCategorical` at its torch.distributions module path."""

from ._discrete import OneHotCategorical

__all__ = ["OneHotCategorical"]
