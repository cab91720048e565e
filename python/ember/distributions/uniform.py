"""`Uniform` at its torch.distributions module path."""

from ._continuous import Uniform

__all__ = ["Uniform"]
