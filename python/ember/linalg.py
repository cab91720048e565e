"""``ember.linalg`` (``torch.linalg``): the parts that compose from native tensor ops.

Norms, cross/vecdot/multi_dot/matrix_power/diagonal/vander, and the factorizations and solves
(cholesky, solve_triangular, det/slogdet/inv/solve by Gauss-Jordan elimination with partial
pivoting). Every loop runs over the matrix size n, one whole row or column per step, vectorised
over the batch dims, and everything stays differentiable through autograd. Decompositions that
need an iterative eigen/SVD solver (svd, eigh, the 'nuc'/2/-2 matrix norms) are not here.

The distributions package (MultivariateNormal, the lower_cholesky constraint, kl) uses the
``cholesky_ex`` and ``solve_triangular`` below."""

import math as _math
from collections import namedtuple as _namedtuple

import ember as _e

__all__ = [
    "vector_norm", "matrix_norm", "norm", "cross", "vecdot", "multi_dot", "matrix_power",
    "diagonal", "matmul", "vander", "solve_triangular", "cholesky", "cholesky_ex", "det",
    "slogdet", "inv", "inv_ex", "solve",
]

_CholeskyEx = _namedtuple("linalg_cholesky_ex", ["L", "info"])
_InvEx = _namedtuple("linalg_inv_ex", ["inverse", "info"])
_Slogdet = _namedtuple("linalg_slogdet", ["sign", "logabsdet"])

matmul = _e.Tensor.matmul


def _wrap(dim, ndim, name):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, "
                         f"{max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _dims(dim, ndim, name):
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    out = tuple(_wrap(d, ndim, name) for d in dim)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{name}: dim {out[0]} appears multiple times in the list of dims")
    return out


def _check_float(x, name):
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {_dname(x.dtype)}")


def _dname(d):
    s = str(d).replace("ember.", "")
    return {"int64": "Long", "int32": "Int", "bool": "Bool", "uint8": "Byte", "int16": "Short",
            "int8": "Char"}.get(s, s.capitalize())


def _squeeze_dims(t, dims):
    for d in sorted(dims, reverse=True):
        t = t.squeeze(d)
    return t


def _safe_root(s, p):
    """s ** (1/p), with a zero gradient where s is 0 (as PyTorch's norm backward)."""
    zero = s == 0
    safe = _e.where(zero, _e.ones_like(s), s)
    r = safe.sqrt() if p == 2 else safe.pow(1.0 / p)
    return _e.where(zero, _e.zeros_like(s), r)


def _square_check(A, name, what="A"):
    if A.dim() < 2:
        raise RuntimeError(f"{name}: The input tensor {what} must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{name}: {what} must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")


# ----------------------------------------------------------------------------------------- norms

def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    if isinstance(ord, str) or not isinstance(ord, (int, float)):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}")
    _check_float(x, "linalg.vector_norm")
    if dtype is not None:
        x = x.to(dtype)
    scalar = x.dim() == 0
    if scalar:
        x = x.reshape(1)
    dims = _dims(dim, x.dim(), "linalg.vector_norm")
    if not dims:  # dim=() reduces over every dim, as dim=None
        dims = tuple(range(x.dim()))
    ord = float(ord)
    a = x.abs()
    if ord == _math.inf:
        r = a.amax(dim=dims, keepdim=True)
    elif ord == -_math.inf:
        r = a.amin(dim=dims, keepdim=True)
    elif ord == 0:
        r = (x != 0).to(x.dtype).sum(dim=dims, keepdim=True)
    elif ord in (1, 2):  # the native norm (one op, its own backward, 0 gradient at 0)
        r = x.norm(ord, dim=dims, keepdim=True)
    elif ord > 0:
        r = _safe_root(a.pow(ord).sum(dim=dims, keepdim=True), ord)
    else:
        r = a.pow(ord).sum(dim=dims, keepdim=True).pow(1.0 / ord)
    if scalar:
        return r.reshape(())
    return r if keepdim else _squeeze_dims(r, dims)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    name = "linalg.matrix_norm"
    if A.dim() < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    _check_float(A, name)
    if isinstance(dim, int) or len(dim) != 2:
        raise RuntimeError(f"{name}: dim must be a 2-tuple. Got {dim}")
    d0, d1 = (_wrap(d, A.dim(), name) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"{name}: dims must be different. Got ({dim[0]}, {dim[1]})")
    if dtype is not None:
        A = A.to(dtype)
    if isinstance(ord, str):
        if ord == "fro":
            return vector_norm(A, 2, (d0, d1), keepdim)
        if ord == "nuc":
            raise RuntimeError(f"{name}: ord='nuc' needs singular values (an SVD), which ember does not have")
        raise RuntimeError(f"{name}: Order {ord} not supported.")
    if ord in (2, -2):
        raise RuntimeError(f"{name}: ord={ord} needs singular values (an SVD), which ember does not have")
    if ord not in (1, -1, _math.inf, -_math.inf):
        raise RuntimeError(f"{name}: Order {ord} not supported.")
    # 1/-1: max/min over columns of the column sums; inf/-inf: over rows of the row sums.
    sum_dim, red_dim = (d0, d1) if abs(ord) == 1 else (d1, d0)
    s = A.abs().sum(dim=sum_dim, keepdim=True)
    r = s.amax(dim=red_dim, keepdim=True) if ord > 0 else s.amin(dim=red_dim, keepdim=True)
    return r if keepdim else _squeeze_dims(r, (d0, d1))


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dim)}")
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if isinstance(ord, str):
            dim = (-2, -1)
        elif A.dim() in (1, 2):
            dim = tuple(range(-A.dim(), 0))
        else:
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.dim()}D.")
    if len(dim) == 2 or isinstance(ord, str):
        return matrix_norm(A, ord, dim, keepdim, dtype=dtype)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


# --------------------------------------------------------------------------------- products etc.

def cross(input, other, *, dim=-1, out=None):
    if input.dim() != other.dim():
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions. Got {input.dim()} and {other.dim()}")
    d = _wrap(dim, input.dim(), "linalg.cross")
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. "
                           f"Got {input.shape[d]} and {other.shape[d]}")
    a, b = _e.broadcast_tensors(input, other)
    a1, a2, a3 = (a.select(d, i) for i in range(3))
    b1, b2, b3 = (b.select(d, i) for i in range(3))
    return _e.stack([a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1], d)


def vecdot(x, y, *, dim=-1, out=None):
    if x.dtype != y.dtype:
        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
                           f"{_dname(x.dtype)} and y of type {_dname(y.dtype)} instead")
    return (x * y).sum(dim)


def multi_dot(tensors, *, out=None):
    tensors = list(tensors)
    n = len(tensors)
    if n < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {n}")
    for i, t in enumerate(tensors):
        ok = t.dim() == 2 or (t.dim() == 1 and i in (0, n - 1))
        if not ok:
            which = "first" if i == 0 else "last" if i == n - 1 else None
            if which:
                raise RuntimeError(f"multi_dot(): the {which} tensor must be 1D or 2D but got {t.dim()}D")
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.dim()}D")
    first_vec, last_vec = tensors[0].dim() == 1, tensors[-1].dim() == 1
    mats = list(tensors)
    if first_vec:
        mats[0] = mats[0].unsqueeze(0)
    if last_vec:
        mats[-1] = mats[-1].unsqueeze(-1)
    for i in range(1, n):
        if mats[i - 1].shape[-1] != mats[i].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i - 1} and {i} with shapes {tuple(tensors[i - 1].shape)} "
                               f"and {tuple(tensors[i].shape)} cannot be multiplied")
    r = _chain(mats, _chain_order([m.shape[0] for m in mats] + [mats[-1].shape[1]]), 0, n - 1)
    if first_vec:
        r = r.squeeze(0)
    if last_vec:
        r = r.squeeze(-1)
    return r


def _chain_order(p):
    """The matrix-chain split table (cheapest parenthesization by multiply count), dims p."""
    n = len(p) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + p[i] * p[k + 1] * p[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain(mats, split, i, j):
    if i == j:
        return mats[i]
    k = split[i][j]
    return _chain(mats, split, i, k).matmul(_chain(mats, split, k + 1, j))


def _eye_like(A):
    n = A.shape[-1]
    return _e.eye(n, dtype=A.dtype, device=A.device).expand(*A.shape)


def matrix_power(A, n, *, out=None):
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"linalg_matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    _square_check(A, "linalg.matrix_power")
    if n == 0:
        return _eye_like(A).clone()
    if n < 0:
        A = inv(A)
        n = -n
    result = None
    base = A
    while n:
        if n & 1:
            result = base if result is None else result.matmul(base)
        n >>= 1
        if n:
            base = base.matmul(base)
    return result


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    nd = A.dim()
    d1, d2 = _wrap(dim1, nd, "diagonal"), _wrap(dim2, nd, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    x = _e.movedim(A, [d1, d2], [nd - 2, nd - 1])
    r, c = x.shape[-2], x.shape[-1]
    if offset >= 0:
        x = x.narrow(-1, min(offset, c), c - min(offset, c))
    else:
        x = x.narrow(-2, min(-offset, r), r - min(-offset, r))
    m = min(x.shape[-2], x.shape[-1])
    x = x.narrow(-2, 0, m).narrow(-1, 0, m)
    idx = _e.arange(m, device=A.device).reshape(*([1] * (x.dim() - 2)), m, 1).expand(*x.shape[:-1], 1)
    return x.gather(-1, idx).squeeze(-1)


def vander(x, *, N=None):
    if x.dim() < 1:
        raise RuntimeError("linalg.vander: x must have at least one dimension.")
    n = x.shape[-1] if N is None else N
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    cols = [_e.ones_like(x)]
    for _ in range(n - 1):
        cols.append(cols[-1] * x)
    return _e.stack(cols, -1)


# ----------------------------------------------------------------------- triangular, cholesky

def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    name = "linalg.solve_triangular"
    _square_check(A, name)
    if B.dim() < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return solve_triangular(A.mT, B.mT, upper=not upper, left=True, unitriangular=unitriangular).mT
    n = A.shape[-1]
    if B.shape[-2] != n:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})")
    batch = tuple(_e.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2])))
    A = A.expand(*batch, n, n)
    B = B.expand(*batch, n, B.shape[-1])
    rows = [None] * n
    order = range(n - 1, -1, -1) if upper else range(n)
    done = []
    for i in order:
        r = B[..., i:i + 1, :]
        if done:
            if upper:
                coef, prev = A[..., i:i + 1, i + 1:], _e.cat(rows[i + 1:], -2)
            else:
                coef, prev = A[..., i:i + 1, :i], _e.cat(rows[:i], -2)
            r = r - coef.matmul(prev)
        if not unitriangular:
            r = r / A[..., i:i + 1, i:i + 1]
        rows[i] = r
        done.append(i)
    return _e.cat(rows, -2)


def _cholesky_lower(a):
    """Lower L with L L^T = a, read from a's lower triangle (NaN/inf where a is not PD)."""
    n = a.shape[-1]
    rows = _e.arange(n, device=a.device)
    cols = []
    for j in range(n):
        s = a[..., :, j]
        if j:
            prev = _e.stack(cols, -1)  # (..., n, j)
            s = s - (prev * prev[..., j:j + 1, :]).sum(-1)
        d = s[..., j:j + 1].sqrt()
        cols.append(_e.where(rows >= j, s / d, _e.zeros_like(s)))
    if not cols:
        return a.clone()
    return _e.stack(cols, -1)


def _first_bad(good):
    """info: 1 + the first index along the last dim where ``good`` is False, else 0 (int32)."""
    bad = good.logical_not()
    first = bad.to(_e.int64).argmax(-1) + 1
    return _e.where(bad.any(-1), first, _e.zeros_like(first)).to(_e.int32)


def cholesky_ex(A, *, upper=False, check_errors=False, out=None):
    _square_check(A, "linalg.cholesky")
    _check_float(A, "linalg.cholesky")
    L = _cholesky_lower(A.mT if upper else A)
    info = _first_bad(diagonal(L).detach() > 0) if A.shape[-1] else _e.zeros(*A.shape[:-2], dtype=_e.int32, device=A.device)
    if check_errors:
        _raise_info(info, lambda k: f"linalg.cholesky: The factorization could not be completed because the input "
                                    f"is not positive-definite (the leading minor of order {k} is not positive-definite).")
    return _CholeskyEx(L.mT if upper else L, info)


def _raise_info(info, message):
    if info.numel() and bool((info != 0).any()):
        flat = info.reshape(-1)
        b = int((flat != 0).to(_e.int64).argmax())
        msg = message(int(flat[b]))
        if info.dim():
            msg = msg.replace(": ", f": (Batch element {b}): ", 1)
        raise RuntimeError(msg)


def cholesky(A, *, upper=False, out=None):
    return cholesky_ex(A, upper=upper, check_errors=True).L


# ------------------------------------------------------------- Gauss-Jordan: det, inv, solve

def _gauss_jordan(A, B=None):
    """Eliminates [A | B] by Gauss-Jordan with partial pivoting, one whole row step per column.

    Returns (pivots, swap_sign, X): the (*, n) pivots, the permutation's (*,) sign, and A^-1 B
    (None when B is None: then only the lower elimination needed for the pivots is done).
    A zero pivot (a singular matrix) divides by 1 instead, so the pivots hold a 0 and no NaN."""
    n = A.shape[-1]
    M = A if B is None else _e.cat([A, B], -1)
    rows = _e.arange(n, device=A.device)
    col_rows = rows.unsqueeze(-1)
    sign = _e.ones(*A.shape[:-2], dtype=A.dtype, device=A.device)
    pivots = []
    for k in range(n):
        col = M[..., :, k].detach().abs()
        col = _e.where(rows >= k, col, _e.full_like(col, -1.0))
        p = col.argmax(-1)  # (*,)
        pk = p.unsqueeze(-1)
        perm = _e.where(rows == k, pk, _e.where(rows == pk, _e.full_like(pk, k), rows))
        M = M.gather(-2, perm.unsqueeze(-1).expand(*M.shape))
        sign = _e.where(p == k, sign, -sign)
        piv = M[..., k, k]
        pivots.append(piv)
        safe = _e.where(piv == 0, _e.ones_like(piv), piv)
        row = M[..., k:k + 1, :] / safe.unsqueeze(-1).unsqueeze(-1)
        factor = M[..., :, k:k + 1]
        if B is None:  # only the rows below k
            factor = _e.where(col_rows > k, factor, _e.zeros_like(factor))
            M = M - factor * row
        else:
            M = _e.where(col_rows == k, row, M - factor * row)
    piv = _e.stack(pivots, -1) if pivots else _e.ones(*A.shape[:-2], 0, dtype=A.dtype, device=A.device)
    return piv, sign, (None if B is None else M[..., :, n:])


def det(A, *, out=None):
    _square_check(A, "linalg.det")
    _check_float(A, "linalg.det")
    piv, sign, _ = _gauss_jordan(A)
    return sign * piv.prod(-1) + 0.0  # + 0.0: a singular matrix's det is 0, not -0


def slogdet(A, *, out=None):
    _square_check(A, "linalg.slogdet")
    _check_float(A, "linalg.slogdet")
    piv, sign, _ = _gauss_jordan(A)
    return _Slogdet(sign * piv.sign().prod(-1), piv.abs().log().sum(-1))


def inv_ex(A, *, check_errors=False, out=None):
    _square_check(A, "linalg.inv")
    _check_float(A, "linalg.inv")
    piv, _, X = _gauss_jordan(A, _eye_like(A))
    info = _first_bad(piv.detach() != 0) if A.shape[-1] else _e.zeros(*A.shape[:-2], dtype=_e.int32, device=A.device)
    if check_errors:
        _raise_info(info, lambda k: f"linalg.inv: The diagonal element {k} is zero, the inversion could not be "
                                    f"completed because the input matrix is singular.")
    return _InvEx(X, info)


def inv(A, *, out=None):
    return inv_ex(A, check_errors=True).inverse


def solve(A, B, *, left=True, out=None):
    name = "linalg.solve"
    _square_check(A, name)
    _check_float(A, name)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return solve(A.mT, B.mT).mT if B.dim() >= 2 else solve(A.mT, B)
    n = A.shape[-1]
    vector = B.dim() == 1 or (B.dim() == A.dim() - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.shape[-2] != n:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {Bm.shape[-2]}x{Bm.shape[-1]})")
    batch = tuple(_e.broadcast_shapes(tuple(A.shape[:-2]), tuple(Bm.shape[:-2])))
    A = A.expand(*batch, n, n)
    Bm = Bm.expand(*batch, n, Bm.shape[-1])
    piv, _, X = _gauss_jordan(A, Bm)
    info = _first_bad(piv.detach() != 0)
    _raise_info(info, lambda k: "linalg.solve: The solver failed because the input matrix is singular.")
    return X.squeeze(-1) if vector else X
