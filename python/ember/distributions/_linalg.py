"""Cholesky factor and lower-triangular solves composed from tensor ops.

ember has no native linalg (no cholesky, solve_triangular, inverse). These loop over the matrix
dimension n (one column or row per step, vectorised over every batch dim), never over elements,
and stay differentiable through autograd."""

import ember as _e


def diagonal(m):
    n = m.shape[-1]
    return (m * _e.eye(n, dtype=m.dtype, device=m.device)).sum(-1)


def cholesky(a):
    """Lower L with L L^T = a (batched, ``a`` symmetric positive definite; NaN where it is not)."""
    n = a.shape[-1]
    rows = _e.arange(n, device=a.device)
    cols = []
    for j in range(n):
        s = a[..., :, j]
        if j:
            prev = _e.stack(cols, -1)  # (..., n, j)
            s = s - (prev * prev[..., j:j + 1, :]).sum(-1)
        d = s[..., j:j + 1].sqrt()
        col = _e.where(rows >= j, s / d, _e.zeros_like(s))
        cols.append(col)
    return _e.stack(cols, -1)


def solve_lower_vec(L, b):
    """y with L y = b, b of shape (..., n), broadcasting L's and b's batch dims."""
    n = L.shape[-1]
    ys = []
    for i in range(n):
        r = b[..., i]
        if i:
            r = r - (L[..., i, :i] * _e.stack(ys, -1)).sum(-1)
        ys.append(r / L[..., i, i])
    return _e.stack(ys, -1)


def solve_lower(L, B):
    """X with L X = B, B of shape (..., n, m)."""
    return solve_lower_vec(L.unsqueeze(-3), B.mT).mT
