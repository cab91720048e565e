"""Tests of ember.data.transforms against NumPy references: conversions, normalisation, and
the random geometric transforms (window, flip and rotation checked pixel by pixel, and
their randomness reproducible under ember.manual_seed)."""

import math

import numpy as np
import pytest

import ember
from ember.data import transforms as T

try:
    from PIL import Image
except ImportError:  # Pillow is optional for ember
    Image = None

needs_pil = pytest.mark.skipif(Image is None, reason="Pillow not installed")


def hwc(h=5, w=6, c=3, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(h, w, c)).astype(np.uint8)


def as_tensor(a):
    return ember.from_numpy(np.ascontiguousarray(a))


# --- ToTensor / Normalize / Compose / Lambda -----------------------------------------------


def test_to_tensor_hwc_uint8_becomes_chw_float_in_unit_range():
    img = hwc()
    t = T.ToTensor()(img)
    assert isinstance(t, ember.Tensor) and t.dtype == ember.float32
    assert tuple(t.shape) == (3, 5, 6)
    np.testing.assert_allclose(t.numpy(), img.transpose(2, 0, 1).astype(np.float32) / 255, rtol=1e-7)
    assert t.numpy().min() >= 0 and t.numpy().max() <= 1


def test_to_tensor_gray_and_non_uint8():
    gray = hwc(c=1)[:, :, 0]
    t = T.ToTensor()(gray)
    assert tuple(t.shape) == (1, 5, 6)
    np.testing.assert_allclose(t.numpy()[0], gray / 255.0, rtol=1e-6)
    # Other dtypes keep their values and dtype (torchvision's rule).
    f = np.linspace(0, 10, 12, dtype=np.float32).reshape(3, 4)
    out = T.ToTensor()(f)
    assert out.dtype == ember.float32
    np.testing.assert_array_equal(out.numpy(), f[None])


def test_to_tensor_bad_input():
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4 dimensions."):
        T.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))


@needs_pil
def test_to_tensor_pil_images():
    img = hwc()
    t = T.ToTensor()(Image.fromarray(img))
    np.testing.assert_allclose(t.numpy(), img.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    gray = Image.fromarray(img[:, :, 0])
    assert tuple(T.ToTensor()(gray).shape) == (1, 5, 6)


def test_normalize_matches_numpy():
    x = np.random.RandomState(1).rand(3, 4, 5).astype(np.float32)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    out = T.Normalize(mean, std)(as_tensor(x))
    ref = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    assert out.dtype == ember.float32
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)
    # Batched (N, C, H, W) input broadcasts the same way.
    xb = np.stack([x, 2 * x])
    ref_b = (xb - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(T.Normalize(mean, std)(as_tensor(xb)).numpy(), ref_b, rtol=1e-6)


def test_normalize_errors():
    with pytest.raises(ValueError, match="std evaluated to zero after conversion to float32, leading to division by zero."):
        T.Normalize((0.0,), (0.0,))(as_tensor(np.ones((1, 2, 2), np.float32)))
    with pytest.raises(TypeError, match="Input tensor should be an ember tensor"):
        T.Normalize((0.0,), (1.0,))(np.ones((1, 2, 2), np.float32))
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize((0,), (1,))(as_tensor(np.ones((1, 2, 2), np.int64)))
    with pytest.raises(ValueError, match="Expected tensor to be a tensor image of size"):
        T.Normalize((0.0,), (1.0,))(as_tensor(np.ones((2, 2), np.float32)))


def test_compose_and_lambda_apply_in_order():
    pipeline = T.Compose([T.Lambda(lambda v: v + 1), T.Lambda(lambda v: v * 10)])
    assert pipeline(2) == 30
    img = hwc()
    out = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])(img)
    np.testing.assert_allclose(out.numpy(), (img.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5, rtol=1e-5, atol=1e-6)
    assert "Lambda" in repr(pipeline)
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)


# --- RandomCrop ----------------------------------------------------------------------


def windows(a, th, tw):
    """Every (top, left) at which ``a[top:top+th, left:left+tw]`` can be taken."""
    return [(i, j) for i in range(a.shape[0] - th + 1) for j in range(a.shape[1] - tw + 1)]


def test_random_crop_is_a_window_of_the_input():
    img = hwc(8, 9)
    seen = set()
    ember.manual_seed(0)
    for _ in range(200):
        out = T.RandomCrop((3, 4))(img)
        assert out.shape == (3, 4, 3) and out.dtype == np.uint8
        matches = [(i, j) for i, j in windows(img, 3, 4) if np.array_equal(img[i : i + 3, j : j + 4], out)]
        assert matches
        seen.update(matches)
    assert len(seen) == len(windows(img, 3, 4))  # every position is reachable


def test_random_crop_is_reproducible_under_manual_seed():
    img = hwc(10, 10)
    ember.manual_seed(42)
    a = [T.RandomCrop(4)(img) for _ in range(5)]
    ember.manual_seed(42)
    b = [T.RandomCrop(4)(img) for _ in range(5)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(a[0], x) for x in a[1:])


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_padding_modes_match_numpy_pad(mode):
    img = hwc(4, 5)
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)), mode=mode)
    ember.manual_seed(1)
    for _ in range(20):
        out = T.RandomCrop((4, 5), padding=2, padding_mode=mode)(img)
        assert any(np.array_equal(padded[i : i + 4, j : j + 5], out) for i, j in windows(padded, 4, 5))
    # Cropping the padded size exactly returns the padded image.
    full = T.RandomCrop((8, 9), padding=2, padding_mode=mode)(img)
    np.testing.assert_array_equal(full, padded)


def test_random_crop_padding_forms_and_fill():
    img = hwc(3, 3)
    # (left, top, right, bottom)
    out = T.RandomCrop((3 + 2 + 4, 3 + 1 + 3), padding=(1, 2, 3, 4), fill=(7, 8, 9))(img)
    ref = np.empty((9, 7, 3), np.uint8)
    ref[...] = (7, 8, 9)
    ref[2:5, 1:4] = img
    np.testing.assert_array_equal(out, ref)
    # (left/right, top/bottom)
    out = T.RandomCrop((3 + 2, 3 + 6), padding=(3, 1))(img)
    np.testing.assert_array_equal(out, np.pad(img, ((1, 1), (3, 3), (0, 0))))
    # pad_if_needed grows a small image up to the crop size.
    # pad_if_needed pads each side by the shortfall (torchvision), then crops at random.
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)))
    ember.manual_seed(2)
    for _ in range(10):
        out = T.RandomCrop((5, 5), pad_if_needed=True)(img)
        assert out.shape == (5, 5, 3)
        assert any(np.array_equal(padded[i : i + 5, j : j + 5], out) for i, j in windows(padded, 5, 5))


def test_random_crop_on_tensors_crops_the_last_two_dims():
    x = np.arange(2 * 6 * 7, dtype=np.float32).reshape(2, 6, 7)
    ember.manual_seed(3)
    out = T.RandomCrop((2, 3))(as_tensor(x))
    assert isinstance(out, ember.Tensor) and tuple(out.shape) == (2, 2, 3)
    o = out.numpy()
    assert any(np.array_equal(x[:, i : i + 2, j : j + 3], o) for i in range(5) for j in range(5))


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"Required crop size \(6, 6\) is larger than input image size \(5, 6\)"):
        T.RandomCrop(6)(hwc())
    with pytest.raises(ValueError, match="Padding mode should be either constant, edge, reflect or symmetric"):
        T.RandomCrop(2, padding=1, padding_mode="wrap")
    with pytest.raises(ValueError, match="Please provide only two dimensions"):
        T.RandomCrop((1, 2, 3))
    with pytest.raises(TypeError, match="img should be an ember Tensor, a NumPy array or a PIL Image"):
        T.RandomCrop(2)([[1, 2], [3, 4]])


@needs_pil
def test_random_crop_on_pil_images_returns_pil():
    img = hwc(6, 6)
    out = T.RandomCrop(3)(Image.fromarray(img))
    assert isinstance(out, Image.Image) and out.size == (3, 3)
    arr = np.asarray(out)
    assert any(np.array_equal(img[i : i + 3, j : j + 3], arr) for i, j in windows(img, 3, 3))


# --- RandomHorizontalFlip --------------------------------------------------------------


def test_horizontal_flip_always_and_never():
    img = hwc()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(img), img)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(as_tensor(x)).numpy(), x[:, :, ::-1])


def test_horizontal_flip_probability_and_seed():
    img = hwc(2, 3)
    ember.manual_seed(0)
    flips = [not np.array_equal(T.RandomHorizontalFlip()(img), img) for _ in range(400)]
    assert 0.4 < np.mean(flips) < 0.6
    ember.manual_seed(0)
    again = [not np.array_equal(T.RandomHorizontalFlip()(img), img) for _ in range(400)]
    assert flips == again


# --- RandomRotation --------------------------------------------------------------------


def rotate_reference(a, angle, fill=0):
    """Nearest-neighbour rotation about the centre, one output pixel at a time: the source
    of output (x, y) is the point rotated by -angle (y axis pointing down)."""
    h, w = a.shape[:2]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    t = math.radians(angle)
    out = np.full_like(a, fill)
    for y in range(h):
        for x in range(w):
            dx, dy = x - cx, y - cy
            sx = round(math.cos(t) * dx - math.sin(t) * dy + cx)
            sy = round(math.sin(t) * dx + math.cos(t) * dy + cy)
            if 0 <= sx < w and 0 <= sy < h:
                out[y, x] = a[sy, sx]
    return out


@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_rotation_by_right_angles_matches_rot90(k):
    img = hwc(5, 5)
    out = T.RandomRotation((90 * k, 90 * k))(img)
    np.testing.assert_array_equal(out, np.rot90(img, k))  # positive = counter-clockwise
    x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    out_t = T.RandomRotation((90 * k, 90 * k))(as_tensor(x))
    np.testing.assert_array_equal(out_t.numpy(), np.rot90(x, k, axes=(1, 2)))


def test_rotation_by_zero_is_identity_and_expand_swaps_sides():
    img = hwc(4, 6)
    np.testing.assert_array_equal(T.RandomRotation((0, 0))(img), img)
    out = T.RandomRotation((90, 90), expand=True)(img)
    np.testing.assert_array_equal(out, np.rot90(img))
    assert out.shape == (6, 4, 3)


@pytest.mark.parametrize("angle", [30.0, -45.0, 100.0])
def test_rotation_matches_pixelwise_reference(angle):
    gray = hwc(7, 9, c=1)[:, :, 0]
    out = T.RandomRotation((angle, angle), fill=255)(gray)
    ref = rotate_reference(gray, angle, fill=255)
    # Ties at exactly .5 may round either way; allow a handful of such pixels.
    assert (out != ref).sum() <= 2
    assert (out == 255).sum() >= (ref == 255).sum() - 2  # corners filled


def test_rotation_angle_range_and_reproducibility():
    ember.manual_seed(5)
    angles = [T.RandomRotation.get_params([-10.0, 20.0]) for _ in range(300)]
    assert min(angles) >= -10 and max(angles) <= 20
    assert min(angles) < -5 and max(angles) > 15
    img = hwc(6, 6)
    ember.manual_seed(9)
    a = [T.RandomRotation(45)(img) for _ in range(4)]
    ember.manual_seed(9)
    b = [T.RandomRotation(45)(img) for _ in range(4)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_rotation_bad_arguments():
    with pytest.raises(ValueError, match="If degrees is a single number, it must be positive."):
        T.RandomRotation(-3)
    with pytest.raises(ValueError, match="If degrees is a sequence, it must be of len 2."):
        T.RandomRotation([1, 2, 3])
    with pytest.raises(ValueError, match="nearest-neighbour"):
        T.RandomRotation(10, interpolation="bilinear")
    with pytest.raises(ValueError, match="center should be a sequence of length 2"):
        T.RandomRotation(10, center=(1,))


def test_transforms_in_a_dataloader_pipeline():
    from ember.data import DataLoader, TensorDataset  # noqa: F401  (import path check)
    from ember.data.datasets import Digits

    ember.manual_seed(0)
    tf = T.Compose([T.RandomCrop(8, padding=1), T.RandomHorizontalFlip(), T.Normalize((0.5,), (0.5,))])
    ds = Digits(transform=tf)
    x, y = next(iter(DataLoader(ds, batch_size=16)))
    assert tuple(x.shape) == (16, 1, 8, 8) and x.dtype == ember.float32
    assert x.numpy().min() >= -1 and x.numpy().max() <= 1
