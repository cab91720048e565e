"""Ready-made datasets: :class:`Digits` (offline, from scikit-learn), :class:`MNIST`,
:class:`FashionMNIST` and :class:`CIFAR10` (downloaded on request, checksummed).

Downloads come from each class's ``mirrors``, or from ``$EMBER_DATA_URL/<ClassName>/``
when that environment variable is set (see :mod:`ember.data.datasets._download`).
"""

from ._vision import VisionDataset
from .cifar import CIFAR10
from .digits import Digits
from .mnist import MNIST, FashionMNIST

__all__ = ["VisionDataset", "Digits", "MNIST", "FashionMNIST", "CIFAR10"]
