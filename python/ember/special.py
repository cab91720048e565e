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
# Numerical Recipes' erfc Chebyshev fit: erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0,
# relative error under 1.2e-7 everywhere; its log is finite for every z (no underflow).
_ERFC_P = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
           1.48851587, -0.82215223, 0.17087277]


def _log_erfc_pos(z):
    """log(erfc(z)) for z >= 0 without forming erfc (stable for large z)."""
    t = 1.0 / (1.0 + 0.5 * z)
    poly = t * 0 + _ERFC_P[-1]
    for c in reversed(_ERFC_P[:-1]):
        poly = poly * t + c
    return t.log() - z * z + poly


def erf(input):
    return _to_float(input).erf()


def erfc(input):
    """1 - erf(x); for x > 2 the Chebyshev fit keeps the relative precision (1.2e-7) that 1 - erf
    loses."""
    x = _to_float(input)
    big = x.abs() > 2
    z = _core.where(big, x.abs(), 3.0)
    tail = _log_erfc_pos(z).exp()
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
    low = _log_erfc_pos(z) - math.log(2.0)
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
