"""ember.special's gammaln, digamma and erfinv (and ember.lgamma/digamma/erfinv): SciPy's values
over both half-lines, the poles as PyTorch gives them, gradients in float64, both devices."""

import numpy as np
import pytest

import ember
import ember.special as sp
from conftest import check_grad

scipy_special = pytest.importorskip("scipy.special")

X = np.array([-7.3, -3.7, -2.5, -0.3, 0.01, 0.1, 0.5, 1.0, 1.5, 2.0, 3.3, 7.9, 10.0, 150.0, 1e4])
Y = np.array([-0.999999, -0.999, -0.5, -1e-8, 0.0, 0.3, 0.9, 0.99999])


def test_match_scipy_in_float64(device):
    x = ember.tensor(X, device=device)
    np.testing.assert_allclose(sp.gammaln(x).cpu().numpy(), scipy_special.gammaln(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sp.digamma(x).cpu().numpy(), scipy_special.digamma(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sp.erfinv(ember.tensor(Y, device=device)).cpu().numpy(), scipy_special.erfinv(Y),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ember.lgamma(x).cpu().numpy(), scipy_special.gammaln(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x.digamma().cpu().numpy(), sp.psi(x).cpu().numpy())


def test_float32_and_special_points(device):
    x = ember.tensor(X.astype(np.float32), device=device)
    np.testing.assert_allclose(sp.gammaln(x).cpu().numpy(), scipy_special.gammaln(X.astype(np.float32)), rtol=2e-5, atol=2e-5)
    poles = ember.tensor([0.0, -1.0, -4.0], device=device)
    assert np.isposinf(sp.gammaln(poles).cpu().numpy()).all()
    d = sp.digamma(poles).cpu().numpy()
    assert np.isneginf(d[0]) and np.isnan(d[1:]).all()
    e = sp.erfinv(ember.tensor([1.0, -1.0, 1.5, -2.0], device=device)).cpu().numpy()
    assert e[0] == np.inf and e[1] == -np.inf and np.isnan(e[2:]).all()
    assert ember.lgamma(ember.tensor([3, 4], device=device)).dtype == ember.float32  # ints widen


def test_gradients(device):
    x = ember.tensor([-2.5, -0.3, 0.7, 1.0, 2.0, 4.5], dtype=ember.float64, device=device, requires_grad=True)
    check_grad(sp.gammaln, x)
    check_grad(sp.digamma, x)
    y = ember.tensor([-0.9, -0.2, 0.0, 0.4, 0.95], dtype=ember.float64, device=device, requires_grad=True)
    check_grad(sp.erfinv, y)
    # d/dx lgamma = digamma, with no NaN from the branch a point does not take
    sp.gammaln(x).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), scipy_special.digamma(x.detach().cpu().numpy()), rtol=1e-10)
