"""ember.linalg (and ember.norm/cross/det) against numpy.linalg, float64 gradchecks, PyTorch's errors."""

import math

import numpy as np
import pytest

import ember
from ember import linalg as LA
from conftest import assert_close, check_grad, grad_input

R = np.random.RandomState(0)
A3 = R.randn(2, 3, 3)
B32 = R.randn(2, 3, 2)
X = R.randn(3, 5)
SPD = A3 @ A3.transpose(0, 2, 1) + 3 * np.eye(3)
LOW = np.tril(A3) + 3 * np.eye(3)


def t(a, device, dtype=ember.float32):
    return ember.tensor(np.asarray(a), dtype=dtype, device=device)


def g(a):
    return ember.tensor(np.asarray(a), dtype=ember.float64, requires_grad=True)


def test_lazy_and_exports():
    assert ember.linalg is LA and LA.matmul is ember.Tensor.matmul
    assert callable(ember.norm) and callable(ember.cross) and callable(ember.det)


@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf, 0, 3.5, -1.5])
def test_vector_norm(device, ord):
    assert_close(LA.vector_norm(t(X, device), ord, dim=1), np.linalg.norm(X, ord, axis=1), rtol=1e-4)
    assert_close(LA.vector_norm(t(X, device), ord, dim=(0, 1), keepdim=True),
                 np.linalg.norm(X.reshape(-1), ord).reshape(1, 1), rtol=1e-4)
    assert_close(LA.vector_norm(t(A3, device), ord), np.linalg.norm(A3.reshape(-1), ord), rtol=1e-4)


@pytest.mark.parametrize("ord", ["fro", 1, -1, math.inf, -math.inf])
def test_matrix_norm(device, ord):
    assert_close(LA.matrix_norm(t(A3, device), ord), np.linalg.norm(A3, ord, axis=(-2, -1)), rtol=1e-4)
    assert_close(LA.matrix_norm(t(A3, device), ord, dim=(0, 2), keepdim=True),
                 np.linalg.norm(A3, ord, axis=(0, 2), keepdims=True), rtol=1e-4)
    assert_close(LA.norm(t(X, device), ord), np.linalg.norm(X, ord), rtol=1e-4)


def test_norm_dispatch(device):
    x = t(A3, device)
    assert_close(LA.norm(x), np.linalg.norm(A3.reshape(-1)), rtol=1e-5)
    assert_close(LA.norm(x, dim=(1, 2)), np.linalg.norm(A3, axis=(1, 2)), rtol=1e-5)
    assert_close(LA.norm(x, 1, dim=(1, 2)), np.linalg.norm(A3, 1, axis=(1, 2)), rtol=1e-5)
    assert_close(LA.norm(x, 3, dim=1), np.linalg.norm(A3, 3, axis=1), rtol=1e-5)
    assert_close(LA.norm(t(X[0], device), 1), np.linalg.norm(X[0], 1), rtol=1e-5)
    with pytest.raises(RuntimeError, match="must be 1D or 2D"):
        LA.norm(x, 1)
    # the old torch.norm: p='fro' or a number, over dim (all dims by default), a vector norm
    assert_close(ember.norm(x), np.linalg.norm(A3.reshape(-1)), rtol=1e-5)
    assert_close(ember.norm(x, "fro", dim=(1, 2)), np.linalg.norm(A3, axis=(1, 2)), rtol=1e-5)
    assert_close(ember.norm(x, 1, dim=2, keepdim=True), np.abs(A3).sum(2, keepdims=True), rtol=1e-5)
    assert_close(ember.norm(x, 1), np.abs(A3).sum(), rtol=1e-5)


def test_products(device):
    a, b = R.randn(4, 3), R.randn(1, 3)
    assert_close(LA.cross(t(a, device), t(b, device)), np.cross(a, b), atol=1e-5)
    assert_close(LA.cross(t(a.T, device), t(b.T, device), dim=0), np.cross(a, b).T, atol=1e-5)
    assert_close(ember.cross(t(a.T, device), t(np.repeat(b.T, 4, 1), device)), np.cross(a, b).T, atol=1e-5)
    assert_close(LA.vecdot(t(a, device), t(b, device)), (a * b).sum(-1), atol=1e-5)
    m1, m2, m3 = R.randn(3, 4), R.randn(4, 2), R.randn(2, 5)
    assert_close(LA.multi_dot([t(m1, device), t(m2, device), t(m3, device)]), m1 @ m2 @ m3, atol=1e-5)
    v, w = R.randn(3), R.randn(5)
    m4 = R.randn(4, 5)
    assert_close(LA.multi_dot([t(v, device), t(m1, device), t(m4, device), t(w, device)]),
                 np.linalg.multi_dot([v, m1, m4, w]), rtol=1e-4, atol=1e-4)
    for n in (0, 1, 2, 5):
        assert_close(LA.matrix_power(t(A3, device), n), np.linalg.matrix_power(A3, n), rtol=1e-4, atol=1e-4)
    assert_close(LA.matmul(t(m1, device), t(m2, device)), m1 @ m2, atol=1e-5)
    assert_close(LA.vander(t(X[0], device)), np.vander(X[0], increasing=True), rtol=1e-4, atol=1e-5)
    assert_close(LA.vander(t(X[:, :2], device), N=4), np.stack([np.vander(r, 4, increasing=True) for r in X[:, :2]]),
                 rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("offset", [0, 1, 2, -1, -3, 7])
def test_diagonal(device, offset):
    assert_close(LA.diagonal(t(X, device), offset=offset), np.diagonal(X, offset))
    assert_close(LA.diagonal(t(A3, device), offset=offset, dim1=0, dim2=2), np.diagonal(A3, offset, 0, 2))


def test_factorizations_and_solves(device):
    assert_close(LA.cholesky(t(SPD, device)), np.linalg.cholesky(SPD), rtol=1e-4, atol=1e-5)
    assert_close(LA.cholesky(t(SPD, device), upper=True), np.linalg.cholesky(SPD).transpose(0, 2, 1),
                 rtol=1e-4, atol=1e-5)
    L, info = LA.cholesky_ex(t(SPD, device))
    assert info.tolist() == [0, 0]
    assert LA.cholesky_ex(t([[1.0, 2.0], [2.0, 1.0]], device)).info.item() == 2
    assert_close(LA.solve_triangular(t(LOW, device), t(B32, device), upper=False), np.linalg.solve(LOW, B32),
                 rtol=1e-4, atol=1e-5)
    up = LOW.transpose(0, 2, 1)
    assert_close(LA.solve_triangular(t(up, device), t(B32, device), upper=True), np.linalg.solve(up, B32),
                 rtol=1e-4, atol=1e-5)
    right = B32.transpose(0, 2, 1)  # X A = B
    assert_close(LA.solve_triangular(t(up, device), t(right, device), upper=True, left=False),
                 right @ np.linalg.inv(up), rtol=1e-4, atol=1e-5)
    unit = np.tril(LOW, -1) + np.eye(3)
    assert_close(LA.solve_triangular(t(LOW, device), t(B32, device), upper=False, unitriangular=True),
                 np.linalg.solve(unit, B32), rtol=1e-4, atol=1e-5)
    assert_close(LA.det(t(A3, device)), np.linalg.det(A3), rtol=1e-4, atol=1e-5)
    assert_close(ember.det(t(A3[0], device)), np.linalg.det(A3[0]), rtol=1e-4, atol=1e-5)
    sign, logabs = LA.slogdet(t(A3, device))
    s2, l2 = np.linalg.slogdet(A3)
    assert_close(sign, s2)
    assert_close(logabs, l2, rtol=1e-4, atol=1e-5)
    assert_close(LA.inv(t(A3, device)), np.linalg.inv(A3), rtol=1e-3, atol=1e-4)
    assert_close(LA.solve(t(A3, device), t(B32, device)), np.linalg.solve(A3, B32), rtol=1e-3, atol=1e-4)
    assert_close(LA.solve(t(A3, device), t(B32[..., 0], device)), np.linalg.solve(A3, B32[..., :1])[..., 0],
                 rtol=1e-3, atol=1e-4)
    assert_close(LA.solve(t(A3, device), t(right, device), left=False), right @ np.linalg.inv(A3),
                 rtol=1e-3, atol=1e-4)
    assert_close(LA.matrix_power(t(A3, device), -2), np.linalg.matrix_power(A3, -2), rtol=1e-3, atol=1e-3)
    sing = t([[1.0, 2.0], [2.0, 4.0]], device)
    assert LA.det(sing).item() == 0
    assert LA.inv_ex(sing).info.item() == 2
    with pytest.raises(RuntimeError, match="singular"):
        LA.inv(sing)


def test_gradients():
    a, b, x = A3[0], B32[0], X
    check_grad(lambda m: LA.vector_norm(m, 2, dim=1), g(x))
    check_grad(lambda m: LA.vector_norm(m, 3.5), grad_input(x, layout="transposed"))
    check_grad(lambda m: LA.vector_norm(m, -1.5, dim=0), g(x))
    check_grad(lambda m: LA.matrix_norm(m, "fro"), g(a))
    check_grad(lambda m: LA.matrix_norm(m, 1), g(a))
    check_grad(lambda m: LA.matrix_norm(m, -math.inf), g(a))
    check_grad(lambda u, v: LA.cross(u, v), g(x[:, :3]), g(x[:, 2:]))
    check_grad(lambda m: LA.matrix_power(m, 3), g(a))
    check_grad(lambda m: LA.diagonal(m, offset=1), g(x))
    check_grad(lambda v: LA.vander(v, N=4), g(x[0]))
    check_grad(lambda m, r: LA.solve_triangular(m, r, upper=False), g(LOW[0]), g(b))
    check_grad(lambda m, r: LA.solve_triangular(m, r, upper=True, left=False), g(LOW[0].T), g(b.T))
    check_grad(lambda m: LA.cholesky(m), g(SPD[0]))
    check_grad(LA.det, g(A3))
    check_grad(lambda m: LA.slogdet(m).logabsdet, g(A3))
    check_grad(LA.inv, grad_input(a, layout="transposed"))
    check_grad(LA.solve, g(a), g(b))
    # numpy's finite difference of det, independently of gradcheck
    m = g(a)
    LA.det(m).backward()
    np.testing.assert_allclose(m.grad.numpy(), np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-8)


def test_errors():
    f = ember.zeros(4, 2)
    with pytest.raises(RuntimeError, match="linalg.cross: inputs dimension -1 must have length 3. Got 2 and 2"):
        LA.cross(f, f)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        LA.cross(ember.zeros(3), ember.zeros(2, 3))
    with pytest.raises(RuntimeError, match="no dimension of size 3"):
        ember.cross(f, f)
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        LA.vector_norm(ember.ones(3, dtype=ember.int64))
    with pytest.raises(TypeError):
        LA.vector_norm(f, "fro")
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        LA.matrix_norm(ember.zeros(3))
    with pytest.raises(RuntimeError, match="SVD"):
        LA.matrix_norm(f, "nuc")
    with pytest.raises(RuntimeError, match="SVD"):
        LA.norm(f, 2)
    with pytest.raises(RuntimeError, match="SVD"):
        ember.norm(f, "nuc")
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        LA.matrix_norm(f, 3)
    with pytest.raises(RuntimeError, match="dims must be different"):
        LA.matrix_norm(f, dim=(0, 0))
    with pytest.raises(RuntimeError, match="square matrices, but they are 4 by 2"):
        LA.det(f)
    with pytest.raises(RuntimeError, match="square matrices"):
        LA.matrix_power(f, 2)
    with pytest.raises(RuntimeError, match="square matrices"):
        LA.cholesky(f)
    with pytest.raises(RuntimeError, match="not positive-definite"):
        LA.cholesky(ember.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(RuntimeError, match="Incompatible shapes of A and B"):
        LA.solve_triangular(ember.eye(3), ember.zeros(4, 2), upper=False)
    with pytest.raises(RuntimeError, match="Incompatible shapes of A and B"):
        LA.solve(ember.eye(3), ember.zeros(4, 2))
    with pytest.raises(RuntimeError, match="expected at least 2 tensors"):
        LA.multi_dot([f])
    with pytest.raises(RuntimeError, match="tensor 1 must be 2D"):
        LA.multi_dot([f, ember.zeros(2), f])
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        LA.multi_dot([f, f])
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical"):
        LA.diagonal(f, dim1=0, dim2=0)
    with pytest.raises(IndexError):
        LA.cross(f, f, dim=3)


def test_multi_dot_order_and_methods(device):
    # a chain the cost table reorders (not left to right): the same values as numpy
    ms = [R.randn(10, 2), R.randn(2, 30), R.randn(30, 2), R.randn(2, 1)]
    assert_close(LA.multi_dot([t(m, device) for m in ms]), np.linalg.multi_dot(ms), rtol=1e-4, atol=1e-4)
    v, w = R.randn(10), R.randn(1)
    assert_close(LA.multi_dot([t(v, device)] + [t(m, device) for m in ms] + [t(w, device)]),
                 np.linalg.multi_dot([v] + ms + [w]), rtol=1e-4, atol=1e-4)
    a = t(A3[0], device)
    assert_close(a.det(), np.linalg.det(A3[0]), rtol=1e-4, atol=1e-5)
    assert_close(a.cross(a, dim=0), np.zeros((3, 3)), atol=1e-6)
    assert str(LA.det(t([[1.0, 2.0], [2.0, 4.0]], device)).item()) == "0.0"
