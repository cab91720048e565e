"""Special functions composed from ember's tensor ops (ember has no native lgamma/digamma/erfinv).

All are differentiable through autograd because they are made of ordinary ops. Domain: x > 0 for
lgamma/digamma (all the distributions need), |y| <= 1 for erfinv."""

import math

import ember as _e

_SHIFT = 8  # recurrence shift: the asymptotic series is used at z = x + 8 >= 8


def lgamma(x):
    """log Gamma(x) for x > 0: lgamma(x + 8) by Stirling's series, minus log(x (x+1) ... (x+7))."""
    z = x + _SHIFT
    shift = (x * (x + 1)).log() + ((x + 2) * (x + 3)).log() + ((x + 4) * (x + 5)).log() + ((x + 6) * (x + 7)).log()
    r = 1.0 / z
    r2 = r * r
    series = r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680 + r2 * (1.0 / 1188)))))
    return (z - 0.5) * z.log() - z + 0.5 * math.log(2 * math.pi) + series - shift


def digamma(x):
    """psi(x) for x > 0: psi(x + 8) by its asymptotic series, minus sum 1/(x+k), k < 8."""
    z = x + _SHIFT
    shift = 1.0 / x
    for k in range(1, _SHIFT):  # eight whole-tensor terms, not a loop over elements
        shift = shift + 1.0 / (x + k)
    r = 1.0 / z
    r2 = r * r
    series = r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 * (1.0 / 132)))))
    return z.log() - 0.5 * r - series - shift


def lbeta(a, b):
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def xlogy(x, y):
    """x * log(y), 0 where x == 0."""
    return _e.where(x == 0, _e.zeros_like(y * x), x * y.log())


def erfinv(y):
    """Inverse error function: Giles' single-precision approximation, then two Newton steps."""
    w = -((1 - y) * (1 + y)).log()
    w1 = w - 2.5
    p1 = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        p1 = c + p1 * w1
    w2 = w.clamp(min=0).sqrt() - 3
    p2 = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        p2 = c + p2 * w2
    x = _e.where(w < 5, p1, p2) * y
    finite = y.abs() < 1
    xs = _e.where(finite, x, _e.zeros_like(x))
    for _ in range(2):
        xs = xs - (xs.erf() - y) / (2 / math.sqrt(math.pi) * (-xs * xs).exp())
    return _e.where(finite, xs, y * float("inf"))
