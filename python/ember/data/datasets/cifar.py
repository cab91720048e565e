"""CIFAR-10 from the "python version" archive: the pickled batches of the standard
``cifar-10-batches-py`` folder (``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
``batches.meta``) under ``root``.

Samples are ``(image, label)``: the image a ``(32, 32, 3)`` uint8 NumPy array (HWC, what
``np.asarray`` of torchvision's PIL image gives), the label an ``int``.
"""

import os
import pickle

import numpy as np

from ._download import download_and_extract_archive, mirrors_for
from ._vision import VisionDataset


def _load_batch(path):
    with open(path, "rb") as f:
        # The batches are Python 2 pickles; latin1 maps their byte strings to str losslessly.
        entry = pickle.load(f, encoding="latin1")
    # Accept bytes keys too (batches re-pickled under Python 3 with encoding="bytes").
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


class CIFAR10(VisionDataset):
    """CIFAR-10: 50,000 training and 10,000 test colour images, 32x32, in 10 classes.

    Args:
        root (str): folder holding ``cifar-10-batches-py/`` (and the downloaded archive).
        train (bool): the five training batches, or the test batch.
        transform, target_transform: applied to the image array / to the label.
        download (bool): fetch and extract ``cifar-10-python.tar.gz`` if the batches are
            missing. The class attribute ``mirrors`` or the environment variable
            ``EMBER_DATA_URL`` (then ``$EMBER_DATA_URL/CIFAR10/cifar-10-python.tar.gz``)
            choose where from; the archive's md5 is verified before it is extracted.

    The batches are pickles, and unpickling runs code: only load files you trust (the
    downloaded archive is checked against the published checksum).

    Attributes: ``data`` (uint8 array ``(N, 32, 32, 3)``), ``targets`` (list of int),
    ``classes``.
    """

    base_folder = "cifar-10-batches-py"
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
    test_list = ["test_batch"]
    meta = {"filename": "batches.meta", "key": "label_names"}

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        missing = self._missing()
        if missing:
            raise RuntimeError(
                f"{self.__class__.__name__} dataset not found: {', '.join(missing)} missing "
                f"from {os.path.join(self.root, self.base_folder)}. Pass download=True to "
                f"download it, or extract {self.filename} (from {self._mirrors()[0]}) into "
                f"{self.root}."
            )

        data, targets = [], []
        for name in self.train_list if self.train else self.test_list:
            entry = _load_batch(os.path.join(self.root, self.base_folder, name))
            data.append(np.asarray(entry["data"], dtype=np.uint8))
            targets.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        # Stored as rows of 3072 bytes: 1024 red, 1024 green, 1024 blue, each row-major.
        self.data = np.ascontiguousarray(np.vstack(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        self.targets = [int(t) for t in targets]
        if len(self.data) != len(self.targets):
            raise RuntimeError(
                f"{self.__class__.__name__}: {len(self.data)} images but {len(self.targets)} labels"
            )
        self.classes = list(_load_batch(os.path.join(self.root, self.base_folder, self.meta["filename"]))[self.meta["key"]])

    def _mirrors(self):
        return mirrors_for(self.__class__.__name__, self.mirrors)

    def _missing(self):
        names = self.train_list + self.test_list + [self.meta["filename"]]
        folder = os.path.join(self.root, self.base_folder)
        return [n for n in names if not os.path.isfile(os.path.join(folder, n))]

    def download(self):
        """Download and extract the archive, unless every batch file is already there."""
        if not self._missing():
            return
        download_and_extract_archive(self._mirrors(), self.filename, self.root, md5=self.tgz_md5)

    def __getitem__(self, index):
        # A copy, so a transform working in place cannot alter the dataset.
        return self._apply(self.data[index].copy(), self.targets[index])

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"
