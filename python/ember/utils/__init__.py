"""ember.utils: home of ``ember.utils.data``, the PyTorch-compatible spelling of
:mod:`ember.data` (so ``from ember.utils.data import DataLoader`` works like torch's)."""

from . import data

__all__ = ["data"]
