"""The 8x8 handwritten digits that ship with scikit-learn (``sklearn.datasets.load_digits``):
1797 images, 10 classes, no download. A quick, offline stand-in for MNIST in examples and
tests."""

import functools

import numpy as np

import ember

from ._vision import VisionDataset

# The split is fixed once and for all: a permutation from this seed through NumPy's legacy
# RandomState, whose stream NumPy guarantees never to change (Generator streams may).
_SPLIT_SEED = 0
_TRAIN_FRACTION = 0.8


def _split_indices(n, train):
    perm = np.random.RandomState(_SPLIT_SEED).permutation(n)
    n_train = int(n * _TRAIN_FRACTION)
    # Sorted, so a split keeps scikit-learn's order; shuffling is the DataLoader's job.
    return np.sort(perm[:n_train] if train else perm[n_train:])


@functools.lru_cache(maxsize=1)
def _load():
    # Parsed once per process: train and test splits (and workers' copies) share it.
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "ember.data.datasets.Digits needs scikit-learn: pip install scikit-learn"
        ) from e
    bunch = load_digits()
    return bunch.images, bunch.target


class Digits(VisionDataset):
    """scikit-learn's 8x8 digits as ``(image, label)`` pairs.

    Each image is a float32 ember tensor of shape ``(1, 8, 8)`` with values in [0, 1] (the
    original 0..16 intensities divided by 16); each label an ``int`` in 0..9.
    ``train=True`` gives a fixed 80% of the 1797 images (1437), ``train=False`` the other
    20% (360); the split is the same on every machine and in every run.

    Args:
        root: unused (the data ships with scikit-learn); accepted so that every dataset has
            the same signature.
        train (bool): which split.
        transform, target_transform: applied to the image tensor / to the label.
        download: unused, for the same reason as ``root``.
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        images, targets = _load()
        idx = _split_indices(len(targets), train)
        #: float32 array (N, 1, 8, 8) in [0, 1]
        self.data = (images[idx].astype(np.float32) / np.float32(16.0))[:, None, :, :]
        #: list of int labels
        self.targets = [int(t) for t in targets[idx]]
        #: positions of this split's samples in ``load_digits()``
        self.indices = idx

    def __getitem__(self, index):
        # A copy, so a transform working in place cannot alter the dataset.
        img = ember.from_numpy(self.data[index].copy())
        return self._apply(img, self.targets[index])

    def __len__(self):
        return len(self.targets)

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"
