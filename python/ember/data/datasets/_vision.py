"""The base class of ember's image datasets: stores ``root`` and the two transforms, and
gives every dataset the same repr (what torchvision's ``VisionDataset`` does)."""

import os

from ..dataset import Dataset


class VisionDataset(Dataset):
    """Base of image datasets: ``transform`` is applied to the image, ``target_transform``
    to the label."""

    def __init__(self, root=None, transform=None, target_transform=None):
        if isinstance(root, str):
            root = os.path.expanduser(root)
        self.root = root
        self.transform = transform
        self.target_transform = target_transform

    def _apply(self, img, target):
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"Dataset {self.__class__.__name__}", f"    Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"    Root location: {self.root}")
        lines += ["    " + line for line in self.extra_repr().splitlines()]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)
