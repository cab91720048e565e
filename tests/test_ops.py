"""Forward results of element-wise ops, reductions, linear algebra, sorting and in-place ops,
against NumPy references, on contiguous, transposed, sliced and broadcast inputs."""

import math

import numpy as np
import pytest

import ember
from conftest import LAYOUTS, assert_close, make, to_np

_erf = np.vectorize(math.erf)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(x))


# name -> (ember function, NumPy reference, input domain)
UNARY = {
    "abs": (lambda t: t.abs(), np.abs, "any"),
    "neg": (lambda t: -t, np.negative, "any"),
    "exp": (lambda t: t.exp(), np.exp, "any"),
    "log": (lambda t: t.log(), np.log, "pos"),
    "log1p": (lambda t: t.log1p(), np.log1p, "pos"),
    "expm1": (lambda t: t.expm1(), np.expm1, "any"),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, "pos"),
    "rsqrt": (lambda t: t.rsqrt(), lambda x: 1 / np.sqrt(x), "pos"),
    "sin": (lambda t: t.sin(), np.sin, "any"),
    "cos": (lambda t: t.cos(), np.cos, "any"),
    "tanh": (lambda t: t.tanh(), np.tanh, "any"),
    "sigmoid": (lambda t: t.sigmoid(), _sigmoid, "any"),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0), "any"),
    "erf": (lambda t: t.erf(), _erf, "any"),
    "sign": (lambda t: t.sign(), np.sign, "any"),
    "floor": (lambda t: t.floor(), np.floor, "any"),
    "ceil": (lambda t: t.ceil(), np.ceil, "any"),
    "round": (lambda t: t.round(), np.round, "any"),
    "reciprocal": (lambda t: t.reciprocal(), np.reciprocal, "pos"),
    "square": (lambda t: ember.square(t), np.square, "any"),
    "gelu": (lambda t: ember.gelu(t), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), "any"),
    "gelu_tanh": (
        lambda t: ember.gelu(t, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        "any",
    ),
    "silu": (lambda t: ember.silu(t), lambda x: x * _sigmoid(x), "any"),
    "softplus": (lambda t: ember.softplus(t), _softplus, "any"),
}


def _unary_input(rng, domain, shape=(3, 4)):
    x = rng.uniform(-3, 3, size=shape)
    if domain == "pos":
        x = np.abs(x) + 0.1
    return x


UNARY64_PARAMS = sorted(UNARY)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", UNARY64_PARAMS)
def test_unary_float64(device, rng, name, layout):
    fn, ref, domain = UNARY[name]
    x = _unary_input(rng, domain)
    t = make(x, device, layout=layout)
    out = fn(t)
    assert out.dtype == ember.float64
    assert_close(out, ref(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float32(device, rng, name):
    fn, ref, domain = UNARY[name]
    x = _unary_input(rng, domain).astype(np.float32)
    out = fn(make(x, device))
    assert out.dtype == ember.float32
    assert_close(out, ref(x.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_unary_function_forms_match_methods(device, rng):
    x = rng.uniform(0.5, 2, size=(2, 3))
    t = make(x, device)
    for name in ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "neg"]:
        assert_close(getattr(ember, name)(t), to_np(getattr(t, name)()), rtol=0, atol=0)


def test_round_half_to_even(device):
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
    assert_close(make(x, device).round(), np.array([-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 4.0]))


def test_sign_and_abs_of_integers(device):
    x = np.array([-3, 0, 5], dtype=np.int64)
    t = make(x, device)
    assert t.abs().dtype == ember.int64
    assert_close(t.abs(), np.abs(x))
    assert_close(t.sign(), np.sign(x))
    assert_close(-t, -x)


def test_exp_log_special_values(device):
    t = ember.tensor([0.0, -1.0, float("inf")], device=device)
    out = to_np(t.log())
    assert out[0] == -np.inf and np.isnan(out[1]) and out[2] == np.inf
    assert to_np(ember.tensor([-1000.0, 1000.0], device=device).sigmoid()).tolist() == [0.0, 1.0]
    assert to_np(ember.tensor([1000.0], device=device).exp())[0] == np.inf


def test_softplus_large_inputs_and_beta(device):
    x = np.array([-30.0, -1.0, 0.0, 1.0, 30.0, 100.0])
    assert_close(ember.softplus(make(x, device)), np.logaddexp(0, x), rtol=1e-10)
    out = ember.softplus(make(x, device), beta=2.0, threshold=5.0)
    expect = np.where(2 * x > 5.0, x, np.logaddexp(0, 2 * x) / 2)
    assert_close(out, expect, rtol=1e-10)


# ---------------------------------------------------------------------------------- binary ops

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a ** b, np.power),
    "maximum": (lambda a, b: ember.maximum(a, b), np.maximum),
    "minimum": (lambda a, b: ember.minimum(a, b), np.minimum),
    "atan2": (lambda a, b: ember.atan2(a, b), np.arctan2),
    "remainder": (lambda a, b: a % b, np.mod),
    "floor_divide": (lambda a, b: a // b, np.floor_divide),
}

SHAPE_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((2, 1, 4), (3, 1)),
    ((4,), ()),
    ((), (2, 3)),
    ((1,), (2, 2)),
]


def _binary_inputs(rng, name, sa, sb):
    a = rng.uniform(-3, 3, size=sa)
    b = rng.uniform(-3, 3, size=sb)
    if name == "pow":
        a = np.abs(a) + 0.1
    if name in ("div", "remainder", "floor_divide"):
        b = np.where(np.abs(b) < 0.2, 0.7, b)
    return a, b


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcast(device, rng, name, shapes):
    fn, ref = BINARY[name]
    a, b = _binary_inputs(rng, name, *shapes)
    out = fn(make(a, device), make(b, device))
    assert out.dtype == ember.float64
    assert_close(out, ref(a, b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_non_contiguous(device, rng, name, layout):
    fn, ref = BINARY[name]
    a, b = _binary_inputs(rng, name, (3, 4), (3, 4))
    out = fn(make(a, device, layout=layout), make(b, device, layout="contiguous"))
    assert_close(out, ref(a, b), rtol=1e-10, atol=1e-12)
    out = fn(make(a, device), make(b, device, layout=layout))
    assert_close(out, ref(a, b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_expanded_operand(device, rng, name):
    fn, ref = BINARY[name]
    a, b = _binary_inputs(rng, name, (3, 1), (3, 4))
    ta = make(a, device).expand(3, 4)
    assert ta.stride() == (1, 0)
    assert_close(fn(ta, make(b, device)), ref(np.broadcast_to(a, (3, 4)), b), rtol=1e-10)


@pytest.mark.parametrize(
    "op,ref",
    [
        (lambda t: t + 2.5, lambda x: x + 2.5),
        (lambda t: 2.5 + t, lambda x: 2.5 + x),
        (lambda t: t - 2.5, lambda x: x - 2.5),
        (lambda t: 2.5 - t, lambda x: 2.5 - x),
        (lambda t: t * 3, lambda x: x * 3),
        (lambda t: 3 * t, lambda x: 3 * x),
        (lambda t: t / 4, lambda x: x / 4),
        (lambda t: 4 / t, lambda x: 4 / x),
        (lambda t: t**2, lambda x: x**2),
        (lambda t: t**0.5, lambda x: x**0.5),
        (lambda t: 2**t, lambda x: 2**x),
        (lambda t: t % 0.75, lambda x: np.mod(x, 0.75)),
        (lambda t: 5 % t, lambda x: np.mod(5, x)),
        (lambda t: t // 0.75, lambda x: np.floor_divide(x, 0.75)),
        (lambda t: 5 // t, lambda x: np.floor_divide(5, x)),
        (lambda t: t.add(2, alpha=3), lambda x: x + 6),
        (lambda t: t.pow(3), lambda x: x**3),
    ],
)
def test_python_scalar_operands(device, rng, op, ref):
    x = rng.uniform(0.5, 3, size=(2, 3))
    out = op(make(x, device))
    assert out.dtype == ember.float64
    assert_close(out, ref(x), rtol=1e-10)


def test_sub_alpha(device):
    t = ember.tensor([1.0, 2.0], device=device)
    assert_close(t.sub(ember.ones(2, device=device), alpha=0.5), np.array([0.5, 1.5], dtype=np.float32))
    assert_close(t.sub(2, alpha=0.5), np.array([0.0, 1.0], dtype=np.float32))


def test_integer_arithmetic(device):
    a = np.array([[7, -7, 3], [0, 10, -4]], dtype=np.int64)
    b = np.array([2, 3, -5], dtype=np.int64)
    ta, tb = make(a, device), make(b, device)
    for got, exp in [
        (ta + tb, a + b),
        (ta - tb, a - b),
        (ta * tb, a * b),
        (ta // tb, a // b),
        (ta % tb, a % b),
        (ta * 2, a * 2),
        (ta**2, a**2),
    ]:
        assert got.dtype == ember.int64
        assert_close(got, exp)
    # True division of integers is floating point.
    q = ta / tb
    assert q.dtype == ember.float32
    assert_close(q, (a / b).astype(np.float32))


def test_bitwise_ops_on_integers(device):
    a = np.array([0b1100, 0b1010, -1], dtype=np.int64)
    b = np.array([0b1010, 0b0110, 5], dtype=np.int64)
    ta, tb = make(a, device), make(b, device)
    assert_close(ta & tb, a & b)
    assert_close(ta | tb, a | b)
    assert_close(ta ^ tb, a ^ b)
    assert_close(~ta, ~a)


def test_bitwise_and_logical_ops_on_bools(device):
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    tp, tq = make(p, device), make(q, device)
    assert_close(tp & tq, p & q)
    assert_close(tp | tq, p | q)
    assert_close(tp ^ tq, p ^ q)
    assert_close(~tp, ~p)
    assert_close(tp.logical_and(tq), p & q)
    assert_close(tp.logical_or(tq), p | q)
    assert_close(tp.logical_xor(tq), p ^ q)
    assert_close(tp.logical_not(), ~p)


def test_logical_ops_on_numbers(device):
    x = np.array([0.0, 1.5, -2.0, 0.0])
    y = np.array([3, 0, 1, 0])
    tx, ty = make(x, device), make(y, device)
    assert_close(ember.logical_and(tx, ty), np.logical_and(x, y))
    assert_close(ember.logical_or(tx, ty), np.logical_or(x, y))
    assert_close(ember.logical_not(tx), np.logical_not(x))


CMP = {
    "eq": (lambda a, b: a == b, np.equal),
    "ne": (lambda a, b: a != b, np.not_equal),
    "lt": (lambda a, b: a < b, np.less),
    "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater),
    "ge": (lambda a, b: a >= b, np.greater_equal),
}


@pytest.mark.parametrize("name", sorted(CMP))
def test_comparisons(device, name):
    fn, ref = CMP[name]
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    out = fn(make(a, device, layout="transposed").t().t(), make(b, device))
    assert out.dtype == ember.bool
    assert_close(out, ref(a, b))
    assert_close(fn(make(a, device), 2), ref(a, 2))
    assert_close(fn(2, make(a, device)), ref(2, a))
    assert_close(getattr(ember, name)(make(a, device), make(b, device)), ref(a, b))


def test_comparison_of_int_with_float_scalar(device):
    t = make(np.array([1, 2, 3]), device)
    assert_close(t > 1.5, np.array([False, True, True]))
    assert_close(t == 2.0, np.array([False, True, False]))


# ---------------------------------------------------------------------------- type promotion


@pytest.mark.parametrize(
    "a_dtype,b_dtype,expected",
    [
        ("int64", "float32", "float32"),
        ("int32", "int64", "int64"),
        ("float32", "float64", "float64"),
        ("float16", "float32", "float32"),
        ("bool", "int32", "int32"),
        ("bool", "float16", "float16"),
        ("int32", "float64", "float64"),
        ("bfloat16", "float32", "float32"),
    ],
)
def test_promotion_between_tensors(device, a_dtype, b_dtype, expected):
    a = ember.ones(2, device=device, dtype=getattr(ember, a_dtype))
    b = ember.ones(2, device=device, dtype=getattr(ember, b_dtype))
    assert (a + b).dtype == getattr(ember, expected)
    assert (b * a).dtype == getattr(ember, expected)


def test_promotion_with_python_scalars(device):
    i = ember.tensor([1, 2], device=device)
    f = ember.tensor([1.0, 2.0], device=device)
    h = ember.tensor([1.0, 2.0], device=device, dtype=ember.float16)
    i32 = ember.tensor([1, 2], device=device, dtype=ember.int32)
    assert (i + 1).dtype == ember.int64
    assert (i32 + 5).dtype == ember.int32
    assert (i + 1.5).dtype == ember.float32
    assert_close(i + 1.5, np.array([2.5, 3.5], dtype=np.float32))
    assert (f * 2).dtype == ember.float32
    assert (h * 2.5).dtype == ember.float16
    assert (f + True).dtype == ember.float32
    assert (ember.tensor([True, False], device=device) + 1).dtype == ember.int64


def test_promotion_with_zero_dim_tensor_same_category(device):
    f32 = ember.ones(3, device=device)
    d0 = ember.tensor(2.0, dtype=ember.float64, device=device)
    assert (f32 * d0).dtype == ember.float32
    assert (d0 + f32).dtype == ember.float32
    i32 = ember.ones(3, device=device, dtype=ember.int32)
    l0 = ember.tensor(2, device=device)
    assert (i32 + l0).dtype == ember.int32


def test_promotion_with_zero_dim_tensor_higher_category(device):
    i64 = ember.ones(3, device=device, dtype=ember.int64)
    d0 = ember.tensor(2.0, dtype=ember.float64, device=device)
    assert (i64 + d0).dtype == ember.float64
    assert_close(i64 * d0, np.full(3, 2.0))


def test_float16_and_bfloat16_arithmetic(device, rng):
    x = rng.uniform(-4, 4, size=8).astype(np.float16)
    y = rng.uniform(-4, 4, size=8).astype(np.float16)
    tx, ty = make(x, device), make(y, device)
    assert (tx + ty).dtype == ember.float16
    np.testing.assert_array_equal(to_np(tx + ty), x + y)
    np.testing.assert_array_equal(to_np(tx * ty), x * y)
    b = tx.bfloat16() * ty.bfloat16()
    assert b.dtype == ember.bfloat16
    np.testing.assert_allclose(to_np(b), x.astype(np.float32) * y.astype(np.float32), rtol=1e-2)


# -------------------------------------------------------------------------------- reductions

REDUCTIONS = {
    "sum": (lambda t, **k: t.sum(**k), np.sum),
    "mean": (lambda t, **k: t.mean(**k), np.mean),
    "amax": (lambda t, **k: t.amax(**k), np.amax),
    "amin": (lambda t, **k: t.amin(**k), np.amin),
    "var": (lambda t, **k: t.var(**k), lambda x, **k: np.var(x, ddof=1, **k)),
    "std": (lambda t, **k: t.std(**k), lambda x, **k: np.std(x, ddof=1, **k)),
    "logsumexp": (
        lambda t, **k: t.logsumexp(**k),
        lambda x, axis, keepdims=False: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
    ),
    "norm": (
        lambda t, **k: t.norm(**k),
        lambda x, axis=None, keepdims=False: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
    ),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_full_reduction(device, rng, name, layout):
    fn, ref = REDUCTIONS[name]
    x = rng.normal(size=(3, 4))
    t = make(x, device, layout=layout)
    if name == "logsumexp":
        out = fn(t, dim=(0, 1))
        expect = ref(x, axis=(0, 1))
    else:
        out = fn(t)
        expect = ref(x)
    assert out.shape == ()
    assert_close(out, expect, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1, -3, (0, 2), (-1, 0), (0, 1, 2)], ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_over_dims(device, rng, name, dim, keepdim):
    fn, ref = REDUCTIONS[name]
    x = rng.normal(size=(2, 3, 4))
    out = fn(make(x, device), dim=dim, keepdim=keepdim)
    assert_close(out, ref(x, axis=dim, keepdims=keepdim), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_over_dim_non_contiguous(device, rng, name, layout):
    fn, ref = REDUCTIONS[name]
    x = rng.normal(size=(4, 5))
    for dim in (0, 1):
        out = fn(make(x, device, layout=layout), dim=dim)
        assert_close(out, ref(x, axis=dim), rtol=1e-10, atol=1e-12)


def test_prod(device, rng):
    x = rng.uniform(0.5, 1.5, size=(3, 4))
    t = make(x, device, layout="transposed")
    assert_close(t.prod(), np.prod(x), rtol=1e-10)
    assert_close(t.prod(dim=1), np.prod(x, axis=1), rtol=1e-10)
    assert_close(t.prod(dim=0, keepdim=True), np.prod(x, axis=0, keepdims=True), rtol=1e-10)
    assert_close(ember.prod(t, 0), np.prod(x, axis=0), rtol=1e-10)


def test_var_std_correction_and_unbiased(device, rng):
    x = rng.normal(size=(3, 5))
    t = make(x, device)
    assert_close(t.var(unbiased=False), np.var(x), rtol=1e-10)
    assert_close(t.var(dim=1, unbiased=False), np.var(x, axis=1), rtol=1e-10)
    assert_close(t.var(dim=1, correction=0), np.var(x, axis=1), rtol=1e-10)
    assert_close(t.std(dim=0, correction=2), np.std(x, axis=0, ddof=2), rtol=1e-10)
    assert_close(t.std(0, True), np.std(x, axis=0, ddof=1), rtol=1e-10)


def test_norm_orders(device, rng):
    x = rng.normal(size=(3, 4))
    t = make(x, device, layout="transposed")
    assert_close(t.norm(p=1), np.abs(x).sum(), rtol=1e-10)
    assert_close(t.norm(p=3, dim=1), (np.abs(x) ** 3).sum(1) ** (1 / 3), rtol=1e-10)
    assert_close(t.norm(p=float("inf"), dim=0), np.abs(x).max(0), rtol=1e-10)
    assert_close(t.norm(2, 1, True), np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-10)


def test_sum_and_mean_dtype(device):
    i = ember.tensor([[1, 2], [3, 4]], device=device)
    assert i.sum().dtype == ember.int64
    assert i.sum().item() == 10
    assert ember.tensor([True, True, False], device=device).sum().item() == 2
    i32 = ember.tensor([1, 2], dtype=ember.int32, device=device)
    assert i32.sum().dtype == ember.int64
    f = ember.tensor([1.0, 2.0], device=device)
    assert f.sum(dtype=ember.float64).dtype == ember.float64
    assert i.mean(dtype=ember.float32).item() == 2.5


def test_sum_of_empty(device):
    assert ember.zeros(0, device=device).sum().item() == 0.0
    assert ember.ones(0, 3, device=device).sum(dim=0).tolist() == [0.0, 0.0, 0.0]
    assert ember.ones(0, device=device).prod().item() == 1.0


def test_float32_sum_of_ones_is_exact(device):
    assert ember.ones(300001, device=device).sum().item() == 300001.0
    assert ember.ones(3, 100001, device=device).sum(dim=1).tolist() == [100001.0] * 3


def test_float32_sum_accuracy(device):
    t = ember.full((100000,), 0.1, device=device)
    exact = 100000 * float(np.float32(0.1))
    assert abs(t.sum().item() - exact) < 0.01
    assert abs(t.reshape(10, 10000).sum(dim=1).sum().item() - exact) < 0.01


def test_max_min_with_dim_return_values_and_indices(device):
    x = np.array([[1.0, 5.0, 5.0, 2.0], [7.0, 0.0, 7.0, -1.0], [3.0, 3.0, 3.0, 3.0]])
    t = make(x, device, layout="transposed")
    r = t.max(dim=1)
    assert_close(r.values, x.max(1))
    assert r.indices.dtype == ember.int64
    # Ties resolve to the first occurrence.
    assert_close(r.indices, np.array([1, 0, 0]))
    v, i = t.min(dim=0, keepdim=True)
    assert_close(v, x.min(0, keepdims=True))
    assert_close(i, x.argmin(0)[None])
    assert_close(t.max(), x.max())
    assert_close(t.min(), x.min())
    v, i = ember.max(t, 1)
    assert_close(v, x.max(1))


def test_argmax_argmin(device, rng):
    x = rng.normal(size=(3, 4, 5))
    t = make(x, device)
    assert_close(t.argmax(), np.argmax(x))
    assert_close(t.argmin(), np.argmin(x))
    for d in (0, 1, 2, -1):
        assert_close(t.argmax(dim=d), np.argmax(x, axis=d))
        assert_close(t.argmin(dim=d), np.argmin(x, axis=d))
    assert_close(t.argmax(dim=1, keepdim=True), np.argmax(x, axis=1)[:, None])
    ties = make(np.array([[2.0, 2.0, 1.0], [0.0, 3.0, 3.0]]), device)
    assert_close(ties.argmax(dim=1), np.array([0, 1]))


def test_maximum_with_nan_propagates(device):
    a = ember.tensor([1.0, float("nan"), 3.0], device=device)
    b = ember.tensor([float("nan"), 2.0, 1.0], device=device)
    out = to_np(ember.maximum(a, b))
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == 3.0
    assert np.isnan(to_np(a.amax()))
    assert np.isnan(a.max().item())


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_log_softmax(device, rng, dim, layout):
    x = rng.normal(size=(3, 4)) * 5
    t = make(x, device, layout=layout)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    sm = e / e.sum(axis=dim, keepdims=True)
    assert_close(t.softmax(dim), sm, rtol=1e-10)
    assert_close(t.log_softmax(dim=dim), np.log(sm), rtol=1e-10)
    assert_close(ember.softmax(t, dim), sm, rtol=1e-10)


def test_softmax_is_stable_for_large_inputs(device):
    t = ember.tensor([1000.0, 1001.0, 1002.0], device=device)
    expect = np.exp([-2.0, -1.0, 0.0]) / np.exp([-2.0, -1.0, 0.0]).sum()
    assert_close(t.softmax(0), expect.astype(np.float32), rtol=1e-5)
    assert_close(t.logsumexp(0), np.float32(1002 + np.log(np.exp([-2.0, -1.0, 0.0]).sum())), rtol=1e-6)
    assert np.isfinite(to_np(t.log_softmax(0))).all()


def test_log_softmax_precision_for_large_inputs(device):
    t = ember.tensor([1000.0, 1001.0, 1002.0], device=device)
    z = np.array([-2.0, -1.0, 0.0])
    expect = z - np.log(np.exp(z).sum())
    assert_close(t.log_softmax(0), expect.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_softmax_dtype_argument(device):
    t = ember.tensor([1.0, 2.0], device=device)
    assert t.softmax(0, dtype=ember.float64).dtype == ember.float64


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cumsum(device, rng, layout):
    x = rng.normal(size=(3, 4))
    t = make(x, device, layout=layout)
    assert_close(t.cumsum(0), np.cumsum(x, 0), rtol=1e-10)
    assert_close(t.cumsum(dim=-1), np.cumsum(x, -1), rtol=1e-10)
    i = ember.tensor([1, 2, 3], device=device)
    assert i.cumsum(0).dtype == ember.int64
    assert_close(i.cumsum(0), np.array([1, 3, 6]))


def test_all_any(device):
    x = np.array([[True, False, True], [True, True, True]])
    t = make(x, device)
    assert t.all().item() is False
    assert t.any().item() is True
    assert_close(t.all(dim=1), x.all(1))
    assert_close(t.any(dim=0), x.any(0))
    assert_close(t.all(1, keepdim=True), x.all(1, keepdims=True))
    f = make(np.array([0.0, 2.0, -1.0]), device)
    assert f.all().dtype == ember.bool
    assert f.all().item() is False and f.any().item() is True
    assert ember.zeros(0, device=device).all().item() is True
    assert ember.zeros(0, device=device).any().item() is False


# ------------------------------------------------------------------------------- linear algebra

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 2, 3), (3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((2, 1, 2, 3), (5, 3, 4)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_shapes(device, rng, shapes):
    sa, sb = shapes
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    out = make(a, device) @ make(b, device)
    assert_close(out, np.matmul(a, b), rtol=1e-10, atol=1e-12)
    assert_close(ember.matmul(make(a, device), make(b, device)), np.matmul(a, b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("la", LAYOUTS)
@pytest.mark.parametrize("lb", LAYOUTS)
def test_mm_layouts(device, rng, la, lb):
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(5, 4))
    out = make(a, device, layout=la).mm(make(b, device, layout=lb))
    assert_close(out, a @ b, rtol=1e-10, atol=1e-12)


def test_matmul_float32_larger(device, rng):
    a = rng.normal(size=(17, 33)).astype(np.float32)
    b = rng.normal(size=(33, 9)).astype(np.float32)
    assert_close(make(a, device) @ make(b, device), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def test_matmul_integer(device):
    a = np.arange(6).reshape(2, 3)
    b = np.arange(12).reshape(3, 4)
    out = make(a, device) @ make(b, device)
    assert out.dtype == ember.int64
    assert_close(out, a @ b)


def test_bmm_and_dot_and_outer(device, rng):
    a, b = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 3, 5))
    ta = make(a, device).transpose(1, 2).contiguous().transpose(1, 2)
    assert_close(ta.bmm(make(b, device)), a @ b, rtol=1e-10)
    u, v = rng.normal(size=4), rng.normal(size=4)
    assert_close(make(u, device).dot(make(v, device)), np.dot(u, v), rtol=1e-10)
    assert_close(ember.dot(make(u, device), make(v, device)), np.dot(u, v), rtol=1e-10)
    assert_close(ember.outer(make(u, device), make(v[:3], device)), np.outer(u, v[:3]), rtol=1e-10)


def test_matmul_with_expanded_operand(device, rng):
    a = rng.normal(size=(1, 3))
    b = rng.normal(size=(3, 2))
    ta = make(a, device).expand(4, 3)
    assert_close(ta @ make(b, device), np.broadcast_to(a, (4, 3)) @ b, rtol=1e-10)


def test_addmm(device, rng):
    c, a, b = rng.normal(size=(3,)), rng.normal(size=(2, 4)), rng.normal(size=(4, 3))
    tc, ta, tb = make(c, device), make(a, device), make(b, device)
    assert_close(ember.addmm(tc, ta, tb), c + a @ b, rtol=1e-10)
    assert_close(ember.addmm(tc, ta, tb, beta=0.5, alpha=2.0), 0.5 * c + 2.0 * (a @ b), rtol=1e-10)


@pytest.mark.parametrize(
    "eq,shapes",
    [
        ("ij,jk->ik", [(2, 3), (3, 4)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("ij->ji", [(2, 3)]),
        ("ij->", [(2, 3)]),
        ("ij->j", [(2, 3)]),
        ("i,i->", [(4,), (4,)]),
        ("i,j->ij", [(3,), (4,)]),
        ("ij,ij->ij", [(2, 3), (2, 3)]),
        ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
        ("ij,jk", [(2, 3), (3, 4)]),
        ("ba,ac->cb", [(2, 3), (3, 4)]),
    ],
)
def test_einsum(device, rng, eq, shapes):
    arrays = [rng.normal(size=s) for s in shapes]
    out = ember.einsum(eq, *[make(a, device) for a in arrays])
    assert_close(out, np.einsum(eq, *arrays), rtol=1e-10, atol=1e-12)


def test_einsum_list_operands_and_transposed_input(device, rng):
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 4))
    out = ember.einsum("ji,jk->ik", [make(a, device, layout="transposed"), make(b, device)])
    assert_close(out, a.T @ b, rtol=1e-10)


def test_einsum_ellipsis(device, rng):
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 4, 5))
    out = ember.einsum("...ij,...jk->...ik", make(a, device), make(b, device))
    assert_close(out, np.einsum("...ij,...jk->...ik", a, b), rtol=1e-10)


def test_einsum_trace(device, rng):
    a = rng.normal(size=(3, 3))
    assert_close(ember.einsum("ii->", make(a, device)), np.trace(a), rtol=1e-10)


# -------------------------------------------------------------------- clamp, where, tril, sort


def test_clamp_and_clip(device, rng):
    x = rng.normal(size=(3, 4))
    t = make(x, device, layout="transposed")
    assert_close(t.clamp(-0.5, 0.5), np.clip(x, -0.5, 0.5))
    assert_close(t.clamp(min=0.1), np.maximum(x, 0.1))
    assert_close(t.clamp(max=0.1), np.minimum(x, 0.1))
    assert_close(ember.clip(t, -1, 1), np.clip(x, -1, 1))
    i = ember.tensor([-5, 0, 5], device=device)
    assert i.clamp(-2, 2).dtype == ember.int64
    assert_close(i.clamp(-2, 2), np.array([-2, 0, 2]))


def test_where(device, rng):
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    cond = x > 0
    out = ember.where(make(cond, device), make(x, device, layout="transposed"), make(y, device))
    assert_close(out, np.where(cond, x, y))
    assert_close(ember.where(make(cond, device), make(x, device), 0.0), np.where(cond, x, 0.0))
    assert_close(make(x, device).where(make(cond, device), -1.0), np.where(cond, x, -1.0))
    # Broadcast condition.
    c1 = np.array([True, False, True, False])
    assert_close(ember.where(make(c1, device), make(x, device), make(y, device)), np.where(c1, x, y))


def test_where_single_argument_is_nonzero(device):
    x = np.array([[0, 1], [2, 0]])
    t = make(x, device)
    assert_close(t.nonzero(), np.argwhere(x))
    assert t.nonzero().dtype == ember.int64
    assert t.nonzero().shape == (2, 2)
    assert ember.zeros(3, device=device).nonzero().shape == (0, 1)


@pytest.mark.parametrize("diagonal", [-1, 0, 1, 2])
def test_tril_triu(device, rng, diagonal):
    x = rng.normal(size=(3, 4))
    t = make(x, device, layout="transposed")
    assert_close(t.tril(diagonal), np.tril(x, diagonal))
    assert_close(t.triu(diagonal=diagonal), np.triu(x, diagonal))
    b = rng.normal(size=(2, 3, 3))
    assert_close(make(b, device).tril(diagonal), np.tril(b, diagonal))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sort_argsort(device, rng, layout):
    x = rng.permutation(12).reshape(3, 4).astype(np.float64)
    t = make(x, device, layout=layout)
    v, i = t.sort()
    assert_close(v, np.sort(x, -1))
    assert_close(i, np.argsort(x, -1))
    v, i = t.sort(dim=0, descending=True)
    assert_close(v, -np.sort(-x, 0))
    assert_close(i, np.argsort(-x, 0))
    assert_close(t.argsort(dim=1), np.argsort(x, 1))
    r = ember.sort(t, 1)
    assert_close(r.values, np.sort(x, 1))


def test_sort_stable_with_ties(device):
    x = np.array([3.0, 1.0, 2.0, 1.0, 3.0, 1.0])
    v, i = make(x, device).sort(stable=True)
    assert_close(i, np.argsort(x, kind="stable"))
    v, i = make(x, device).sort(descending=True, stable=True)
    assert_close(i, np.array([0, 4, 2, 1, 3, 5]))


def test_topk(device, rng):
    x = rng.permutation(20).reshape(4, 5).astype(np.float64)
    t = make(x, device, layout="transposed")
    v, i = t.topk(2)
    assert_close(v, -np.sort(-x, 1)[:, :2])
    assert_close(i, np.argsort(-x, 1)[:, :2])
    v, i = t.topk(3, dim=0, largest=False)
    assert_close(v, np.sort(x, 0)[:3])
    assert_close(i, np.argsort(x, 0)[:3])
    r = ember.topk(t, 1)
    assert r.values.shape == (4, 1)


# -------------------------------------------------------------------------------- in-place ops


def test_in_place_arithmetic_returns_self_and_bumps_version(device):
    t = ember.tensor([1.0, 2.0, 3.0], device=device)
    v0 = t._version
    assert t.add_(1) is t
    assert t._version > v0
    v1 = t._version
    t.mul_(2).sub_(1).div_(2)
    assert t._version >= v1 + 3
    assert_close(t, (np.array([1.0, 2.0, 3.0]) + 1) * 2 / 2 - 0.5, rtol=1e-6)
    t.add_(ember.ones(3, device=device), alpha=2)
    assert_close(t, np.array([3.5, 4.5, 5.5]))
    t.add_(1, alpha=-2)
    assert_close(t, np.array([1.5, 2.5, 3.5]))


def test_in_place_broadcast_and_dunder(device):
    t = ember.zeros(2, 3, device=device)
    ident = id(t)
    t += ember.tensor([1.0, 2.0, 3.0], device=device)
    t *= 2
    t -= 1
    t /= 2
    assert id(t) == ident
    assert_close(t, np.tile([0.5, 1.5, 2.5], (2, 1)))


def test_zero_fill_copy_clamp(device, rng):
    t = make(rng.normal(size=(2, 3)), device)
    v = t._version
    t.zero_()
    assert t._version > v
    assert_close(t, np.zeros((2, 3)))
    t.fill_(2.5)
    assert_close(t, np.full((2, 3), 2.5))
    src = rng.normal(size=(3,))
    t.copy_(make(src, device))  # broadcasts
    assert_close(t, np.broadcast_to(src, (2, 3)))
    t.copy_(make(np.arange(6).reshape(2, 3), device))  # casts int -> float
    assert t.dtype == ember.float64
    assert_close(t, np.arange(6.0).reshape(2, 3))
    t.clamp_(1, 4)
    assert_close(t, np.clip(np.arange(6.0).reshape(2, 3), 1, 4))
    t.fill_(ember.tensor(7.0, device=device))
    assert_close(t, np.full((2, 3), 7.0))


def test_in_place_on_view_changes_base(device):
    base = ember.zeros(3, 4, device=device)
    base[1].add_(1)
    base[:, 2].fill_(5)
    base.t()[0].mul_(0).add_(-1)
    expect = np.zeros((3, 4))
    expect[1] += 1
    expect[:, 2] = 5
    expect[:, 0] = -1
    assert_close(base, expect)


def test_in_place_on_non_contiguous(device, rng):
    x = rng.normal(size=(3, 4))
    t = make(x, device, layout="transposed")
    t.mul_(2)
    t.exp_()
    assert_close(t, np.exp(2 * x), rtol=1e-10)
    s = make(x, device, layout="sliced")
    s.add_(make(x, device))
    assert_close(s, 2 * x)


def test_in_place_unary_ops(device, rng):
    x = rng.uniform(0.5, 2, size=(4,))
    for name in ["exp", "log", "sqrt", "sin", "tanh", "sigmoid", "neg", "abs", "relu", "floor", "reciprocal"]:
        t = make(x, device)
        ref = to_np(getattr(t, name)())
        out = getattr(t, name + "_")()
        assert out is t
        assert_close(t, ref, rtol=0, atol=0)


def test_in_place_int_with_float_raises_runtime_error(device):
    i = ember.tensor([1, 2], device=device)
    with pytest.raises(RuntimeError, match="cast"):
        i.add_(1.5)


def test_in_place_type_rules(device):
    i = ember.tensor([1, 2], device=device)
    with pytest.raises((RuntimeError, TypeError)):
        i.add_(1.5)
    assert i.tolist() == [1, 2]
    f = ember.tensor([1.0, 2.0], device=device)
    f.add_(ember.tensor([1, 1], device=device))
    assert f.dtype == ember.float32
    assert_close(f, np.array([2.0, 3.0], dtype=np.float32))


def test_in_place_pow_and_masked_fill(device):
    t = ember.tensor([1.0, 2.0, 3.0], device=device)
    t.pow_(2)
    assert_close(t, np.array([1.0, 4.0, 9.0], dtype=np.float32))
    t.masked_fill_(ember.tensor([True, False, True], device=device), -1.0)
    assert_close(t, np.array([-1.0, 4.0, -1.0], dtype=np.float32))


def test_clone_is_independent(device):
    t = ember.tensor([1.0, 2.0], device=device)
    c = t.clone()
    c.add_(1)
    assert t.tolist() == [1.0, 2.0]
    assert c.tolist() == [2.0, 3.0]


def test_out_argument_writes_in_place_and_refuses_autograd(device):
    a = ember.tensor([1.0, 2.0, 3.0], device=device)
    b = ember.tensor([[10.0], [20.0]], device=device)
    out = ember.empty(2, 3, device=device)
    version = out._version
    r = ember.add(a, b, alpha=2, out=out)
    assert r is out and out._version > version
    np.testing.assert_allclose(out.cpu().numpy(), np.array([1.0, 2.0, 3.0]) + 2 * np.array([[10.0], [20.0]]))
    ember.mul(a, a, out=out[0])
    np.testing.assert_allclose(out.cpu().numpy()[0], [1.0, 4.0, 9.0])
    ember.sub(a, 1, out=a)  # out aliasing an input
    np.testing.assert_allclose(a.cpu().numpy(), [0.0, 1.0, 2.0])
    with pytest.raises(RuntimeError, match="shape"):
        ember.add(a, b, out=ember.empty(3, device=device))
    x = ember.tensor([1.0, 2.0], requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        ember.div(x, 2, out=ember.empty(2, device=device))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_trunc_rounds_toward_zero_and_keeps_signed_zeros(device, dtype):
    x = np.array([-2.7, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.7, np.inf, -np.inf, np.nan, -3.9999])
    t = ember.tensor(x, dtype=getattr(ember, dtype), device=device)
    want = np.trunc(t.float().cpu().numpy())
    for got in (t.trunc(), ember.trunc(t), t.fix(), t.clone().trunc_()):
        assert got.dtype == t.dtype
        g = got.float().cpu().numpy()
        np.testing.assert_array_equal(g, want)
        np.testing.assert_array_equal(np.signbit(g), np.signbit(want))


def test_trunc_of_integers_is_identity_and_has_zero_gradient(device):
    i = ember.tensor([-3, 0, 4], device=device)
    assert ember.trunc(i).dtype == ember.int64 and ember.trunc(i).tolist() == [-3, 0, 4]
    x = ember.tensor([1.5, -2.5], dtype=ember.float64, device=device, requires_grad=True)
    x.trunc().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
