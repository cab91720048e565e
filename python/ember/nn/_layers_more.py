"""The layers from conv3d.py, pooling3d.py, lazy.py and the newer ones in conv_transpose.py and
sparse.py, gathered for ``ember.nn``'s one import line."""

from .conv3d import Conv3d
from .conv_transpose import ConvTranspose1d
from .lazy import LazyLinear, UninitializedParameter
from .pooling3d import AvgPool3d, MaxPool3d
from .sparse import EmbeddingBag

__all__ = ["Conv3d", "ConvTranspose1d", "MaxPool3d", "AvgPool3d", "EmbeddingBag", "LazyLinear", "UninitializedParameter"]
