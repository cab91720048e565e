"""Every op family once on the GPU against the CPU, forward and backward, in float32.

CI runs this file a second time on wgpu's OpenGL backend (``EMBER_GPU=gl``), so the same WGSL
is exercised on two backends; it needs nothing but float32, which every adapter has.
"""

import numpy as np
import pytest

import ember
import ember.nn.functional as F

RNG = np.random.default_rng(1234)


def _pair(shape, low=-2.0, high=2.0, requires_grad=True):
    a = RNG.uniform(low, high, size=shape).astype(np.float32)
    cpu = ember.tensor(a, requires_grad=requires_grad)
    gpu = ember.tensor(a, device="gpu", requires_grad=requires_grad)
    return cpu, gpu


def assert_agree(fn, *shapes, positive=False, rtol=2e-5, atol=2e-5, grad=True):
    """fn on CPU and GPU copies of random inputs: same values, same gradients of a weighted sum."""
    low = 0.2 if positive else -2.0
    pairs = [_pair(s, low=low, requires_grad=grad) for s in shapes]
    out_c = fn(*[p[0] for p in pairs])
    out_g = fn(*[p[1] for p in pairs])
    assert out_g.device.type == "gpu" and out_g.dtype == out_c.dtype
    np.testing.assert_allclose(out_g.detach().cpu().numpy(), out_c.detach().numpy(), rtol=rtol, atol=atol)
    if grad and out_c.is_floating_point() and out_c.requires_grad:
        w = RNG.standard_normal(tuple(out_c.shape)).astype(np.float32)
        (out_c * ember.tensor(w)).sum().backward()
        (out_g * ember.tensor(w, device="gpu")).sum().backward()
        for c, g in pairs:
            if c.grad is not None:
                assert g.grad.device.type == "gpu"
                np.testing.assert_allclose(g.grad.cpu().numpy(), c.grad.numpy(), rtol=1e-4, atol=1e-4)


UNARY = ["neg", "abs", "exp", "log1p", "expm1", "sin", "cos", "tanh", "sigmoid", "relu", "erf",
         "sign", "floor", "ceil", "round"]
POSITIVE = ["log", "sqrt", "rsqrt", "reciprocal"]


@pytest.mark.parametrize("name", UNARY + POSITIVE)
def test_unary(name):
    assert_agree(lambda x: getattr(x, name)(), (5, 7), positive=name in POSITIVE)


@pytest.mark.parametrize("name", ["gelu", "silu", "softplus", "elu", "leaky_relu", "mish", "hardtanh"])
def test_activations(name):
    assert_agree(lambda x: getattr(F, name)(x), (4, 9))


@pytest.mark.parametrize("name", ["log1p", "expm1", "tanh", "erf"])
def test_small_arguments_keep_their_relative_accuracy(name):
    # Compilers fold the textbook log1p trick away and drivers' tanh loses small arguments:
    # near zero these must stay within a few ulps, not a few ulps of 1.
    import math
    x = np.concatenate([RNG.standard_normal(500) * 1e-4, RNG.uniform(-0.9, 3.0, 500),
                        [1e-30, -1e-7, 3e-6, 0.4999, 0.5, 20.0, -0.95]]).astype(np.float32)
    got = getattr(ember.tensor(x, device="gpu"), name)().cpu().numpy()
    want = np.array([getattr(math, name)(v) for v in x.astype(np.float64)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    signs = getattr(ember.tensor([-0.0, 0.0], device="gpu"), name)().cpu().numpy()
    assert np.signbit(signs).tolist() == [True, False]

def test_relu_backward_is_one_masking_kernel(device):
    # PyTorch's threshold_backward: zero where the output is <= 0, the gradient elsewhere (a
    # NaN output passes it); on the GPU one kernel, not a comparison and a select.
    x = ember.tensor([-1.0, 0.0, 2.0, float("nan"), 3.0], device=device, requires_grad=True)
    y = x.relu()
    w = ember.tensor([1.0, 2.0, 3.0, 4.0, 5.0], device=device)
    if device == "gpu":
        ember.gpu.synchronize()
        before = ember.gpu._stream_counts()["dispatches"]
    y.backward(w)
    np.testing.assert_array_equal(y.detach().cpu().numpy(), [0.0, 0.0, 2.0, np.nan, 3.0])
    np.testing.assert_array_equal(x.grad.cpu().numpy(), [0.0, 0.0, 3.0, 4.0, 5.0])
    if device == "gpu":
        assert ember.gpu._stream_counts()["dispatches"] - before == 1


def test_linear_is_one_dispatch_with_the_bias_in_the_epilogue():
    m = ember.nn.Linear(64, 96).to("gpu")
    x = ember.randn(2, 40, 64, device="gpu")
    ember.gpu.synchronize()
    before = ember.gpu._stream_counts()["dispatches"]
    y = m(x)
    assert ember.gpu._stream_counts()["dispatches"] - before == 1
    want = x.cpu().numpy() @ m.weight.detach().cpu().numpy().T + m.bias.detach().cpu().numpy()
    np.testing.assert_allclose(y.detach().cpu().numpy(), want, rtol=1e-4, atol=1e-4)
    # Split-K (few tiles over a long K) adds the bias to one split's partial only.
    assert_agree(lambda a, w, b: F.linear(a, w, b), (3, 2100), (5, 2100), (5,), rtol=1e-4, atol=2e-3)


def test_attention_reads_strided_heads_without_copies():
    # Heads split out of [n, l, h, d] (MultiheadAttention's layout) are strided views; the GPU
    # kernels read them, and a permuted output's gradient, as they are.
    def heads(q, k, v):
        split = lambda t: t.permute(0, 2, 1, 3)
        out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=True)
        return out.permute(0, 2, 1, 3)
    assert_agree(heads, (2, 9, 3, 4), (2, 9, 3, 4), (2, 9, 3, 5), rtol=1e-4, atol=1e-4)
    packed = lambda x: heads(*x.unflatten(-1, (3, 3, 4)).unbind(-3))
    assert_agree(packed, (2, 7, 36), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "minimum", "atan2"])
def test_binary_broadcast(name):
    assert_agree(lambda a, b: getattr(ember, name)(a, b), (3, 1, 5), (4, 5))


def test_pow_remainder_floor_divide():
    assert_agree(lambda a, b: a.pow(b), (3, 4), (3, 4), positive=True)
    assert_agree(lambda a: a.pow(3), (3, 4))
    assert_agree(lambda a, b: ember.remainder(a, b), (3, 4), (3, 4), positive=True, grad=False)
    assert_agree(lambda a, b: ember.floor_divide(a, b), (3, 4), (3, 4), positive=True, grad=False)


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_and_where(name):
    assert_agree(lambda a, b: getattr(a, name)(b), (6,), (2, 6), grad=False)
    assert_agree(lambda a, b: ember.where(getattr(a, name)(b), a, b * 2), (6,), (2, 6))


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "prod", "argmax", "argmin", "logsumexp"])
def test_reductions(name):
    f = (lambda x: getattr(x, name)(dim=1)) if name != "logsumexp" else (lambda x: x.logsumexp(1))
    assert_agree(f, (4, 6, 3), grad=name not in ("argmax", "argmin"))
    if name not in ("logsumexp",):
        assert_agree(lambda x: getattr(x, name)(), (5, 4), grad=name not in ("argmax", "argmin"))
    assert_agree(lambda x: x.t().sum(0), (7, 3))


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "argmax", "argmin"])
def test_column_reductions(name):
    # Outputs adjacent in memory over many rows (a bias gradient's shape): 64 columns per
    # workgroup, the rows split into chunks whose partials a second pass folds.
    grad = name not in ("argmax", "argmin")
    f = lambda x: getattr(x, name)(dim=0)
    assert_agree(f, (700, 130), grad=grad, rtol=1e-4, atol=1e-4)
    if grad:  # arg* take one dim, as PyTorch's
        assert_agree(lambda x: getattr(x, name)(dim=(0, 1)), (3, 90, 70), rtol=1e-4, atol=1e-4)
    assert_agree(lambda x: getattr(x, name)(dim=1), (5, 300, 80), grad=grad, rtol=1e-4, atol=1e-4)


def test_column_reductions_of_integers_bools_and_halves():
    x = RNG.integers(-2**40, 2**40, (500, 70))
    for op in ("sum", "amax", "argmin"):
        want = getattr(ember.tensor(x), op)(dim=0).numpy()
        got = getattr(ember.tensor(x, device="gpu"), op)(dim=0).cpu().numpy()
        np.testing.assert_array_equal(got, want)
    m = RNG.random((600, 65)) < 0.002
    for op in ("any", "all"):
        np.testing.assert_array_equal(
            getattr(ember.tensor(m, device="gpu"), op)(dim=0).cpu().numpy(), getattr(m, op)(axis=0))
    h = RNG.standard_normal((400, 100)).astype(np.float16)
    got = ember.tensor(h, device="gpu").sum(dim=0).cpu().numpy()
    np.testing.assert_allclose(got.astype(np.float32), h.astype(np.float32).sum(0), rtol=1e-2, atol=5e-2)


def test_matmul_batched_strided_and_big():
    assert_agree(lambda a, b: a @ b, (2, 5, 7), (7, 3))
    assert_agree(lambda a, b: a.transpose(-1, -2) @ b.t(), (3, 7, 5), (4, 7))
    assert_agree(lambda a, b: a @ b, (130, 70), (70, 150), rtol=1e-4, atol=1e-4)
    # Few tiles over a long K: split-K partials and their sum (a weight gradient's shape).
    assert_agree(lambda a, b: a.t() @ b, (3000, 100), (3000, 40), rtol=1e-4, atol=2e-3)
    assert_agree(lambda a, b: a @ b, (2, 50, 2100), (2100, 30), rtol=1e-4, atol=2e-3)
    # Sliced and transposed operands, widths on and off multiples of 4.
    assert_agree(lambda a, b: a[4:].t() @ b[4:], (68, 36), (68, 44), rtol=1e-4, atol=1e-4)
    assert_agree(lambda a, b: a[:, 1:].t() @ b[:, 3:], (40, 37), (40, 47), rtol=1e-4, atol=1e-4)
    assert_agree(lambda a, b: a.transpose(-1, -2) @ b, (3, 40, 36), (3, 40, 44), rtol=1e-4, atol=1e-4)


def test_softmax_cumsum_flip_sort_clamp():
    assert_agree(lambda x: x.softmax(-1), (4, 10))
    assert_agree(lambda x: x.log_softmax(0), (6, 3))
    assert_agree(lambda x: x.cumsum(1), (3, 5))
    assert_agree(lambda x: x.flip([0, 1]), (3, 5))
    assert_agree(lambda x: x.argsort(dim=1), (3, 5), grad=False)
    assert_agree(lambda x: x.clamp(-0.5, 0.7), (3, 5))


def test_indexing_gather_scatter_cat():
    idx = [[0, 2, 1], [1, 1, 0]]
    assert_agree(lambda x: x.gather(1, ember.tensor(idx, device=x.device)), (2, 4))
    assert_agree(lambda x: x[ember.tensor([2, 0, 2], device=x.device)], (3, 4))
    assert_agree(lambda x: x[:, 1::2].contiguous() * 2, (3, 6))
    assert_agree(lambda x, y: ember.cat([x, y], 0), (2, 3), (4, 3))
    assert_agree(lambda x, s: x.scatter_add(1, ember.tensor(idx, device=x.device), s), (2, 4), (2, 3))


def test_casts():
    assert_agree(lambda x: (x * 10).to(ember.int32).to(ember.float32), (3, 4), grad=False)
    assert_agree(lambda x: (x * 10).long().float(), (3, 4), grad=False)
    assert_agree(lambda x: (x > 0).float() + x.half().float(), (3, 4))


def test_nn_ops():
    w = RNG.standard_normal((3, 2, 3, 3)).astype(np.float32)
    assert_agree(lambda x: F.conv2d(x, ember.tensor(w, device=x.device), padding=1), (2, 2, 5, 5))
    assert_agree(lambda x: F.max_pool2d(x, 2), (2, 3, 4, 6))
    assert_agree(lambda x: F.avg_pool2d(x, 2), (2, 3, 4, 6))
    assert_agree(lambda x: F.layer_norm(x, (6,)), (4, 6))
    target = [1, 0, 3, 2]
    assert_agree(lambda x: F.cross_entropy(x, ember.tensor(target, device=x.device)), (4, 5))
    assert_agree(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (2, 4, 3), (2, 4, 3), (2, 4, 5))


OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "dampening": 0.2, "maximize": True}),
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.1, "weight_decay": 0.1, "maximize": True}),
]


@pytest.mark.parametrize("name,kw", OPTIMIZERS)
def test_optimizer_steps(name, kw):
    params = RNG.standard_normal((2, 5)).astype(np.float32)
    grads = RNG.standard_normal((3, 2, 5)).astype(np.float32)
    results = []
    for device in ("cpu", "gpu"):
        p = ember.tensor(params, device=device, requires_grad=True)
        opt = getattr(ember.optim, name)([p], **kw)
        for g in grads:
            p.grad = ember.tensor(g, device=device)
            opt.step()
        results.append(p.detach().cpu().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=2e-5, atol=1e-6)


def test_int64_arithmetic_is_emulated_exactly():
    # Values far beyond 32 bits: the two-word kernels must carry, borrow and wrap as the CPU.
    a = RNG.integers(-(2**62), 2**62, 64)
    b = RNG.integers(-(2**62), 2**62, 64)
    a[7] = a[3]  # a tie for arg* to settle by the lower index
    b[:6] = a[:6]
    ga, gb = ember.tensor(a, device="gpu"), ember.tensor(b, device="gpu")
    ca, cb = ember.tensor(a), ember.tensor(b)
    ops = [
        lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y, lambda x, y: x.maximum(y),
        lambda x, y: x.minimum(y), lambda x, y: x < y, lambda x, y: x <= y, lambda x, y: x == y,
        lambda x, y: x != y, lambda x, y: x > y, lambda x, y: x >= y, lambda x, y: x & y,
        lambda x, y: x | y, lambda x, y: x ^ y, lambda x, y: -x, lambda x, y: x.abs(),
        lambda x, y: x.sign(), lambda x, y: x.relu(), lambda x, y: ~x,
        lambda x, y: ember.where(x > y, x, y), lambda x, y: x * 3 - 7,
        lambda x, y: x.sum(), lambda x, y: x.reshape(8, 8).sum(1), lambda x, y: x.amax(),
        lambda x, y: x.reshape(8, 8).amin(0), lambda x, y: x.argmax(), lambda x, y: x.reshape(4, 16).argmin(1),
        lambda x, y: (x > y).sum(), lambda x, y: (x % 5 + 1)[:10].prod(),
    ]
    for op in ops:
        got, want = op(ga, gb), op(ca, cb)
        assert got.device.type == "gpu" and got.dtype == want.dtype
        assert got.cpu().tolist() == want.tolist()
    big = RNG.integers(-(2**40), 2**40, 20000)  # two passes: per-chunk partials, then their sum
    assert ember.tensor(big, device="gpu").sum().item() == int(big.sum())


def test_float64_arithmetic_keeps_double_precision():
    if not ember.gpu.get_device_properties().has_float64:
        pytest.skip("this adapter has no shader-f64: float64 is refused (test_gpu.py checks that)")
    a = RNG.standard_normal(40) * 1e3
    b = RNG.standard_normal(40) + 2.0
    ga, gb = ember.tensor(a, device="gpu"), ember.tensor(b, device="gpu")
    assert ga.dtype == ember.float64
    for got, want in [
        (ga + gb, a + b), (ga - gb, a - b), (ga * gb, a * b), (ga / gb, a / b),
        (ga.abs().sqrt(), np.sqrt(np.abs(a))), (-ga, -a), (ga.floor(), np.floor(a)),
        (ga.relu(), np.maximum(a, 0.0)), (ga + 1e-9, a + 1e-9), (ga < gb, a < b),
        (ga.float().double(), a.astype(np.float32).astype(np.float64)),
    ]:
        np.testing.assert_array_equal(got.cpu().numpy(), want)
