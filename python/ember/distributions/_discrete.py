"""Bernoulli, Categorical, OneHotCategorical, Binomial, Poisson."""

import math
import numbers

import ember as _e

from . import constraints
from .distribution import Distribution, _size
from .utils import broadcast_all, _broadcast_params, lazy_property, logits_to_probs, probs_to_logits
from ._special import lgamma, xlogy


def _one_of(probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


def _probs_or_logits(dist, probs, logits, *others):
    """Stores whichever of ``probs``/``logits`` was given on ``dist`` under its own name, broadcast
    with ``others`` (which come first, as in PyTorch's broadcast_all call); returns the broadcast
    ``others``, that parameter and the batch shape. Bernoulli, Binomial and Geometric share this."""
    _one_of(probs, logits)
    name, value = ("probs", probs) if probs is not None else ("logits", logits)
    tensors, batch_shape = _broadcast_params(*others, value)
    dist.__dict__[name] = tensors[-1]
    return tensors[:-1], tensors[-1], batch_shape


def _given_param(dist):
    # The stored one of logits/probs; when both are (an expand after both were computed)
    # logits, as the expand() bodies this replaces set _param to logits last.
    return dist.__dict__["logits"] if "logits" in dist.__dict__ else dist.__dict__["probs"]


def _enumerate(values, batch_shape, expand):
    """``values`` (n, *event) as (n, 1, ..., 1, *event) over ``batch_shape``, expanded if asked:
    the enumerate_support layout every discrete distribution here returns."""
    n, event = values.shape[0], list(values.shape[1:])
    values = values.reshape(n, *([1] * len(batch_shape)), *event)
    if expand:
        values = values.expand(_e.Size([n] + list(batch_shape) + event))
    return values


# Bernoulli, Binomial and Geometric share one two-outcome parametrisation: whichever of
# probs/logits was not given is derived from the other on first use and cached (lazy_property
# caches under the function's name, hence the names logits and probs).
def logits(self):
    return probs_to_logits(self.probs, is_binary=True)


def probs(self):
    return logits_to_probs(self.logits, is_binary=True)


_binary_logits, _binary_probs = lazy_property(logits), lazy_property(probs)
del logits, probs


def _bce_with_logits(logits, target):
    """-(target log sigmoid(logits) + (1 - target) log(1 - sigmoid(logits))), stably."""
    return _e.softplus(logits) - target * logits


class Bernoulli(Distribution):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _, self._param, batch_shape = _probs_or_logits(self, probs, logits)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new, batch_shape = self._expand_begin(Bernoulli, batch_shape, _instance, ("probs", "logits"))
        new._param = _given_param(new)
        return self._expand_end(new, batch_shape)

    @property
    def param_shape(self):
        return self._param.shape

    logits, probs = _binary_logits, _binary_probs

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return _e.where(self.probs == 0.5, mode * float("nan"), mode)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=_e.Size()):
        shape = self._extended_shape(sample_shape)
        with _e.no_grad():
            return _e.bernoulli(self.probs.detach().expand(shape).contiguous())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -_bce_with_logits(logits, value)

    def entropy(self):
        return _bce_with_logits(self.logits, self.probs)

    def enumerate_support(self, expand=True):
        values = _e.arange(2, dtype=self._param.dtype, device=self._param.device)
        return _enumerate(values, self._batch_shape, expand)


class Categorical(Distribution):
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.independent(constraints.real, 1)}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        batch_shape = self._param.shape[:-1] if self._param.dim() > 1 else _e.Size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new, batch_shape = self._expand_begin(Categorical, batch_shape, _instance, ("probs", "logits"),
                                              [self._num_events])
        new._param = _given_param(new)
        new._num_events = self._num_events
        return self._expand_end(new, batch_shape)

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        return self._param.shape

    def _nan(self):
        # mean and variance of a Categorical are undefined: NaN of the batch shape, as PyTorch
        return _e.full(self._extended_shape(), float("nan"), dtype=self._param.dtype, device=self._param.device)

    @property
    def mean(self):
        return self._nan()

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return self._nan()

    def sample(self, sample_shape=_e.Size()):
        sample_shape = _size(sample_shape)
        n = max(1, math.prod(sample_shape))
        with _e.no_grad():
            probs_2d = self.probs.detach().reshape(-1, self._num_events)
            samples_2d = _e.multinomial(probs_2d, n, True).T
        return samples_2d.reshape(*self._extended_shape(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_all_int(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        min_real = _e.finfo(self.logits.dtype).min
        logits = self.logits.clamp(min=min_real)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        return _enumerate(_e.arange(self._num_events, device=self._param.device), self._batch_shape, expand)


def broadcast_all_int(index, log_pmf):
    """An integer index (..., 1) and log_pmf (..., K) broadcast over their leading dims."""
    lead = _broadcast(index.shape[:-1], log_pmf.shape[:-1])
    return (index.expand(_e.Size(list(lead) + [1])),
            log_pmf.expand(_e.Size(list(lead) + [log_pmf.shape[-1]])))


def _broadcast(a, b):
    from .utils import _broadcast_shape
    return _broadcast_shape(a, b)


def _of_categorical(name):
    """A read-only property that forwards to ``self._categorical``: OneHotCategorical and
    Multinomial keep their parameters only on the Categorical they wrap."""
    return property(lambda self: getattr(self._categorical, name))


class OneHotCategorical(Distribution):
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.independent(constraints.real, 1)}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new, batch_shape = self._expand_begin(OneHotCategorical, batch_shape, _instance)
        new._categorical = self._categorical.expand(batch_shape)
        return self._expand_end(new, batch_shape, self.event_shape)

    _param = _of_categorical("_param")
    probs = _of_categorical("probs")
    logits = _of_categorical("logits")
    param_shape = _of_categorical("param_shape")

    @property
    def mean(self):
        return self._categorical.probs

    @property
    def mode(self):
        probs = self._categorical.probs
        return _one_hot(probs.argmax(-1), probs.shape[-1], probs.dtype)

    @property
    def variance(self):
        p = self._categorical.probs
        return p * (1 - p)

    def sample(self, sample_shape=_e.Size()):
        probs = self._categorical.probs
        indices = self._categorical.sample(sample_shape)
        return _one_hot(indices, self._categorical._num_events, probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        indices = value.max(-1)[1]
        return self._categorical.log_prob(indices)

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand=True):
        values = _e.eye(self.event_shape[0], dtype=self._param.dtype, device=self._param.device)
        return _enumerate(values, self.batch_shape, expand)

    def __repr__(self):
        return f"OneHotCategorical({self._categorical!r})"


def _one_hot(indices, n, dtype):
    ar = _e.arange(n, device=indices.device)
    return (indices.unsqueeze(-1) == ar).to(dtype)


class Binomial(Distribution):
    arg_constraints = {"total_count": constraints.nonnegative_integer, "probs": constraints.unit_interval,
                       "logits": constraints.real}
    has_enumerate_support = True
    _MAX_DRAWS = 1 << 26  # sample(): numel * max(total_count) Bernoulli draws at most

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        (n,), self._param, batch_shape = _probs_or_logits(self, probs, logits, total_count)
        self.total_count = n.to(self._param.dtype)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new, batch_shape = self._expand_begin(Binomial, batch_shape, _instance, ("total_count", "probs", "logits"))
        new._param = _given_param(new)
        return self._expand_end(new, batch_shape)

    @property
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    logits, probs = _binary_logits, _binary_probs

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        return self.total_count * self.probs

    @property
    def mode(self):
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=_e.Size()):
        """Sums of Bernoulli draws along a trailing axis of size max(total_count), masked per element."""
        shape = self._extended_shape(sample_shape)
        with _e.no_grad():
            n_max = int(self.total_count.max().item()) if self.total_count.numel() else 0
            numel = math.prod(shape)
            if numel * max(n_max, 1) > self._MAX_DRAWS:
                raise NotImplementedError(
                    f"Binomial.sample: {numel} samples of total_count up to {n_max} would take more than "
                    f"{self._MAX_DRAWS} Bernoulli draws (ember has no native binomial sampler)")
            if n_max == 0:
                return _e.zeros(shape, dtype=self._param.dtype, device=self._param.device)
            p = self.probs.detach().expand(shape).unsqueeze(-1)
            n = self.total_count.expand(shape).unsqueeze(-1)
            u = _e.rand(_e.Size(list(shape) + [n_max]), dtype=p.dtype, device=p.device)
            k = _e.arange(n_max, dtype=p.dtype, device=p.device)
            return ((u < p) & (k < n)).to(p.dtype).sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n = self.total_count
        log_factorial_n = lgamma(n + 1)
        log_factorial_k = lgamma(value + 1)
        log_factorial_nmk = lgamma(n - value + 1)
        normalize_term = n * _e.softplus(self.logits)
        return value * self.logits - normalize_term + log_factorial_n - log_factorial_k - log_factorial_nmk

    def _homogeneous_count(self, what):
        # entropy and enumerate_support both need one total_count across the batch
        n_max = int(self.total_count.max().item())
        if not bool((self.total_count == n_max).all()):
            raise NotImplementedError(f"Inhomogeneous total count not supported by `{what}`.")
        return n_max

    def entropy(self):
        self._homogeneous_count("entropy")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(log_prob.exp() * log_prob).sum(0)

    def enumerate_support(self, expand=True):
        n_max = self._homogeneous_count("enumerate_support")
        values = _e.arange(1 + n_max, dtype=self._param.dtype, device=self._param.device)
        return _enumerate(values, self._batch_shape, expand)


_SMALL_RATE = 10.0
_INVERSION_TERMS = 48  # P(Poisson(10) >= 48) < 1e-15
_PTRS_ROUNDS = 16


def _poisson_sample(rate):
    """Poisson draws for every element of ``rate`` (no grad), whole-tensor ops only.

    rate < 10: inversion against the CDF over k = 0..47 (a trailing axis, then a count).
    rate >= 10: Hoermann's PTRS transformed rejection, a fixed number of rounds, each drawing for
    every element and keeping the first acceptance (mask and refill); acceptance is ~0.9 per
    round, so after 16 rounds a normal approximation fills what is left (probability ~1e-16)."""
    dtype, device = rate.dtype, rate.device
    shape = rate.shape
    lam_s = rate.clamp(max=_SMALL_RATE).unsqueeze(-1)
    k = _e.arange(_INVERSION_TERMS, dtype=dtype, device=device)
    log_pmf = xlogy(k.expand(_e.Size(list(shape) + [_INVERSION_TERMS])), lam_s.expand(_e.Size(list(shape) + [_INVERSION_TERMS]))) - lam_s - lgamma(k + 1)
    cdf = log_pmf.exp().cumsum(-1)
    u = _e.rand(shape, dtype=dtype, device=device).unsqueeze(-1)
    small = (u > cdf).to(dtype).sum(-1)

    lam = rate.clamp(min=_SMALL_RATE)
    slam = lam.sqrt()
    loglam = lam.log()
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    out = _e.zeros(shape, dtype=dtype, device=device)
    done = _e.zeros(shape, dtype=_e.bool, device=device)
    for _ in range(_PTRS_ROUNDS):  # rounds of the whole tensor, not a loop over elements
        U = _e.rand(shape, dtype=dtype, device=device) - 0.5
        V = _e.rand(shape, dtype=dtype, device=device)
        us = 0.5 - U.abs()
        kk = ((2 * a / us + b) * U + lam + 0.43).floor()
        quick = (us >= 0.07) & (V <= vr)
        rejected = (kk < 0) | ((us < 0.013) & (V > us))
        kpos = kk.clamp(min=0)
        lhs = V.log() + invalpha.log() - (a / (us * us) + b).log()
        rhs = -lam + kpos * loglam - lgamma(kpos + 1)
        ok = quick | (~rejected & (lhs <= rhs))
        take = ok & ~done
        out = _e.where(take, kpos, out)
        done = done | ok
        if bool(done.all()):
            break
    approx = (lam + slam * _e.randn(shape, dtype=dtype, device=device)).round().clamp(min=0)
    large = _e.where(done, out, approx)
    return _e.where(rate < _SMALL_RATE, small, large)


class Poisson(Distribution):
    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,), batch_shape = _broadcast_params(rate)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Poisson, batch_shape, _instance, ("rate",))

    @property
    def mean(self):
        return self.rate

    @property
    def mode(self):
        return self.rate.floor()

    @property
    def variance(self):
        return self.rate

    def sample(self, sample_shape=_e.Size()):
        shape = self._extended_shape(sample_shape)
        with _e.no_grad():
            return _poisson_sample(self.rate.detach().expand(shape).contiguous())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return xlogy(value, rate) - rate - lgamma(value + 1)



class Geometric(Distribution):
    """Number of failures before the first success, P(k) = (1 - p)^k p."""

    arg_constraints = {"probs": constraints.interval(0.0, 1.0), "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        _, _, batch_shape = _probs_or_logits(self, probs, logits)
        super().__init__(batch_shape, validate_args=validate_args)
        if self._validate_args and probs is not None and not bool((self.probs > 0).all()):
            raise ValueError(f"Expected parameter probs of distribution {self!r} to be in (0, 1], "
                             f"but found invalid values:\n{self.probs}")

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(Geometric, batch_shape, _instance, ("probs", "logits"))

    logits, probs = _binary_logits, _binary_probs

    @property
    def mean(self):
        return 1.0 / self.probs - 1.0

    @property
    def mode(self):
        return _e.zeros_like(self.probs)

    @property
    def variance(self):
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape=_e.Size()):
        shape = self._extended_shape(sample_shape)
        with _e.no_grad():
            p = self.probs.detach()
            tiny = _e.finfo(p.dtype).tiny
            u = _e.rand(shape, dtype=p.dtype, device=p.device).clamp(min=tiny)
            return (u.log() / (-p).log1p()).floor()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        safe = _e.where((probs == 1) & (value == 0), _e.zeros_like(probs), probs)
        return value * (-safe).log1p() + self.probs.log()

    def entropy(self):
        return _bce_with_logits(self.logits, self.probs) / self.probs


class _Multinomial(constraints.Constraint):
    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, x):
        return (x >= 0).all(-1) & (x.sum(-1) <= self.upper_bound) & (x.remainder(1) == 0).all(-1)


class Multinomial(Distribution):
    """Counts of ``total_count`` draws from a Categorical (``total_count`` an int, as in PyTorch)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.independent(constraints.real, 1)}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, numbers.Number):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self._categorical.probs)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new, batch_shape = self._expand_begin(Multinomial, batch_shape, _instance)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        new._binomial = Binomial(total_count=self.total_count, probs=new._categorical.probs, validate_args=False)
        return self._expand_end(new, batch_shape, self.event_shape)

    @property
    def support(self):
        return _Multinomial(self.total_count)

    probs = _of_categorical("probs")
    logits = _of_categorical("logits")
    param_shape = _of_categorical("param_shape")

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=_e.Size()):
        """``total_count`` Categorical draws, one-hot and summed over the draws axis."""
        sample_shape = _size(sample_shape)
        idx = self._categorical.sample(_e.Size([int(self.total_count)] + list(sample_shape)))
        return _one_hot(idx, self._categorical._num_events, self.probs.dtype).sum(0)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        log_factorial_n = lgamma(value.sum(-1) + 1)
        log_factorial_xs = lgamma(value + 1).sum(-1)
        logits = _e.where((value == 0) & (logits == float("-inf")), _e.zeros_like(logits), logits)
        return log_factorial_n - log_factorial_xs + (logits * value).sum(-1)
