"""Gamma, Beta, Dirichlet, StudentT: a vectorised Marsaglia-Tsang gamma sampler."""

import math

import ember as _e

from . import constraints
from .distribution import Distribution
from .utils import broadcast_all, _broadcast_params
from ._special import lgamma, digamma, xlogy, lbeta

_MT_ROUNDS = 10  # Marsaglia-Tsang accepts > 98% per round at shape >= 5: 10 rounds leave < 1e-16


_BOOST_TO = 5.0  # shapes below this are sampled at alpha + k >= 5 and boosted back down


def _standard_gamma(alpha):
    """Gamma(alpha, 1) draws, one per element of ``alpha``, differentiable in ``alpha``.

    Marsaglia and Tsang (2000): with d = a - 1/3, c = 1/sqrt(9d), x ~ N(0,1), v = (1 + c x)^3,
    accept d*v when log U < x^2/2 + d - d v + d log v. Done as a fixed number of rounds over the
    whole tensor: each round draws (x, U) for every element and keeps the first accepted x (mask
    and refill), so there is no Python loop per element.

    Shape augmentation: alpha < 5 is sampled at a = alpha + k (k boosts, a in [5, 6)) and brought
    back with Gamma(alpha) = Gamma(alpha + k) * prod_i U_i^(1/(alpha + i)), i < k. The accepted x
    and the U_i are drawn without grad and the sample is rebuilt from alpha, so rsample's gradient
    in alpha is the path derivative of Naesseth et al. (2017); their score correction, left out,
    is negligible at a >= 5 (the boost factors themselves are exactly reparameterised)."""
    dtype, device = alpha.dtype, alpha.device
    shape = alpha.shape
    nboost = int(_BOOST_TO)
    with _e.no_grad():
        a0 = alpha.detach()
        k0 = (_BOOST_TO - a0).ceil().clamp(min=0, max=nboost)
        a0 = a0 + k0
        d0 = a0 - 1.0 / 3
        c0 = (9 * d0).rsqrt()
        eps = _e.zeros(shape, dtype=dtype, device=device)
        done = _e.zeros(shape, dtype=_e.bool, device=device)
        for _ in range(_MT_ROUNDS):  # rounds of the whole tensor, not a loop over elements
            x = _e.randn(shape, dtype=dtype, device=device)
            v = 1 + c0 * x
            v3 = v * v * v
            u = _e.rand(shape, dtype=dtype, device=device)
            ok = (v > 0) & (u.log() < 0.5 * x * x + d0 - d0 * v3 + d0 * v3.clamp(min=_e.finfo(dtype).tiny).log())
            eps = _e.where(ok & ~done, x, eps)
            done = done | ok
            if bool(done.all()):
                break
        eps = _e.where(done, eps, _e.zeros_like(eps))  # leftovers (p < 1e-15): the mode of x
        # log U_i for the boosts, U_i in (0, 1]
        log_u = [(-_e.rand(shape, dtype=dtype, device=device)).log1p() for _ in range(nboost)]
    k = (_BOOST_TO - alpha.detach()).ceil().clamp(min=0, max=nboost)
    a = alpha + k
    d = a - 1.0 / 3
    c = (9 * d).rsqrt()
    v = 1 + c * eps
    log_g = (d * v * v * v).log()
    for i in range(nboost):  # five whole-tensor terms
        log_g = log_g + _e.where(k > i, log_u[i] / (alpha + i), _e.zeros_like(log_g))
    tiny = _e.finfo(dtype).tiny
    return log_g.exp().clamp(min=tiny)


class Gamma(Distribution):
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        (self.concentration, self.rate), batch_shape = _broadcast_params(concentration, rate)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Gamma, batch_shape, _instance, ("concentration", "rate"))

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=_e.Size()):
        shape = self._extended_shape(sample_shape)
        return _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c, r = self.concentration, self.rate
        return xlogy(c, r) + xlogy(c - 1, value) - r * value - lgamma(c)

    def entropy(self):
        c = self.concentration
        return c - self.rate.log() + lgamma(c) + (1.0 - c) * digamma(c)


class Chi2(Gamma):
    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args=None):
        (df,) = broadcast_all(df)
        super().__init__(0.5 * df, _e.full(df.shape, 0.5, dtype=df.dtype, device=df.device), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Chi2, _instance)
        return super().expand(batch_shape, new)

    @property
    def df(self):
        return self.concentration * 2


class Dirichlet(Distribution):
    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new, batch_shape = self._expand_begin(Dirichlet, batch_shape, _instance, ("concentration",), self.event_shape)
        return self._expand_end(new, batch_shape, self.event_shape)

    def rsample(self, sample_shape=_e.Size()):
        shape = self._extended_shape(sample_shape)
        g = _standard_gamma(self.concentration.expand(shape))
        return g / g.sum(-1, keepdim=True)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return xlogy(c - 1.0, value).sum(-1) + lgamma(c.sum(-1)) - lgamma(c).sum(-1)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, keepdim=True)
        n = self.concentration.shape[-1]
        mask = (self.concentration < 1).all(-1, keepdim=True)
        ar = _e.arange(n, device=mode.device)
        onehot = (self.concentration.argmax(-1, keepdim=True) == ar).to(mode.dtype)
        return _e.where(mask, onehot, mode)

    @property
    def variance(self):
        c0 = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (c0 - self.concentration) / (c0.pow(2) * (c0 + 1))

    def entropy(self):
        k = self.concentration.shape[-1]
        a0 = self.concentration.sum(-1)
        return (lgamma(self.concentration).sum(-1) - lgamma(a0) - (k - a0) * digamma(a0)
                - ((self.concentration - 1.0) * digamma(self.concentration)).sum(-1))


class Beta(Distribution):
    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        (self.concentration1, self.concentration0), batch_shape = _broadcast_params(concentration1, concentration0)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Beta, batch_shape, _instance, ("concentration1", "concentration0"))

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        a, b = self.concentration1, self.concentration0
        return (a - 1) / (a + b - 2)

    @property
    def variance(self):
        a, b = self.concentration1, self.concentration0
        total = a + b
        return a * b / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape=_e.Size()):
        shape = self._extended_shape(sample_shape)
        x = _standard_gamma(self.concentration1.expand(shape))
        y = _standard_gamma(self.concentration0.expand(shape))
        return x / (x + y)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        return xlogy(a - 1, value) + xlogy(b - 1, 1 - value) - lbeta(a, b)

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        total = a + b
        return (lbeta(a, b) - (a - 1) * digamma(a) - (b - 1) * digamma(b)
                + (total - 2) * digamma(total))


class StudentT(Distribution):
    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        (self.df, self.loc, self.scale), batch_shape = _broadcast_params(df, loc, scale)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(StudentT, batch_shape, _instance, ("df", "loc", "scale"))

    @property
    def mean(self):
        return _e.where(self.df > 1, self.loc, self.loc * float("nan"))

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        df = self.df
        var = self.scale.pow(2) * df / (df - 2)
        var = _e.where(df > 2, var, _e.full_like(var, float("inf")))
        return _e.where(df > 1, var, _e.full_like(var, float("nan")))

    def rsample(self, sample_shape=_e.Size()):
        shape = self._extended_shape(sample_shape)
        x = _e.randn(shape, dtype=self.df.dtype, device=self.df.device)
        z = 2 * _standard_gamma((0.5 * self.df).expand(shape))  # Chi2(df)
        y = x * (self.df / z).sqrt()
        return self.loc + self.scale * y

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * self.df.log() + 0.5 * math.log(math.pi)
             + lgamma(0.5 * self.df) - lgamma(0.5 * (self.df + 1.0)))
        return -0.5 * (self.df + 1.0) * (y.pow(2) / self.df).log1p() - z

    def entropy(self):
        lb = lgamma(0.5 * self.df) + 0.5 * math.log(math.pi) - lgamma(0.5 * (self.df + 1))
        return (self.scale.log() + 0.5 * (self.df + 1) * (digamma(0.5 * (self.df + 1)) - digamma(0.5 * self.df))
                + 0.5 * self.df.log() + lb)
