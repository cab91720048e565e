"""``ember.special``: special functions as ``torch.special``, composed from native ops.

Not available (the core has no lgamma, digamma, erfinv or Bessel kernel): ``gammaln``,
``digamma``/``psi``, ``polygamma``, ``multigammaln``, ``erfinv``, ``i0``/``i0e``/``i1``/``i1e``.
"""

import math

from . import _core
from ._core import Tensor
from ._functions import _binary_float, _to_float, broadcast_tensors, isnan, logit, xlogy

__all__ = ["erf", "erfc", "expit", "logit", "xlogy", "xlog1py", "log_softmax", "softmax", "entr",
           "ndtr", "log_ndtr", "sinc", "expm1", "exp2", "log1p", "logsumexp", "round"]

_SQRT1_2 = 0.7071067811865476
_LOG_SQRT_PI = 0.5723649429247001
# Numerical Recipes' erfc Chebyshev fit: erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0,
# relative error under 1.2e-7 everywhere: the tail for float32 and narrower dtypes.
_ERFC_P = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
           1.48851587, -0.82215223, 0.17087277]


def _tail_start(x):
    """Where 1 - erf(z) stops being precise enough and the tail formula takes over."""
    return 2.0 if x.dtype == _core.float64 else 0.5


def _log_erfc_tail(z):
    """log(erfc(z)) for z at or past _tail_start, without forming erfc (no underflow for large z).

    float64: the continued fraction erfc(z) = exp(-z^2) / (sqrt(pi) (z + (1/2)/(z + 1/(z + ...)))),
    50 terms (full precision from z = 2); other dtypes: the Chebyshev fit."""
    if z.dtype == _core.float64:
        f = z
        for k in range(50, 0, -1):
            f = z + (k / 2) / f
        return -z * z - _LOG_SQRT_PI - f.log()
    t = 1.0 / (1.0 + 0.5 * z)
    poly = t * 0 + _ERFC_P[-1]
    for c in reversed(_ERFC_P[:-1]):
        poly = poly * t + c
    return t.log() - z * z + poly


def _log_erfc(z):
    """log(erfc(z)) for z >= 0."""
    start = _tail_start(z)
    big = z > start
    tail = _log_erfc_tail(_core.where(big, z, start + 1.0))
    near = (1 - _core.where(big, 0.0, z).erf()).log()
    return _core.where(big, tail, near)


def erf(input):
    return _to_float(input).erf()


def erfc(input):
    """1 - erf(x), keeping its relative precision in the tail (where 1 - erf(x) cancels)."""
    x = _to_float(input)
    start = _tail_start(x)
    big = x.abs() > start
    z = _core.where(big, x.abs(), start + 1.0)
    tail = _log_erfc_tail(z).exp()
    tail = _core.where(x < 0, 2 - tail, tail)
    return _core.where(big, tail, 1 - x.erf())


def expit(input):
    return _to_float(input).sigmoid()


def xlog1py(input, other):
    x, y = _binary_float(input, other)
    x, y = broadcast_tensors(x, y)
    zero = (x == 0) & ~isnan(y)
    y_safe = _core.where(zero, 0.0, y)
    return _core.where(zero, 0.0, x * y_safe.log1p())


def log_softmax(input, dim, *, dtype=None):
    return input.log_softmax(dim, dtype)


def softmax(input, dim, *, dtype=None):
    return input.softmax(dim, dtype)


def entr(input):
    """-x log x for x > 0, 0 at 0, -inf for x < 0 (NaN stays NaN)."""
    x = _to_float(input)
    pos = x > 0
    safe = _core.where(pos, x, 1.0)
    out = _core.where(pos, -safe * safe.log(), 0.0)
    return _core.where(x < 0, float("-inf"), out)


def ndtr(input):
    """The standard normal CDF, 0.5 erfc(-x / sqrt(2))."""
    return 0.5 * erfc(-_to_float(input) * _SQRT1_2)


def log_ndtr(input):
    """log(ndtr(x)), stable for very negative x (no underflow to -inf) and large x."""
    x = _to_float(input)
    neg = x < -1
    z = _core.where(neg, -x * _SQRT1_2, 1.0)
    low = _log_erfc(z) - math.log(2.0)
    # x >= -1: log(1 - ndtr(-x)) through log1p keeps the tiny answers for large x.
    xh = _core.where(neg, 0.0, x)
    high = (-ndtr(-xh)).log1p()
    return _core.where(neg, low, high)


def sinc(input):
    """sin(pi x) / (pi x), 1 at 0."""
    x = _to_float(input)
    zero = x == 0
    safe = _core.where(zero, 1.0, x) * math.pi
    return _core.where(zero, 1.0, safe.sin() / safe)


def expm1(input):
    return _to_float(input).expm1()


def exp2(input):
    from ._functions import exp2 as _exp2

    return _exp2(input)


def log1p(input):
    return _to_float(input).log1p()


def logsumexp(input, dim, keepdim=False):
    return input.logsumexp(dim, keepdim)


def round(input):
    return input.round()


logit = logit
xlogy = xlogy
