"""`StudentT` at its torch.distributions module path."""

from ._gamma import StudentT

__all__ = ["StudentT"]
