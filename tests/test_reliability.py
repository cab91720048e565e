"""Defects that once crashed ember or answered silently wrong, held to PyTorch's behaviour:
overflow-checked shapes, creation arguments, hostile constructor input, hooks, conversions,
device placement of every op's result, and half/float edge values on both devices.

Calls that used to segfault run in a subprocess, so a regression fails its test instead of
killing the run.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
from conftest import DEVICES, to_np

BIG = 1 << 32


def _in_subprocess(code):
    """Runs `code` in a fresh interpreter; returns (returncode, last line printed)."""
    p = subprocess.run([sys.executable, "-c", "import ember\n" + textwrap.dedent(code)],
                       capture_output=True, text=True, timeout=120)
    lines = p.stdout.strip().splitlines()
    return p.returncode, (lines[-1] if lines else p.stderr.strip()[-300:])


# ---- shapes whose element count would wrap ---------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: ember.ones(2, 2).repeat(BIG, BIG),
    lambda: ember.ones(1, 1).expand(BIG, BIG),
    lambda: ember.zeros(BIG, BIG),
    lambda: ember.ones(4).view(1 << 62, 4, -1),
    lambda: ember.ones(4).reshape(BIG, BIG, 0, -1),
    lambda: ember.cat([ember.ones(1, 1).expand(1 << 62, 1)] * 2),
], ids=["repeat", "expand", "zeros", "view", "reshape", "cat"])
def test_shapes_that_overflow_raise_runtime_error(make):
    with pytest.raises(RuntimeError, match="overflow"):
        make()


def test_overflowing_repeat_does_not_read_out_of_bounds():
    rc, out = _in_subprocess("""
        try:
            ember.ones(2, 2).repeat(1 << 32, 1 << 32)[0]
            print("no error")
        except RuntimeError as e:
            print("RuntimeError")
    """)
    assert (rc, out) == (0, "RuntimeError")


def test_a_large_but_valid_expanded_view_keeps_its_count():
    v = ember.ones(1, 1).expand(1 << 31, 1 << 31)
    assert v.numel() == 1 << 62


@pytest.mark.parametrize("make", [
    lambda: ember.ones(1, 1).expand(1 << 31, 1 << 31).contiguous(),
    lambda: ember.ones(1, 1).expand(1 << 31, 1 << 31).clone(),
    lambda: ember.ones(1, 1).expand(1 << 20, 1 << 20).contiguous(),
    lambda: ember.arange(0, 2**62),
    lambda: ember.linspace(0, 1, 1 << 62),
    lambda: ember.eye(1 << 30),
], ids=["contiguous", "clone", "contiguous-4TB", "arange", "linspace", "eye"])
def test_allocations_that_cannot_succeed_raise_out_of_memory(make):
    with pytest.raises(ember.OutOfMemoryError) as info:
        make()
    assert isinstance(info.value, RuntimeError)  # as torch.OutOfMemoryError


def test_conv_output_size_with_huge_padding_is_checked():
    with pytest.raises(RuntimeError):
        ember.nn.functional.conv2d(ember.ones(1, 1, 4, 4), ember.ones(1, 1, 3, 3), padding=1 << 62)


# ---- creation arguments ----------------------------------------------------------------------

@pytest.mark.parametrize("args, match", [
    ((0, float("inf")), "unsupported range"),
    ((0, float("nan")), "unsupported range"),
    ((0, 10, 0), "step must be nonzero"),
    ((10, 0, 1), "inconsistent with step sign"),
])
def test_arange_checks_its_range(args, match):
    with pytest.raises(RuntimeError, match=match):
        ember.arange(*args)


def test_arange_near_the_int64_limit_is_exact():
    t = ember.arange(2**63 - 3, 2**63 - 1)
    assert t.tolist() == [2**63 - 3, 2**63 - 2]
    assert t.dtype == ember.int64
    assert ember.arange(-(2**63), -(2**63) + 4, 2).tolist() == [-(2**63), -(2**63) + 2]


@pytest.mark.parametrize("device", DEVICES)
def test_arange_values_match_numpy(device):
    np.testing.assert_array_equal(to_np(ember.arange(10, -7, -3, device=device)), np.arange(10, -7, -3))
    np.testing.assert_allclose(to_np(ember.arange(0.5, 3.2, 0.7, device=device)),
                               np.arange(0.5, 3.2, 0.7), rtol=1e-6)
    assert ember.arange(5, device=device).device.type == device


def test_arange_and_friends_refuse_non_numbers():
    with pytest.raises(TypeError, match="arange"):
        ember.arange("a")
    with pytest.raises(TypeError, match="full"):
        ember.full((2,), "a")


@pytest.mark.parametrize("value, dtype", [
    (2**40, ember.int32), (float("inf"), ember.int64), (1e10, ember.float16), (1e300, ember.float32),
])
def test_full_refuses_values_the_dtype_cannot_hold(value, dtype):
    with pytest.raises(RuntimeError, match="without overflow"):
        ember.full((2,), value, dtype=dtype)


def test_full_takes_values_that_fit():
    assert ember.full((2,), 2**31 - 1, dtype=ember.int32).tolist() == [2**31 - 1] * 2
    assert ember.full((1,), float("inf"), dtype=ember.float16).tolist() == [float("inf")]


def test_eye_checks_its_sizes():
    with pytest.raises(RuntimeError, match="n must be greater or equal to 0"):
        ember.eye(-1)
    with pytest.raises(RuntimeError, match="m must be greater or equal to 0"):
        ember.eye(2, -1)
    np.testing.assert_array_equal(ember.eye(2, 3).numpy(), np.eye(2, 3))


# ---- the tensor constructor against hostile input --------------------------------------------

@pytest.mark.parametrize("data", ["abc", b"ab", bytearray(b"ab"), {"a": 1}, {1, 2}, frozenset([1]),
                                  [1, "a"], [[1, 2], "ab"]],
                         ids=["str", "bytes", "bytearray", "dict", "set", "frozenset", "list-str", "nested-str"])
def test_constructor_refuses_non_numeric_data(data):
    rc, out = _in_subprocess(f"""
        try:
            ember.tensor({data!r})
            print("no error")
        except TypeError as e:
            print("TypeError")
    """)
    assert (rc, out) == (0, "TypeError")


def test_setitem_refuses_a_string():
    rc, out = _in_subprocess("""
        x = ember.ones(2, 2)
        try:
            x[0] = "a"
            print("no error")
        except TypeError:
            print("TypeError")
    """)
    assert (rc, out) == (0, "TypeError")


def test_deep_nesting_is_a_value_error_not_a_crash():
    rc, out = _in_subprocess("""
        l = []
        for _ in range(100000):
            l = [l]
        try:
            ember.tensor(l)
            print("no error")
        except ValueError as e:
            print("ValueError", "too many dimensions" in str(e))
    """)
    assert (rc, out) == (0, "ValueError True")


def test_nesting_up_to_the_limit_works():
    l = [1.0]
    for _ in range(63):
        l = [l]
    assert ember.tensor(l).ndim == 64


# ---- conversions and operands ----------------------------------------------------------------

def test_int_of_special_floats_follows_python():
    with pytest.raises(ValueError, match="NaN"):
        int(ember.tensor(float("nan")))
    with pytest.raises(OverflowError):
        int(ember.tensor(float("inf")))
    assert int(ember.tensor(-3.7)) == -3
    assert int(ember.tensor(2.0**70)) == 2**70
    assert int(ember.tensor(7, dtype=ember.int32)) == 7


def test_pow_with_a_bad_operand_raises_type_error():
    x = ember.ones(2)
    with pytest.raises(TypeError, match="pow"):
        ember.pow(x, "a")
    with pytest.raises(TypeError, match="pow"):
        x.pow("a")
    with pytest.raises(TypeError):
        x ** "a"


# ---- autograd hooks and .grad ----------------------------------------------------------------

def test_a_hook_may_not_change_the_gradient_shape():
    w = ember.ones(2, requires_grad=True)
    w.register_hook(lambda g: ember.ones(3))
    with pytest.raises(RuntimeError, match="size"):
        w.sum().backward()
    assert w.grad is None


def test_a_hook_may_not_change_the_gradient_dtype():
    w = ember.ones(2, requires_grad=True)
    w.register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="type"):
        w.sum().backward()


def test_a_hook_replacement_of_the_same_shape_is_used():
    w = ember.ones(2, requires_grad=True)
    w.register_hook(lambda g: g * 3)
    w.sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


class _Mine(Exception):
    pass


def test_an_exception_raised_in_a_hook_comes_back_as_itself():
    w = ember.ones(2, requires_grad=True)
    y = w * 2

    def hook(g):
        raise _Mine("from the hook")

    y.register_hook(hook)
    with pytest.raises(_Mine, match="from the hook"):
        y.sum().backward()


def test_grad_assignment_checks_dtype_and_shape():
    w = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="different type"):
        w.grad = ember.ones(2, dtype=ember.int64)
    with pytest.raises(RuntimeError, match="different size"):
        w.grad = ember.ones(3)
    w.grad = ember.full((2,), 5.0)
    assert w.grad.tolist() == [5.0, 5.0]


# ---- every op's result lives on its input's device -------------------------------------------

UNARY, BINARY, REDUCE = ember._core._op_table()
_INTERNAL = {"relu_backward"}  # the gradient kernel of relu: no public function


def _operand(name, device):
    if name.startswith("bitwise"):
        return ember.tensor([3, 5, 6], device=device)
    if name.startswith("logical") or name in ("all", "any"):
        return ember.tensor([True, False, True], device=device)
    return ember.tensor([0.5, 1.5, 2.5], device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_every_op_of_the_table_returns_on_its_inputs_device(device):
    for name in UNARY:
        x = _operand(name, device)
        assert x._unary(name).device.type == device, name
    for name in BINARY:
        if name in _INTERNAL:
            continue
        x = _operand(name, device)
        assert getattr(ember, name)(x, x).device.type == device, name
    for name in REDUCE:
        x = _operand(name, device)
        assert getattr(x, name)().device.type == device, name


@pytest.mark.parametrize("device", DEVICES)
def test_the_other_ops_return_on_their_inputs_device(device):
    x = ember.rand(4, 4, device=device)
    i = ember.tensor([[0, 1, 2, 3]], device=device)
    F = ember.nn.functional
    results = {
        "matmul": x @ x, "softmax": x.softmax(-1), "cumsum": x.cumsum(0), "sort": x.sort()[0],
        "topk": x.topk(2)[1], "gather": x.gather(0, i), "scatter_add": x.scatter_add(0, i, x[:1]),
        "where": ember.where(x > 0.5, x, 0.0), "cat": ember.cat([x, x]), "stack": ember.stack([x, x]),
        "clamp": x.clamp(0.2, 0.8), "bernoulli": ember.bernoulli(x), "bernoulli_method": x.bernoulli(),
        "multinomial": ember.multinomial(x, 2), "multinomial_method": x.multinomial(2, replacement=True),
        "conv2d": F.conv2d(x[None, None], ember.ones(1, 1, 2, 2, device=device)),
        "linear": F.linear(x, x), "cross_entropy": F.cross_entropy(x, ember.tensor([0, 1, 2, 3], device=device)),
        "layer_norm": F.layer_norm(x, (4,)), "dropout": F.dropout(x, 0.5),
        "zeros_like": ember.zeros_like(x), "rand_like": ember.rand_like(x),
    }
    for name, r in results.items():
        assert r.device.type == device, name


@pytest.mark.parametrize("device", [d for d in DEVICES if d != "cpu"])
def test_a_0d_cpu_tensor_joins_ops_on_another_device(device):
    x = ember.ones(3, device=device)
    s = ember.tensor(2.0)
    assert (x * s).device.type == device
    assert (s - x).tolist() == [1.0, 1.0, 1.0]
    assert ember.where(x > 0, s, x).device.type == device
    w = ember.tensor(3.0, requires_grad=True)
    (x * w).sum().backward()
    assert w.grad.item() == 3.0 and w.grad.device.type == "cpu"
    with pytest.raises(RuntimeError, match="same device"):
        x + ember.ones(3)  # only 0-d CPU tensors cross


@pytest.mark.parametrize("device", [d for d in DEVICES if d != "cpu"])
def test_copy_crosses_devices(device):
    x = ember.zeros(3, device=device)
    x.copy_(ember.arange(3.0))
    assert x.device.type == device and x.tolist() == [0.0, 1.0, 2.0]


# ---- numerics the CPU and the GPU agree on ---------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16])
def test_half_mean_and_var_accumulate_in_float32(device, dtype):
    x = ember.full((4,), 60000.0, dtype=dtype, device=device)
    m = x.mean()
    assert m.dtype == dtype and abs(m.item() - 60000.0) < 300
    assert x.var().item() == 0.0
    assert x.mean(0).item() == m.item()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_remainder_by_infinity_matches_python(device, dtype):
    a = [5.0, -5.0, 0.0, float("inf")]
    for b in (float("inf"), float("-inf")):
        got = (ember.tensor(a, dtype=dtype, device=device) % b).cpu().tolist()
        want = [x % b if x != float("inf") else float("nan") for x in a]
        np.testing.assert_array_equal(np.array(got), np.array(want))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [ember.float32, ember.float16])
def test_float_to_int32_saturates_and_maps_nan_to_zero(device, dtype):
    vals = [float("inf"), -float("inf"), float("nan"), 3e10 if dtype == ember.float32 else 6e4, -7.9]
    got = ember.tensor(vals, dtype=dtype, device=device).int().cpu().tolist()
    top = 2**31 - 1 if dtype == ember.float32 else 60000
    assert got == [2**31 - 1, -(2**31), 0, top, -7]


@pytest.mark.parametrize("make", ["zeros", "empty", "arange"])
def test_large_cpu_buffers_get_huge_pages(make):
    """Buffers of 4 MB and more ask for transparent huge pages before they are touched (MPI's
    page-by-page copies and the TLB both pay per page), and their values are unchanged by it."""
    import re

    try:
        mode = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        pytest.skip("no transparent huge pages here")
    if "[never]" in mode:
        pytest.skip("transparent huge pages are off")
    n = 3 << 20  # 12 MB of float32
    t = {"zeros": lambda: ember.zeros(n), "empty": lambda: ember.empty(n).fill_(1.0),
         "arange": lambda: ember.arange(n, dtype=ember.float32)}[make]()
    start, end = t.data_ptr(), t.data_ptr() + 4 * n
    huge_kb, inside = 0, False
    for line in open("/proc/self/smaps"):
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
        if m:
            inside = int(m.group(1), 16) < end and int(m.group(2), 16) > start
        elif inside and line.startswith("AnonHugePages:"):
            huge_kb += int(line.split()[1])
    assert huge_kb >= 2048, f"no huge page backs a 12 MB tensor ({huge_kb} kB)"
    first = {"zeros": 0.0, "empty": 1.0, "arange": 0.0}[make]
    last = {"zeros": 0.0, "empty": 1.0, "arange": float(n - 1)}[make]
    assert t[0].item() == first and t[-1].item() == last
