"""MNIST and Fashion-MNIST, read from the original IDX files (gzipped or not) in
``<root>/<ClassName>/raw/``, the layout torchvision uses.

Samples are ``(image, label)``: the image a ``(28, 28)`` uint8 NumPy array (what
``np.asarray`` of torchvision's PIL image gives; ``transforms.ToTensor()`` makes it a
``(1, 28, 28)`` float tensor), the label an ``int``.
"""

import gzip
import os
import struct

import numpy as np

from ._download import download_from_mirrors, mirrors_for
from ._vision import VisionDataset

# IDX element types: type code -> big-endian NumPy dtype (http://yann.lecun.com/exdb/mnist/).
_IDX_TYPES = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path):
    """Read an IDX file (``.gz`` or raw) into a native-byte-order NumPy array.

    Raises RuntimeError naming the file if the header or the size is wrong, so a truncated
    download is reported as such rather than as a reshape error.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise RuntimeError(f"{path} is not an IDX file (magic number {raw[:4].hex() or 'missing'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise RuntimeError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise RuntimeError(
            f"{path}: the header announces shape {tuple(dims)} ({expected} bytes of data) "
            f"but the file holds {len(raw) - header}; it is probably truncated or corrupted"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable, native-order copy


class MNIST(VisionDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grayscale.

    Args:
        root (str): folder holding ``MNIST/raw/`` (the dataset class name, then ``raw``).
        train (bool): the training set (``train-*``) or the test set (``t10k-*``).
        transform, target_transform: applied to the image array / to the label.
        download (bool): fetch the files that are missing. Mirrors are tried in order; the
            class attribute ``mirrors`` or the environment variable ``EMBER_DATA_URL`` (then
            files are fetched from ``$EMBER_DATA_URL/<ClassName>/``) choose where from.

    Attributes: ``data`` (uint8 array ``(N, 28, 28)``), ``targets`` (int64 array ``(N,)``),
    ``classes``.
    """

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        missing = self._missing(self._split_files())
        if missing:
            raise RuntimeError(
                f"{self.__class__.__name__} dataset not found: {', '.join(missing)} missing "
                f"from {self.raw_folder}. Pass download=True to download it, or put the IDX "
                f"files there (gzipped or not; they are at {self._mirrors()[0]})."
            )
        images_path, labels_path = (self._find(name) for name in self._split_files())
        self.data = read_idx(images_path)
        self.targets = read_idx(labels_path).astype(np.int64)
        if self.data.ndim != 3 or self.targets.ndim != 1 or len(self.data) != len(self.targets):
            raise RuntimeError(
                f"{self.__class__.__name__}: images of shape {self.data.shape} do not match "
                f"labels of shape {self.targets.shape}"
            )

    @property
    def raw_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "raw")

    def _mirrors(self):
        return mirrors_for(self.__class__.__name__, self.mirrors)

    def _split_files(self):
        prefix = "train" if self.train else "t10k"
        return [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]

    def _find(self, name):
        """The path of ``name`` as downloaded (``.gz``) or decompressed, or None."""
        for candidate in (name, name[: -len(".gz")] if name.endswith(".gz") else name):
            path = os.path.join(self.raw_folder, candidate)
            if os.path.isfile(path):
                return path
        return None

    def _missing(self, names):
        return [name for name in names if self._find(name) is None]

    def download(self):
        """Download the files of both splits that are not there yet."""
        mirrors = self._mirrors()
        for filename, md5 in self.resources:
            if self._find(filename) is None:
                download_from_mirrors(mirrors, filename, self.raw_folder, md5=md5)

    def __getitem__(self, index):
        # A copy, so a transform working in place cannot alter the dataset.
        return self._apply(self.data[index].copy(), int(self.targets[index]))

    def __len__(self):
        return len(self.data)

    def extra_repr(self):
        return f"Split: {'Train' if self.train else 'Test'}"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: MNIST's format and sizes, with 10 kinds of clothing.

    Same arguments as :class:`MNIST`; files live in ``<root>/FashionMNIST/raw/``.
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
