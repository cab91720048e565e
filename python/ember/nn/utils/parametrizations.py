"""``ember.nn.utils.parametrizations``: ready-made parametrizations, as
``torch.nn.utils.parametrizations`` (registered through :mod:`.parametrize`)."""

import math

from ... import _core
from ...autograd import no_grad
from ..module import Module
from . import parametrize

__all__ = ["orthogonal", "weight_norm"]


def _norm_except_dim(v, dim):
    """The 2-norm of ``v`` over every dim but ``dim`` (kept as size-1 dims); ``dim=-1`` is the
    whole tensor's norm, as torch's ``norm_except_dim``."""
    if dim == -1:
        return v.pow(2).sum().sqrt()
    dims = [d for d in range(v.dim()) if d != dim]
    return v.pow(2).sum(dims, keepdim=True).sqrt() if dims else v.abs()


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        if dim is None:
            dim = -1
        self.dim = dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        weight_g = _norm_except_dim(weight, self.dim)
        weight_v = weight
        return weight_g, weight_v


def weight_norm(module, name="weight", dim=0):
    """Reparametrizes ``module.<name>`` as ``g * v / ||v||`` (the norm over every dim but
    ``dim``): ``parametrizations.<name>.original0`` is ``g``, ``original1`` is ``v``."""
    _weight_norm = _WeightNorm(dim)
    parametrize.register_parametrization(module, name, _weight_norm, unsafe=True)

    return module


# ---- orthogonal ------------------------------------------------------------------------------
# Composed from matmuls for 2-D weights (ember has no linalg QR / matrix_exp / solve).

def _diag(X):
    """The main diagonal of a 2-D ``X``."""
    n = min(X.shape[-2], X.shape[-1])
    return (X[:n, :n] * _core.eye(n, dtype=X.dtype, device=X.device)).sum(-1)


def _matrix_exp(A):
    """exp(A) by scaling and squaring with a degree-18 Taylor polynomial."""
    norm = A.detach().abs().sum(-2).amax().item()
    s = max(0, int(math.ceil(math.log2(norm))) + 1) if norm > 0 else 0
    A = A / (2.0 ** s)
    n = A.shape[-1]
    eye = _core.eye(n, dtype=A.dtype, device=A.device)
    result, term = eye, eye
    for k in range(1, 19):
        term = (term @ A) / k
        result = result + term
    for _ in range(s):
        result = result @ result
    return result


def _solve(M, B):
    """M^{-1} B by Gauss-Jordan elimination without pivoting (M = I - A/2 with A
    skew-symmetric has a positive-definite symmetric part, so no pivot vanishes)."""
    n = M.shape[-1]
    aug = _core.cat([M, B], -1)
    rows = [aug[i] for i in range(n)]
    for k in range(n):
        rows[k] = rows[k] / rows[k][k]
        for i in range(n):
            if i != k:
                rows[i] = rows[i] - rows[i][k] * rows[k]
    return _core.stack(rows, 0)[:, n:]


def _householder_product(A, tau):
    """The first ``k`` columns of ``H_1 ... H_k``, ``H_i = I - tau_i v_i v_i^T`` with ``v_i`` the
    ``i``-th column of ``A`` below the diagonal and 1 on it (``torch.linalg.householder_product``)."""
    n, k = A.shape[-2], A.shape[-1]
    eye = _core.eye(n, dtype=A.dtype, device=A.device)
    Q = eye
    for i in range(k):
        v = (A[:, i] * (_core.arange(n, device=A.device) > i).to(A.dtype) + eye[:, i]).unsqueeze(-1)
        Q = Q - tau[i] * ((Q @ v) @ v.mT)
    return Q[:, :k]


def _make_orthogonal(A):
    """The Q of A's QR decomposition with R's diagonal made positive (modified Gram-Schmidt)."""
    cols = []
    for j in range(A.shape[-1]):
        v = A[:, j]
        for q in cols:
            v = v - (q * v).sum() * q
        cols.append(v / v.pow(2).sum().sqrt())
    return _core.stack(cols, -1)


def _is_orthogonal(Q, eps=None):
    n, k = Q.shape[-2], Q.shape[-1]
    eye = _core.eye(k, dtype=Q.dtype, device=Q.device)
    eps = 10.0 * n * (1.2e-7 if Q.dtype == _core.float32 else 2.3e-16) if eps is None else eps
    return bool(((Q.mT @ Q - eye).abs() <= eps).all().item())


class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        if weight.dim() != 2:
            raise NotImplementedError("ember's orthogonal parametrization supports 2-D weights only")
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:
                X = _core.cat([X, _core.zeros(n, n - k, dtype=X.dtype, device=X.device)], -1)
            A = X - X.mT
            if self.orthogonal_map == "matrix_exp":
                Q = _matrix_exp(A)
            else:
                eye = _core.eye(n, dtype=X.dtype, device=X.device)
                Q = _solve(eye - 0.5 * A, eye + 0.5 * A)
            if n != k:
                Q = Q[:, :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = _householder_product(A, tau)
            Q = Q * _diag(X).detach().to(_core.int32).to(X.dtype).unsqueeze(-2)
        if "base" in self._buffers:
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q):
        with no_grad():
            if tuple(Q.shape) != self.shape:
                raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape {tuple(Q.shape)}.")
            Q_init = Q
            n, k = Q.shape[-2], Q.shape[-1]
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n
            if "base" not in self._buffers:
                if self.orthogonal_map in ("matrix_exp", "cayley"):
                    raise NotImplementedError("It is not possible to assign to the matrix exponential or the Cayley "
                                              "parametrizations when use_trivialization=False.")
                raise NotImplementedError("ember has no geqrf: assigning to a householder parametrization needs use_trivialization=True")
            if n == k:
                Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
            else:
                N = _core.randn(n, n - k, dtype=Q.dtype, device=Q.device)
                Q = _make_orthogonal(_core.cat([Q, N], -1))
            self.base = Q
            neg_Id = _core.zeros(*Q_init.shape, dtype=Q_init.dtype, device=Q_init.device)
            neg_Id = neg_Id - _core.eye(neg_Id.shape[0], neg_Id.shape[1], dtype=Q_init.dtype, device=Q_init.device)
            return neg_Id


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Constrains ``module.<name>`` (a 2-D weight) to be orthogonal: ``Q^T Q = I`` (tall) or
    ``Q Q^T = I`` (wide), through ``"matrix_exp"``, ``"cayley"`` or ``"householder"``
    (default: ``matrix_exp`` for square weights, else ``householder``)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, _core.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.dim() < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.dim()} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] or weight.is_complex() else "householder"
    if orthogonal_map not in ("matrix_exp", "cayley", "householder"):
        raise ValueError(f'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". Got: {orthogonal_map}')
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
