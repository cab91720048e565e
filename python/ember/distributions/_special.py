"""The special functions the distributions need: ember.special's, plus log Beta."""

from .._functions import xlogy  # noqa: F401
from ..special import digamma, erfinv, gammaln as lgamma  # noqa: F401


def lbeta(a, b):
    return lgamma(a) + lgamma(b) - lgamma(a + b)
