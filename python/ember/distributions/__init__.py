"""``ember.distributions``: probability distributions as ``torch.distributions``.

Composed from ember's tensor ops (no per-element Python loops). Gamma-family samplers use a
vectorised Marsaglia-Tsang with a fixed number of rejection rounds; lgamma/digamma/erfinv,
Cholesky and triangular solves are composed (see ``_special`` and ``ember.linalg``)."""

from . import constraints
from .distribution import Distribution
from ._continuous import Normal, LogNormal, Uniform, Laplace, Exponential
from ._discrete import Bernoulli, Categorical, OneHotCategorical, Binomial, Poisson, Geometric, Multinomial
from ._gamma import Gamma, Chi2, Beta, Dirichlet, StudentT
from .independent import Independent
from .multivariate_normal import MultivariateNormal
from .kl import kl_divergence, register_kl
from . import kl, utils

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "Chi2", "Dirichlet", "Distribution",
    "Exponential", "Gamma", "Geometric", "Independent", "Laplace", "LogNormal", "Multinomial", "MultivariateNormal", "Normal",
    "OneHotCategorical", "Poisson", "StudentT", "Uniform", "constraints", "kl_divergence",
    "register_kl",
]
