"""bfloat16 on the GPU, and float16 on adapters without shader-f16 (CI runs this file on wgpu's
OpenGL backend too, ``EMBER_GPU=gl``): both are stored packed, two elements to a word, widened to
float32 on the device for kernels and rounded back. Casts agree with the CPU to the bit, moves
keep every bit, arithmetic agrees to the half type's rounding, and nothing takes the host path.
"""

import numpy as np
import pytest

import ember
from conftest import trace_host_paths

HALVES = [ember.bfloat16, ember.float16]
RNG = np.random.default_rng(77)
HAS_F64 = ember.gpu.get_device_properties().has_float64

# Values where rounding matters: halfway cases for both formats, both overflow thresholds,
# float16 subnormals and the smallest of them halved, NaN, infinities and signed zeros.
SPECIAL = np.array(
    [0.0, -0.0, 1.0, -2.5, 1 / 3, np.pi, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-11, 1 + 3 * 2**-11,
     65504.0, 65519.0, 65520.0, 1e5, 3.389e38, 3.4e38, 6e-8, 2**-25, 2**-25 * 1.01, 1e-6,
     -7.1e-5, 1e-30, np.nan, -np.nan, np.inf, -np.inf, 255.5, -1024.25],
    dtype=np.float32)
# Halfway but for the last bits of a float32 (which must round up): 1 + 2^-8 + 2^-23 for
# bfloat16, 1 + 2^-11 + 2^-23 for float16.
SPECIAL = np.concatenate([SPECIAL, np.array([0x3F808001, 0x3F801001], dtype=np.uint32).view(np.float32)])


def _bits(t):
    """The stored 16-bit patterns of a half tensor, read on the CPU."""
    c = t.cpu().contiguous()
    if c.dtype == ember.bfloat16:
        # Widening to float32 is exact: the top half of its bits is the bfloat16 pattern.
        return (c.float().numpy().view(np.uint32) >> 16).astype(np.uint16)
    return c.numpy().view(np.uint16)


def _same_bits(a, b):
    np.testing.assert_array_equal(_bits(a), _bits(b))


@pytest.mark.parametrize("half", HALVES)
def test_rounding_from_float32_matches_the_cpu_bit_for_bit(half):
    values = np.concatenate([SPECIAL, RNG.standard_normal(300).astype(np.float32) * 1e3,
                             RNG.standard_normal(100).astype(np.float32) * 1e-6])
    cpu = ember.tensor(values).to(half)
    gpu = ember.tensor(values, device="gpu").to(half)
    up = {ember.bfloat16: (len(SPECIAL) - 2, 0x3F81), ember.float16: (len(SPECIAL) - 1, 0x3C01)}[half]
    assert _bits(cpu)[up[0]] == up[1]  # nearest, not the truncated float64's tie
    assert gpu.dtype == half and gpu.device.type == "gpu"
    _same_bits(gpu, cpu)
    # And back, exactly.
    np.testing.assert_array_equal(gpu.float().cpu().numpy().view(np.uint32),
                                  cpu.float().numpy().view(np.uint32))


@pytest.mark.parametrize("half", HALVES)
@pytest.mark.parametrize("other", [ember.float32, ember.float64, ember.int64, ember.int32,
                                   ember.bool, ember.float16, ember.bfloat16])
def test_casts_to_and_from_every_dtype(half, other):
    if other == ember.float64 and not HAS_F64:
        pytest.skip("the adapter has no shader-f64")
    values = np.array([0.0, 1.0, -3.0, 2.5, 100.0, -65504.0, 7.0, 1e4], dtype=np.float32)
    src = ember.tensor(values).to(other)
    _same_bits(src.to("gpu").to(half), src.to(half))
    h = ember.tensor(values).to(half)
    got, want = h.to("gpu").to(other).cpu(), h.to(other)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


@pytest.mark.parametrize("half", HALVES)
def test_views_with_odd_offsets_and_strides(half):
    a = RNG.standard_normal((5, 7)).astype(np.float32)
    c, g = ember.tensor(a).to(half), ember.tensor(a, device="gpu").to(half)
    for view in [lambda t: t[1:, 1::2], lambda t: t.t(), lambda t: t[2, 1:6], lambda t: t[:, 3]]:
        _same_bits(view(g).contiguous(), view(c).contiguous())
    # Writes into views leave the neighbouring elements of each word alone.
    for t in (c, g):
        t[1::2, 1::3] = 9.25
        t[:, 6] = ember.tensor(np.arange(5, dtype=np.float32), device=t.device).to(half)
        t[4].fill_(-1.5)
    _same_bits(g, c)


@pytest.mark.parametrize("half", HALVES)
def test_moves_keep_every_bit(half):
    values = np.concatenate([SPECIAL[:21], RNG.standard_normal(11).astype(np.float32)])
    a = values.reshape(4, 8)
    c, g = ember.tensor(a).to(half), ember.tensor(a, device="gpu").to(half)
    idx = np.array([[3, 0, 1, 1, 2, 0, 3, 2]] * 2)
    ic, ig = ember.tensor(idx), ember.tensor(idx, device="gpu")
    mask = a > 0.5
    cases = [
        lambda t, i, m: t.flip(1),
        lambda t, i, m: t.gather(0, i),
        lambda t, i, m: t.index_select(1, i[0, :3]),
        lambda t, i, m: ember.cat([t, t[:, :3]], dim=1),
        lambda t, i, m: ember.stack([t[0], t[3]]),
        lambda t, i, m: ember.where(m, t, t.flip(0)),
        lambda t, i, m: t[m],
        lambda t, i, m: t.t().contiguous(),
        lambda t, i, m: t.clone(),
        lambda t, i, m: ember.zeros_like(t).scatter(0, i, t[:2]),
    ]
    mc, mg = ember.tensor(mask), ember.tensor(mask, device="gpu")
    for f in cases:
        _same_bits(f(g, ig, mg), f(c, ic, mc))


@pytest.mark.parametrize("half", HALVES)
def test_sorting_matches_the_cpu(half):
    a = RNG.integers(-20, 20, (3, 40)).astype(np.float32) / 4  # ties on purpose
    a[0, 5] = np.nan
    c, g = ember.tensor(a).to(half), ember.tensor(a, device="gpu").to(half)
    for descending in (False, True):
        np.testing.assert_array_equal(ember.argsort(g, dim=1, descending=descending).cpu().numpy(),
                                      ember.argsort(c, dim=1, descending=descending).numpy())
        vg, ig = ember.sort(g, dim=1, descending=descending)
        vc, ic = ember.sort(c, dim=1, descending=descending)
        _same_bits(vg, vc)
        np.testing.assert_array_equal(ig.cpu().numpy(), ic.numpy())


def _close(got, want, half):
    # One unit in the last place of the half type: the float32 results on the two devices may
    # differ in their last bits and round apart.
    ulp = 2.0**-7 if half == ember.bfloat16 else 2.0**-10
    g = got.float().cpu().numpy()
    w = want.float().numpy()
    assert got.dtype == want.dtype == half
    np.testing.assert_allclose(g, w, rtol=2 * ulp, atol=1e-6)


@pytest.mark.parametrize("half", HALVES)
def test_arithmetic_reductions_and_matmul(half):
    a = RNG.standard_normal((6, 9)).astype(np.float32)
    b = RNG.standard_normal((9, 5)).astype(np.float32)
    c = [ember.tensor(a).to(half), ember.tensor(b).to(half)]
    g = [ember.tensor(a, device="gpu").to(half), ember.tensor(b, device="gpu").to(half)]
    cases = [
        lambda x, y: x * 3 + x.exp(),
        lambda x, y: x.tanh() - x.abs().sqrt(),
        lambda x, y: x @ y,
        lambda x, y: x.sum(1),
        lambda x, y: x.mean(),
        lambda x, y: x.amax(0),
        lambda x, y: x.softmax(1),
        lambda x, y: x.clamp(-0.5, 0.5),
        lambda x, y: x.cumsum(1),
        lambda x, y: ember.nn.functional.layer_norm(x, (9,)),
    ]
    for f in cases:
        _close(f(*g), f(*c), half)
    np.testing.assert_array_equal(g[0].argmax(1).cpu().numpy(), c[0].argmax(1).numpy())
    np.testing.assert_array_equal((g[0] > 0.25).cpu().numpy(), (c[0] > 0.25).numpy())


@pytest.mark.parametrize("half", HALVES)
def test_a_training_step_matches_the_cpu(half):
    ember.manual_seed(3)
    x = RNG.standard_normal((8, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 8)
    results = []
    for device in ("cpu", "gpu"):
        ember.manual_seed(3)
        model = ember.nn.Sequential(ember.nn.Linear(6, 16), ember.nn.ReLU(), ember.nn.Linear(16, 3))
        model = model.to(device).to(half)
        opt = ember.optim.SGD(model.parameters(), lr=0.1)
        loss = ember.nn.functional.cross_entropy(model(ember.tensor(x, device=device).to(half)),
                                                 ember.tensor(y, device=device))
        loss.backward()
        opt.step()
        results.append([p.detach() for p in model.parameters()] + [loss.detach()])
    for g, c in zip(*results):
        _close(g, c.cpu(), half)


@pytest.mark.parametrize("half", HALVES)
def test_convolution_and_pooling_compute_in_float32(half):
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    results = []
    for device in ("cpu", "gpu"):
        X = ember.tensor(x, device=device).to(half).requires_grad_()
        W = ember.tensor(w, device=device).to(half).requires_grad_()
        F = ember.nn.functional
        y = F.avg_pool2d(F.max_pool2d(F.conv2d(X, W, padding=1), 2), 2)
        y.sum().backward()
        assert X.grad.dtype == W.grad.dtype == half
        results.append([y.detach(), X.grad, W.grad])
    for g, c in zip(*results):
        _close(g, c.cpu(), half)


@pytest.mark.parametrize("half", HALVES)
def test_scatter_add_rounds_each_add_as_the_cpu(half):
    # Native float16 adds in f16; packed halves add their float32 stand-ins and round each sum.
    src = (RNG.standard_normal(3000) * 100).astype(np.float32)
    idx = RNG.integers(0, 3, 3000)
    got, want = (_bits(ember.zeros(3, dtype=half, device=d).scatter_add(
        0, ember.tensor(idx, device=d), ember.tensor(src, device=d).to(half))) for d in ("gpu", "cpu"))
    np.testing.assert_array_equal(got, want)


_TRACED = {
    "cast float32 to bfloat16": "x.bfloat16()",
    "cast bfloat16 to int64": "x.bfloat16().long()",
    "cast float16 to int32": "x.half().int()",
    "flip bfloat16": "x.bfloat16().flip(0)",
    "gather bfloat16": "x.bfloat16().gather(0, ember.tensor([[1, 0, 1]], device='gpu'))",
    "argsort bfloat16": "ember.argsort(x.bfloat16(), dim=1)",
    "where bfloat16": "ember.where(x > 0, x.bfloat16(), x.bfloat16().flip(1))",
    "write into a view": "x.bfloat16().t()[1].fill_(2.0)",
    "exp bfloat16": "x.bfloat16().exp()",
    "sum bfloat16": "x.bfloat16().sum(0)",
    "matmul bfloat16": "x.bfloat16() @ x.bfloat16().t()",
    "softmax float16": "x.half().softmax(1)",
    "conv2d float16": "ember.nn.functional.conv2d(x.half()[None, None], x.half()[None, None, :, :2])",
    "scatter_add float16": "x.half().scatter_add(1, ember.tensor([[0, 0, 1]] * 2, device='gpu'), x.half())",
    "linear backward bfloat16": "ember.nn.functional.linear(x.bfloat16().requires_grad_(), w.bfloat16()).sum().backward() or x",
}


def test_nothing_takes_the_host_path():
    setup = ("import sys, ember\n"
             "x = ember.tensor([[1.0, -2.0, 3.5], [0.25, 8.0, -1.0]], device='gpu')\n"
             "w = ember.tensor([[0.5, 1.0, -1.0]], device='gpu')")
    found = trace_host_paths(_TRACED, setup)
    assert {name: lines for name, lines in found.items() if lines} == {}
