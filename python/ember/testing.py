"""``ember.testing``: ``assert_close`` and ``make_tensor``, as ``torch.testing``."""

import math

from . import _core
from ._core import Tensor

__all__ = ["assert_close", "make_tensor"]

# PyTorch's default tolerances by dtype (rtol, atol); integers and bool compare exactly.
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7)}


def _name(d):
    return repr(d).split(".")[-1]


def _as_tensor(x):
    if isinstance(x, Tensor):
        return x
    import numpy as np

    if isinstance(x, np.ndarray):
        return _core.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, float):
        return _core.tensor(x, dtype=_core.float64)  # Python floats compare as float64 (PyTorch)
    return _core.tensor(x)


def _fail(msg, custom):
    raise AssertionError(custom if isinstance(custom, str) else (custom(msg) if callable(custom) else msg))


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Raises AssertionError unless ``actual`` and ``expected`` agree in shape, device, dtype and
    values within ``atol + rtol * |expected|`` (defaults by dtype, as PyTorch)."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {'rtol' if rtol is None else 'atol'}.")
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)) and (
            any(isinstance(a, Tensor) for a in actual) or any(isinstance(e, Tensor) for e in expected)):
        if len(actual) != len(expected):
            _fail(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", msg)
        for a, e in zip(actual, expected):
            assert_close(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=check_device,
                         check_dtype=check_dtype, msg=msg)
        return
    if isinstance(actual, dict) and isinstance(expected, dict):
        if set(actual) != set(expected):
            _fail(f"The keys of the mappings do not match: {sorted(actual)} != {sorted(expected)}", msg)
        for k in actual:
            assert_close(actual[k], expected[k], rtol=rtol, atol=atol, equal_nan=equal_nan,
                         check_device=check_device, check_dtype=check_dtype, msg=msg)
        return
    if isinstance(actual, Tensor) != isinstance(expected, Tensor) and (
            isinstance(actual, Tensor) or isinstance(expected, Tensor)):
        raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")
    if not isinstance(actual, Tensor) and type(actual) is not type(expected) and not (
            isinstance(actual, (int, float)) and isinstance(expected, (int, float)) and not check_dtype):
        if not (isinstance(actual, (int, float, bool)) and isinstance(expected, (int, float, bool))):
            raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")
        _fail(f"The values for attribute 'dtype' do not match: {type(actual)} != {type(expected)}.", msg)
    a, e = _as_tensor(actual), _as_tensor(expected)
    if tuple(a.shape) != tuple(e.shape):
        _fail(f"The values for attribute 'shape' do not match: {a.shape} != {e.shape}.", msg)
    if check_device and a.device != e.device:
        _fail(f"The values for attribute 'device' do not match: {a.device} != {e.device}.", msg)
    if check_dtype and a.dtype != e.dtype:
        _fail(f"The values for attribute 'dtype' do not match: {a.dtype} != {e.dtype}.", msg)
    if check_stride and a.stride() != e.stride():
        _fail(f"The values for attribute 'stride()' do not match: {a.stride()} != {e.stride()}.", msg)
    if rtol is None:
        ra, ea = _TOLERANCES.get(_name(a.dtype), (0.0, 0.0)), _TOLERANCES.get(_name(e.dtype), (0.0, 0.0))
        rtol, atol = max(ra[0], ea[0]), max(ra[1], ea[1])
    import numpy as np

    def host(t):
        t = t.detach()
        if t.dtype == _core.bfloat16 or t.dtype == _core.float16:
            t = t.float()
        return np.asarray(t.cpu().numpy())

    x, y = host(a), host(e)
    floating = x.dtype.kind == "f" or y.dtype.kind == "f"
    if floating:
        xf, yf = x.astype(np.float64), y.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            close = (xf == yf) | (np.abs(xf - yf) <= atol + rtol * np.abs(yf))
        if equal_nan:
            close |= np.isnan(xf) & np.isnan(yf)
    else:
        xf, yf = x.astype(np.int64) if x.dtype != np.bool_ else x.astype(np.int64), y.astype(np.int64)
        close = np.abs(xf - yf) <= atol + rtol * np.abs(yf)
    if bool(np.all(close)):
        return
    total = close.size
    bad = int(total - np.count_nonzero(close))
    what = "Scalars" if a.dim() == 0 and not isinstance(actual, Tensor) else "Tensor-likes"
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        adiff = np.abs(xf - yf).astype(np.float64)
        rdiff = adiff / np.abs(yf)
    adiff = np.where(close, 0, np.where(np.isnan(adiff), np.inf, adiff))
    rdiff = np.where(close, 0, np.where(np.isnan(rdiff), np.inf, rdiff))
    if not floating:
        adiff = adiff.astype(np.int64)
    ai, ri = np.unravel_index(int(np.argmax(adiff)), close.shape), np.unravel_index(int(np.argmax(rdiff)), close.shape)
    lines = [f"{what} are not {'close' if floating else 'equal'}!", ""]
    if x.ndim == 0:
        lines += [f"Expected {yf.item()} but got {xf.item()}.",
                  f"Absolute difference: {adiff.item()} (up to {atol} allowed)",
                  f"Relative difference: {rdiff.item()} (up to {rtol} allowed)"]
    else:
        lines += [f"Mismatched elements: {bad} / {total} ({100.0 * bad / total:.1f}%)",
                  f"Greatest absolute difference: {adiff[ai]} at index {tuple(int(i) for i in ai)} (up to {atol} allowed)",
                  f"Greatest relative difference: {rdiff[ri]} at index {tuple(int(i) for i in ri)} (up to {rtol} allowed)"]
    _fail("\n".join(lines), msg)


def make_tensor(*shape, dtype, device, low=None, high=None, requires_grad=False, noncontiguous=False,
                exclude_zero=False, memory_format=None):
    """A random tensor of ``shape`` with values in [low, high): floats default to [-9, 9),
    integers to [-9, 10) (high exclusive), bool to {False, True}."""
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    name = _name(dtype)
    if requires_grad and not dtype.is_floating_point:
        raise ValueError("make_tensor: requires_grad must be False for integral dtype")
    for v, what in ((low, "low"), (high, "high")):
        if v is not None and isinstance(v, float) and math.isnan(v):
            raise ValueError(f"`{what}` cannot be NaN, but got {what}=nan")
    if low is not None and high is not None and low > high:
        raise ValueError(f"`low` must be less than or equal to `high`, but got {low} and {high}")
    n = math.prod(shape) * (2 if noncontiguous and shape else 1)
    flat = (n,)
    if name == "bool":
        t = _core.randint(0, 2, flat, device=device).to(_core.bool)
    elif not dtype.is_floating_point:
        lo = -9 if low is None else math.ceil(low)
        hi = 10 if high is None else math.ceil(high)
        hi = max(hi, lo + 1)
        t = _core.randint(lo, hi, flat, dtype=dtype, device=device)
        if exclude_zero:
            t = _core.where(t == 0, 1, t).to(dtype)
    else:
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        t = (_core.rand(*flat, dtype=_core.float64, device=device) * (hi - lo) + lo).to(dtype)
        if exclude_zero:
            tiny = _TOLERANCES[name][1] if name in _TOLERANCES else 1e-5
            t = _core.where(t == 0, float(tiny), t).to(dtype)
    if noncontiguous and shape:
        t = t.reshape(*shape[:-1], shape[-1] * 2)[..., ::2]
    else:
        t = t.reshape(*shape) if shape else t.reshape(())
    if requires_grad:
        t.requires_grad_(True)
    return t
