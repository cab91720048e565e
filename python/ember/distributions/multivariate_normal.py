"""MultivariateNormal with covariance_matrix, precision_matrix or scale_tril.

The Cholesky factor and triangular solves come from ``ember.linalg`` (tensor ops looping over
the n columns, vectorised over batch dims)."""

import math

import ember as _e

from . import constraints
from .distribution import Distribution
from .utils import lazy_property, _broadcast_shape
from ember.linalg import cholesky_ex, diagonal, solve_triangular


def _precision_to_scale_tril(P):
    Lf = cholesky_ex(P.flip(-2, -1)).L
    L_inv = Lf.flip(-2, -1).mT
    n = P.shape[-1]
    Id = _e.eye(n, dtype=P.dtype, device=P.device).expand(L_inv.shape)
    return solve_triangular(L_inv, Id, upper=False)


class MultivariateNormal(Distribution):
    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        if (covariance_matrix is not None) + (scale_tril is not None) + (precision_matrix is not None) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        matrix = next(m for m in (scale_tril, covariance_matrix, precision_matrix) if m is not None)
        if matrix.dim() < 2:
            raise ValueError("scale_tril, covariance_matrix or precision_matrix must be at least two-dimensional, "
                             "with optional leading batch dimensions")
        batch_shape = _broadcast_shape(matrix.shape[:-2], loc.shape[:-1])
        mshape = _e.Size(list(batch_shape) + list(matrix.shape[-2:]))
        if scale_tril is not None:
            self.scale_tril = scale_tril.expand(mshape)
        elif covariance_matrix is not None:
            self.covariance_matrix = covariance_matrix.expand(mshape)
        else:
            self.precision_matrix = precision_matrix.expand(mshape)
        self.loc = loc.expand(_e.Size(list(batch_shape) + [loc.shape[-1]]))
        super().__init__(batch_shape, loc.shape[-1:], validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = cholesky_ex(covariance_matrix).L
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)

    def expand(self, batch_shape, _instance=None):
        new, batch_shape = self._expand_begin(MultivariateNormal, batch_shape, _instance, ("loc",), self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        self._expand_into(new, ("covariance_matrix", "scale_tril", "precision_matrix"),
                          _e.Size(list(batch_shape) + list(self.event_shape) * 2))
        return self._expand_end(new, batch_shape, self.event_shape)

    def _matrix_shape(self):
        # batch_shape + (n, n): what the three lazy matrices are expanded to
        return _e.Size(list(self._batch_shape) + list(self._event_shape) * 2)

    def _half_log_det(self):
        # log sqrt(det Sigma), used by log_prob and entropy
        return diagonal(self._unbroadcasted_scale_tril).log().sum(-1)

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril
        n = L.shape[-1]
        Id = _e.eye(n, dtype=L.dtype, device=L.device).expand(L.shape)
        Linv = solve_triangular(L, Id, upper=False)
        return (Linv.mT @ Linv).expand(self._matrix_shape())

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(
            _e.Size(list(self._batch_shape) + list(self._event_shape)))

    def rsample(self, sample_shape=_e.Size()):
        shape = self._extended_shape(sample_shape)
        eps = _e.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + (self._unbroadcasted_scale_tril * eps.unsqueeze(-2)).sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        y = solve_triangular(self._unbroadcasted_scale_tril, diff.unsqueeze(-1), upper=False).squeeze(-1)
        M = y.pow(2).sum(-1)
        half_log_det = self._half_log_det()
        n = self._event_shape[0]
        return -0.5 * (n * math.log(2 * math.pi) + M) - half_log_det

    def entropy(self):
        half_log_det = self._half_log_det()
        n = self._event_shape[0]
        H = 0.5 * n * (1.0 + math.log(2 * math.pi)) + half_log_det
        if len(self._batch_shape) == 0:
            return H
        return H.expand(self._batch_shape)
