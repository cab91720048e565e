"""Image transforms for datasets, after ``torchvision.transforms``: :class:`Compose`,
:class:`ToTensor`, :class:`Normalize`, :class:`Lambda`, :class:`RandomCrop`,
:class:`RandomHorizontalFlip` and :class:`RandomRotation`.

Geometric transforms accept three kinds of image and return the same kind:

* an ember tensor laid out ``(..., C, H, W)`` (or ``(H, W)``),
* a NumPy array laid out ``(H, W)`` or ``(H, W, C)`` (what ember's datasets yield, and what
  ``np.asarray(pil_image)`` gives),
* a PIL image (only if Pillow is installed; ember does not need it).

The pixel work is done in NumPy. Random choices are drawn from ember's global generator
(``ember.rand`` / ``ember.randint``), so ``ember.manual_seed`` makes a pipeline
reproducible, and DataLoader workers (which seed ember per worker) get distinct draws.
"""

import math
import numbers

import numpy as np

import ember

__all__ = [
    "Compose",
    "ToTensor",
    "Normalize",
    "Lambda",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
]


# --- conversions between the supported image kinds ------------------------------------


def _is_pil(img):
    # Checked by module name so that Pillow is imported only by those who use it.
    return type(img).__module__.startswith("PIL.") and hasattr(img, "getbands")


def _from_numpy(arr):
    # from_numpy wants C-contiguous, native byte order; crops/flips give views.
    if not arr.flags.c_contiguous or not arr.dtype.isnative:
        arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return ember.from_numpy(arr)


def _to_hw(img):
    """Return ``(array, restore)``: the image as an array with H and W as its first two
    axes, and a function that turns such an array back into the input's kind."""
    if isinstance(img, ember.Tensor):
        a = img.numpy()
        if a.ndim < 2:
            raise ValueError(
                f"Expected a tensor image of size (..., H, W), got shape {tuple(a.shape)}"
            )
        hw = np.moveaxis(a, (-2, -1), (0, 1))
        return hw, lambda out: _from_numpy(np.moveaxis(out, (0, 1), (-2, -1)))
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(
                f"Expected an array image of shape (H, W) or (H, W, C), got shape {img.shape}"
            )
        # A copy, so the result never aliases the dataset's own storage.
        return img, lambda out: np.array(out, copy=True, order="C")
    if _is_pil(img):
        from PIL import Image

        mode, palette = img.mode, (img.getpalette() if img.mode == "P" else None)

        def restore(out):
            res = Image.fromarray(np.ascontiguousarray(out))
            if palette is not None:
                res.putpalette(palette)
            elif res.mode != mode and mode == "1":
                res = res.convert("1")
            return res

        return np.asarray(img), restore
    raise TypeError(
        f"img should be an ember Tensor, a NumPy array or a PIL Image. Got {type(img)}"
    )


def _fill_value(fill):
    """``fill`` (a number, or one value per channel) as an array: in the canonical
    (H, W, ...) layout the channels are trailing, so it broadcasts as it is."""
    return np.asarray(0 if fill is None else fill)


def _crop(a, top, left, height, width):
    return a[top : top + height, left : left + width]


def _pad(a, left, top, right, bottom, fill, padding_mode):
    if padding_mode == "constant":
        # Built by hand rather than np.pad so that a per-channel fill works too.
        h, w = a.shape[:2]
        out = np.empty((h + top + bottom, w + left + right) + a.shape[2:], dtype=a.dtype)
        out[...] = _fill_value(fill)
        out[top : top + h, left : left + w] = a
        return out
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, widths, mode=padding_mode)


def _setup_size(size, error_msg):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(error_msg)
    return tuple(size)


def _parse_padding(padding):
    """torchvision's convention -> (left, top, right, bottom)."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = list(padding)
    if len(padding) == 1:
        return (padding[0],) * 4
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(
        f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple"
    )


def _rand_uniform():
    return float(ember.rand(1).item())


def _rand_int(low, high):
    return int(ember.randint(low, high, (1,)).item())


# --- transforms --------------------------------------------------------------------------


class Compose:
    """Apply ``transforms`` one after the other."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        lines = [self.__class__.__name__ + "("]
        lines += [f"    {t}" for t in self.transforms]
        return "\n".join(lines) + "\n)"


class ToTensor:
    """Convert an ``(H, W, C)`` / ``(H, W)`` NumPy array or a PIL image into a ``(C, H, W)``
    ember tensor.

    uint8 images (and PIL modes L, RGB, RGBA, P, 1, ...) are scaled to float32 in [0, 1];
    other dtypes keep their values and dtype, as in torchvision.
    """

    def __call__(self, pic):
        if _is_pil(pic):
            arr = np.array(pic, copy=True)
            if pic.mode == "1":
                arr = arr.astype(np.uint8) * 255
        elif isinstance(pic, np.ndarray):
            if pic.ndim not in (2, 3):
                raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
            arr = pic
        else:
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        arr = arr.transpose(2, 0, 1)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / np.float32(255)
        return _from_numpy(arr)

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class Normalize:
    """``(x - mean) / std`` per channel, on a float tensor image of shape ``(..., C, H, W)``.

    ``inplace`` is accepted for torchvision compatibility; the result is always a new tensor.
    """

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        if not isinstance(tensor, ember.Tensor):
            raise TypeError(f"Input tensor should be an ember tensor. Got {type(tensor)}.")
        a = tensor.numpy()
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if a.ndim < 3:
            raise ValueError(
                "Expected tensor to be a tensor image of size (..., C, H, W). Got "
                f"tensor.size() = {tuple(a.shape)}."
            )
        mean = np.asarray(self.mean, dtype=a.dtype)
        std = np.asarray(self.std, dtype=a.dtype)
        if (std == 0).any():
            raise ValueError(
                f"std evaluated to zero after conversion to {a.dtype}, leading to division by zero."
            )
        if mean.ndim == 1:
            mean = mean.reshape(-1, 1, 1)
        if std.ndim == 1:
            std = std.reshape(-1, 1, 1)
        return _from_numpy(((a - mean) / std).astype(a.dtype, copy=False))

    def __repr__(self):
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


class Lambda:
    """Apply a user function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class RandomCrop:
    """Crop a random ``size`` window, after optional padding.

    Args:
        size (int or (h, w)): output size.
        padding (int or sequence): border added first: one int for all sides, (left/right,
            top/bottom), or (left, top, right, bottom).
        pad_if_needed (bool): pad an image smaller than ``size`` up to it.
        fill (number or per-channel sequence): value of constant padding.
        padding_mode: "constant", "edge", "reflect" or "symmetric" (NumPy's meanings, which
            are torchvision's).
    """

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = tuple(
            _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")
        )
        if padding is not None:
            _parse_padding(padding)  # validate now, not on the first sample
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img_hw, output_size):
        """Random ``(top, left, height, width)`` of a crop of ``output_size`` from an image of
        size ``img_hw = (h, w)``."""
        h, w = img_hw
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        i = _rand_int(0, h - th + 1)
        j = _rand_int(0, w - tw + 1)
        return i, j, th, tw

    def __call__(self, img):
        a, restore = _to_hw(img)
        if self.padding is not None:
            a = _pad(a, *_parse_padding(self.padding), self.fill, self.padding_mode)
        h, w = a.shape[:2]
        th, tw = self.size
        if self.pad_if_needed and w < tw:
            a = _pad(a, tw - w, 0, tw - w, 0, self.fill, self.padding_mode)
        if self.pad_if_needed and h < th:
            a = _pad(a, 0, th - h, 0, th - h, self.fill, self.padding_mode)
        i, j, h, w = self.get_params(a.shape[:2], self.size)
        return restore(_crop(a, i, j, h, w))

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the image left-right with probability ``p``."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        # Always draw, like torchvision, so the RNG stream does not depend on p.
        if _rand_uniform() < self.p:
            a, restore = _to_hw(img)
            return restore(a[:, ::-1])
        return img

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class RandomRotation:
    """Rotate by an angle drawn uniformly from ``degrees`` (counter-clockwise for positive
    angles), with nearest-neighbour sampling.

    Args:
        degrees (number or (min, max)): range of angles; a number d means (-d, d).
        interpolation: only nearest-neighbour (``"nearest"``) is implemented.
        expand (bool): grow the output to hold the whole rotated image (rotation about the
            image centre); otherwise the output keeps the input size.
        center ((x, y)): pivot, in pixels from the top-left corner; default the centre.
        fill (number or per-channel sequence): value for pixels that come from outside.
    """

    def __init__(self, degrees, interpolation="nearest", expand=False, center=None, fill=0):
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError("If degrees is a single number, it must be positive.")
            degrees = [-degrees, degrees]
        else:
            if len(degrees) != 2:
                raise ValueError("If degrees is a sequence, it must be of len 2.")
        self.degrees = [float(d) for d in degrees]
        mode = getattr(interpolation, "value", interpolation)  # accepts an InterpolationMode
        if mode != "nearest":
            raise ValueError(
                f"RandomRotation supports only nearest-neighbour interpolation, got {interpolation!r}"
            )
        self.interpolation = interpolation
        if center is not None and len(center) != 2:
            raise ValueError("center should be a sequence of length 2.")
        self.expand = expand
        self.center = center
        self.fill = fill

    @staticmethod
    def get_params(degrees):
        """A random angle, uniform in ``[degrees[0], degrees[1]]``."""
        return float(degrees[0]) + _rand_uniform() * (float(degrees[1]) - float(degrees[0]))

    def __call__(self, img):
        angle = self.get_params(self.degrees)
        a, restore = _to_hw(img)
        return restore(_rotate_nearest(a, angle, self.expand, self.center, self.fill))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(degrees={self.degrees}, interpolation=nearest, "
            f"expand={self.expand}, center={self.center}, fill={self.fill})"
        )


def _rotate_nearest(a, angle, expand, center, fill):
    """Rotate the (H, W, ...) array ``a`` by ``angle`` degrees counter-clockwise.

    Inverse mapping: every output pixel looks up the input pixel it comes from, so the
    output has no holes. Coordinates are pixel centres; a user ``center`` is given from the
    top-left corner (PIL / torchvision convention), hence the half-pixel shift.
    """
    h, w = a.shape[:2]
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    if center is None:
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    else:
        cx, cy = center[0] - 0.5, center[1] - 0.5

    if expand:
        # Bounding box of the rotated corners (rotation about the centre), with a tolerance so
        # that exact multiples of 90 degrees do not gain a pixel from rounding error.
        xs = np.array([-0.5 * w, -0.5 * w, 0.5 * w, 0.5 * w])
        ys = np.array([-0.5 * h, 0.5 * h, 0.5 * h, -0.5 * h])
        rx = cos * xs + sin * ys
        ry = -sin * xs + cos * ys
        tol = 1e-4
        ow = int(math.ceil(np.trunc(rx.max() / tol) * tol) - math.floor(np.trunc(rx.min() / tol) * tol))
        oh = int(math.ceil(np.trunc(ry.max() / tol) * tol) - math.floor(np.trunc(ry.min() / tol) * tol))
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        ocx, ocy = (ow - 1) / 2.0, (oh - 1) / 2.0
    else:
        oh, ow = h, w
        ocx, ocy = cx, cy

    yo, xo = np.mgrid[0:oh, 0:ow].astype(np.float64)
    dx, dy = xo - ocx, yo - ocy
    # Visual counter-clockwise rotation in y-down image coordinates maps (x, y) to
    # (c x + s y, -s x + c y); the source of an output pixel is the transpose applied to it.
    src_x = np.rint(cos * dx - sin * dy + cx).astype(np.int64)
    src_y = np.rint(sin * dx + cos * dy + cy).astype(np.int64)
    valid = (src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)
    out = a[np.clip(src_y, 0, h - 1), np.clip(src_x, 0, w - 1)]
    out[~valid] = _fill_value(fill)
    return out
