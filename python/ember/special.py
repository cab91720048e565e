"""``ember.special``: special functions as ``torch.special``, composed from native ops.

``gammaln``, ``digamma``/``psi`` and ``erfinv`` are series and Newton steps over whole tensors
(the core has no kernel for them yet); not available: ``polygamma``, ``multigammaln``,
``i0``/``i0e``/``i1``/``i1e``.
"""

import math

from . import _core
from ._core import Tensor
from ._functions import _binary_float, _to_float, broadcast_tensors, isnan, logit, xlogy

__all__ = ["erf", "erfc", "expit", "logit", "xlogy", "xlog1py", "log_softmax", "softmax", "entr",
           "ndtr", "log_ndtr", "sinc", "expm1", "exp2", "log1p", "logsumexp", "round", "gammaln", "digamma",
           "psi", "erfinv"]

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


# ---- log-gamma, digamma, inverse erf ----
_SHIFT = 8  # recurrence shift: the asymptotic series is used at z = x + 8 >= 8


def _lgamma_right(x):
    """log Gamma(x) for x >= 0.5: Stirling's series at x + 8, less log(x (x+1) ... (x+7))."""
    z = x + _SHIFT
    shift = (x * (x + 1)).log() + ((x + 2) * (x + 3)).log() + ((x + 4) * (x + 5)).log() + ((x + 6) * (x + 7)).log()
    r = 1.0 / z
    r2 = r * r
    series = r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680 + r2 * (1.0 / 1188)))))
    return (z - 0.5) * z.log() - z + 0.5 * math.log(2 * math.pi) + series - shift


def _digamma_right(x):
    """psi(x) for x >= 0.5: its asymptotic series at x + 8, less sum 1/(x+k), k < 8."""
    z = x + _SHIFT
    shift = 1.0 / x
    for k in range(1, _SHIFT):  # eight whole-tensor terms, not a loop over elements
        shift = shift + 1.0 / (x + k)
    r = 1.0 / z
    r2 = r * r
    series = r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 * (1.0 / 132)))))
    return z.log() - 0.5 * r - series - shift


def _reflected(x):
    """(x < 0.5, the argument the right-half series sees, x where the reflection's sin/tan is
    taken): each branch gets inputs where it is finite, so the unused one adds no NaN gradient."""
    left = x < 0.5
    return left, _core.where(left, 1 - x, x), _core.where(left, x, x * 0 + 0.25)


def gammaln(input):
    """log |Gamma(x)|, as ``torch.special.gammaln`` (``ember.lgamma``): the reflection formula
    below 0.5, inf at the poles 0, -1, -2, ..."""
    x = _to_float(input)
    left, right, s = _reflected(x)
    g = _lgamma_right(right)
    reflection = math.log(math.pi) - (math.pi * s).sin().abs().log()
    # At the poles sin(pi x) is only nearly 0 in floating point: say inf there exactly.
    pole = (x <= 0) & (x == x.floor())
    return _core.where(pole, x * 0 + float("inf"), _core.where(left, reflection - g, g))


def digamma(input):
    """The logarithmic derivative of Gamma, as ``torch.special.digamma`` (``ember.digamma``):
    psi(x) = psi(1 - x) - pi / tan(pi x) below 0.5."""
    x = _to_float(input)
    left, right, s = _reflected(x)
    g = _digamma_right(right)
    angle = math.pi * s
    value = _core.where(left, g - math.pi * angle.cos() / angle.sin(), g)
    # PyTorch (as SciPy): -inf at 0, NaN at the negative integers.
    pole = (x <= 0) & (x == x.floor())
    return _core.where(pole, _core.where(x == 0, x * 0 - float("inf"), x * 0 + float("nan")), value)


psi = digamma


def erfinv(input):
    """The inverse error function on [-1, 1] (+-inf at +-1, NaN outside), as
    ``torch.special.erfinv``: Giles' approximation refined by two Newton steps."""
    y = _to_float(input)
    w = -((1 - y) * (1 + y)).log()
    w1 = w - 2.5
    p1 = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        p1 = c + p1 * w1
    # The tail polynomial only where it is used (w >= 5): its sqrt elsewhere would put an
    # infinite slope (at w = 0) behind the where and a NaN into the gradient.
    w2 = _core.where(w >= 5, w, w * 0 + 5).sqrt() - 3
    p2 = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        p2 = c + p2 * w2
    x = _core.where(w < 5, p1, p2) * y
    inside = y.abs() < 1
    xs = _core.where(inside, x, x * 0)
    for _ in range(2):
        xs = xs - (xs.erf() - y) / (2 / math.sqrt(math.pi) * (-xs * xs).exp())
    y0 = y.detach()  # the edges are constants: no gradient through inf or NaN
    edge = _core.where(y0.abs() == 1, y0 * float("inf"), y0 * float("nan"))
    return _core.where(inside, xs, edge)
