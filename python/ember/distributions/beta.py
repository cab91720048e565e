"""`Beta` at its torch.distributions module path."""

from ._gamma import Beta

__all__ = ["Beta"]
