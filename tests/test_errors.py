"""Error cases: the exception type PyTorch raises, and a message that says what went wrong."""

import re

import numpy as np
import pytest

import ember
from conftest import leaf


def _names_shapes(msg, *shapes):
    """True when msg names every shape, as [2, 3], (2, 3), torch.Size([2, 3]) or 2x3."""
    for shape in shapes:
        forms = [
            "[" + ", ".join(map(str, shape)) + "]",
            "(" + ", ".join(map(str, shape)) + ")",
            "x".join(map(str, shape)),
        ]
        if not any(f in msg for f in forms):
            return False
    return True


# ------------------------------------------------------------------------------ shape mismatch


@pytest.mark.parametrize(
    "sa,sb",
    [((3, 4), (5,)), ((2, 3), (3, 2)), ((4,), (3,)), ((2, 1, 3), (4, 2))],
    ids=str,
)
@pytest.mark.parametrize("op", ["add", "mul", "sub", "div", "maximum", "eq", "where"])
def test_broadcast_mismatch_raises_runtime_error_naming_shapes(device, sa, sb, op):
    a, b = ember.ones(*sa, device=device), ember.ones(*sb, device=device)
    fns = {
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "sub": lambda: a - b,
        "div": lambda: a / b,
        "maximum": lambda: ember.maximum(a, b),
        "eq": lambda: a == b,
        "where": lambda: ember.where(a > 0, a, b),
    }
    with pytest.raises(RuntimeError) as info:
        fns[op]()
    assert _names_shapes(str(info.value), sa, sb), str(info.value)


@pytest.mark.parametrize(
    "sa,sb",
    [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)), ((2, 2, 3), (2, 4, 2)), ((3, 2, 3), (2, 3, 2))],
    ids=str,
)
def test_matmul_mismatch(device, sa, sb):
    a, b = ember.ones(*sa, device=device), ember.ones(*sb, device=device)
    with pytest.raises(RuntimeError) as info:
        a @ b
    msg = str(info.value)
    # Batched: naming the mismatched batch shapes (as torch's broadcast message does) suffices.
    assert _names_shapes(msg, sa, sb) or (len(sa) > 2 and _names_shapes(msg, sa[:-2], sb[:-2])), msg


def test_mm_bmm_dot_mismatch(device):
    with pytest.raises(RuntimeError) as info:
        ember.ones(2, 3, device=device).mm(ember.ones(2, 3, device=device))
    assert _names_shapes(str(info.value), (2, 3)), str(info.value)
    with pytest.raises(RuntimeError):
        ember.ones(2, 3, device=device).mm(ember.ones(3, device=device))
    with pytest.raises(RuntimeError):
        ember.ones(2, 2, 3, device=device).bmm(ember.ones(3, 3, 2, device=device))
    with pytest.raises(RuntimeError):
        ember.ones(3, device=device).dot(ember.ones(4, device=device))
    with pytest.raises(RuntimeError):
        ember.tensor(2.0, device=device) @ ember.ones(2, device=device)


def test_cat_stack_mismatch(device):
    with pytest.raises(RuntimeError) as info:
        ember.cat([ember.ones(2, 3, device=device), ember.ones(2, 4, device=device)])
    assert re.search(r"3|4", str(info.value))
    with pytest.raises(RuntimeError):
        ember.stack([ember.ones(2, device=device), ember.ones(3, device=device)])
    with pytest.raises(RuntimeError):
        ember.cat([ember.ones(2, 3, device=device), ember.ones(2, device=device)])


def test_view_reshape_expand_invalid(device):
    t = ember.ones(2, 3, device=device)
    with pytest.raises(RuntimeError) as info:
        t.view(5)
    assert "5" in str(info.value) and "6" in str(info.value)
    with pytest.raises(RuntimeError):
        t.reshape(4, -1)
    with pytest.raises(RuntimeError):
        t.t().view(6)  # incompatible strides: needs reshape
    with pytest.raises(RuntimeError):
        t.expand(2, 4)
    with pytest.raises(RuntimeError):
        t.expand(3)  # fewer dims than the tensor
    with pytest.raises(RuntimeError):
        t.permute(0)  # wrong number of dims
    with pytest.raises(RuntimeError):
        t.unflatten(1, (2, 2))


def test_in_place_output_shape_mismatch(device):
    a = ember.ones(3, device=device)
    with pytest.raises(RuntimeError) as info:
        a.add_(ember.ones(2, 3, device=device))
    assert _names_shapes(str(info.value), (3,), (2, 3)), str(info.value)
    with pytest.raises(RuntimeError):
        a.copy_(ember.ones(4, device=device))
    with pytest.raises(RuntimeError):
        a[:2] = ember.ones(3, device=device)


def test_masked_fill_gather_split_mismatch(device):
    t = ember.ones(2, 3, device=device)
    with pytest.raises(RuntimeError):
        t.masked_fill(ember.tensor([True, False], device=device), 0.0)
    with pytest.raises(RuntimeError):
        t.gather(1, ember.zeros(2, 3, 4, dtype=ember.int64, device=device))


def test_backward_gradient_shape_mismatch(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError) as info:
        (x * 2).backward(ember.ones(3, dtype=ember.float64, device=device))
    assert "shape" in str(info.value)


# -------------------------------------------------------------------------------------- dims


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.sum(dim=2),
        lambda t: t.sum(dim=-3),
        lambda t: t.mean(dim=(0, 5)),
        lambda t: t.max(dim=2),
        lambda t: t.argmax(dim=3),
        lambda t: t.softmax(2),
        lambda t: t.log_softmax(-3),
        lambda t: t.cumsum(2),
        lambda t: t.transpose(0, 2),
        lambda t: t.unsqueeze(3),
        lambda t: t.unsqueeze(-4),
        lambda t: t.squeeze(2),
        lambda t: t.permute(0, 2),
        lambda t: t.select(2, 0),
        lambda t: t.narrow(2, 0, 1),
        lambda t: t.flatten(0, 2),
        lambda t: t.flip(2),
        lambda t: t.size(2),
        lambda t: t.stride(-3),
        lambda t: t.index_select(2, ember.tensor([0])),
        lambda t: t.gather(2, ember.zeros(2, 3, dtype=ember.int64)),
        lambda t: t.sort(dim=2),
        lambda t: t.topk(1, dim=2),
        lambda t: t.var(dim=2),
        lambda t: t.split(1, dim=2),
        lambda t: t.chunk(2, dim=-3),
        lambda t: t.all(dim=2),
        lambda t: t.logsumexp(2),
        lambda t: ember.cat([t, t], dim=2),
        lambda t: ember.stack([t, t], dim=4),
    ],
)
def test_dim_out_of_range_raises_index_error(call):
    t = ember.ones(2, 3)
    with pytest.raises(IndexError, match=r"(?i)dim"):
        call(t)


def test_dim_error_on_zero_dim_tensor():
    s = ember.tensor(1.0)
    with pytest.raises(IndexError):
        s.sum(dim=1)
    with pytest.raises(IndexError):
        s.unsqueeze(2)


def test_repeated_dim_in_permute_raises(device):
    with pytest.raises(RuntimeError):
        ember.ones(2, 3, device=device).permute(0, 0)


# --------------------------------------------------------------------------- index out of range


@pytest.mark.parametrize(
    "idx",
    [
        3,
        -4,
        (0, 4),
        (slice(None), -5),
        [0, 3],
        [-4],
        (slice(None), [1, 4]),
        (0, 0, 0),  # too many indices
    ],
    ids=repr,
)
def test_getitem_out_of_range_raises_index_error(device, idx):
    t = ember.ones(3, 4, device=device)
    with pytest.raises(IndexError):
        t[idx]


def test_getitem_tensor_index_out_of_range(device):
    t = ember.ones(3, 4, device=device)
    with pytest.raises(IndexError):
        t[ember.tensor([0, 3], device=device)]
    with pytest.raises(IndexError):
        t[:, ember.tensor([[4]], device=device)]


def test_multiple_advanced_indices_out_of_range(device):
    t = ember.arange(12, dtype=ember.float32, device=device).reshape(3, 4)
    with pytest.raises(IndexError):
        t[[0, 5], [0, 1]]
    with pytest.raises(IndexError):
        t[[0, 1], [0, 4]]
    with pytest.raises(IndexError):
        t[[0, -4], [0, 1]]


def test_setitem_out_of_range_raises_index_error(device):
    t = ember.zeros(3, device=device)
    with pytest.raises(IndexError):
        t[3] = 1.0
    with pytest.raises(IndexError):
        t[[0, 3]] = 1.0
    with pytest.raises(IndexError):
        t[ember.tensor([-4], device=device)] = 1.0


def test_bool_mask_of_wrong_shape_raises_index_error(device):
    t = ember.ones(3, 4, device=device)
    with pytest.raises(IndexError):
        t[ember.tensor([True, False], device=device)]
    with pytest.raises(IndexError):
        t[ember.ones(4, 3, dtype=ember.bool, device=device)]


def test_index_select_and_select_out_of_range(device):
    t = ember.ones(3, 4, device=device)
    with pytest.raises(IndexError):
        t.index_select(0, ember.tensor([3], device=device))
    with pytest.raises(IndexError):
        t.select(1, 4)
    with pytest.raises(IndexError):
        t.unbind(0)[3]


def test_gather_scatter_index_out_of_range_raise(device):
    # On a GPU the kernel flags the bad index and the next read raises (as CUDA's device-side
    # asserts do), with the CPU's message: `.tolist()` is that read.
    t = ember.ones(2, 3, device=device)
    with pytest.raises((RuntimeError, IndexError), match="out of (range|bounds)"):
        t.gather(1, ember.tensor([[0, 3]], device=device)).tolist()
    with pytest.raises((RuntimeError, IndexError), match="out of (range|bounds)"):
        t.scatter(0, ember.tensor([[2, 0, 0]], device=device), 1.0).tolist()
    with pytest.raises((RuntimeError, IndexError)):
        t.scatter_add(1, ember.tensor([[-1]], device=device), ember.ones(1, 1, device=device)).tolist()
    assert t.sum().item() == 6.0  # raised once: the device goes on working


def test_narrow_out_of_range(device):
    t = ember.ones(4, device=device)
    with pytest.raises((RuntimeError, IndexError)):
        t.narrow(0, 3, 2)


# ------------------------------------------------------------------------------ ragged lists


@pytest.mark.parametrize(
    "data",
    [[[1, 2], [3]], [[1.0], [2.0, 3.0]], [[[1], [2]], [[3]]], [[1, 2], []], [[[1, 2]], [[3]]]],
    ids=repr,
)
def test_ragged_nested_lists_raise_value_error(device, data):
    with pytest.raises(ValueError):
        ember.tensor(data, device=device)


def test_ragged_error_message_names_lengths():
    with pytest.raises(ValueError) as info:
        ember.tensor([[1, 2, 3], [4, 5]])
    assert "3" in str(info.value) and "2" in str(info.value)


def test_non_numeric_data_raises():
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        ember.tensor([1, "a"])
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        ember.tensor(object())


# --------------------------------------------------------------------------------- autograd


def test_backward_of_non_scalar_without_gradient(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="scalar"):
        ember.autograd.grad(x * 2, x)


def test_second_backward_through_freed_graph(device):
    x = leaf([1.0, 2.0], device)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="(?i)second time|freed|retain_graph"):
        y.backward()


def test_freed_graph_shared_by_two_outputs(device):
    x = leaf([1.0, 2.0], device)
    h = x.sigmoid()
    a, b = (h * 2).sum(), (h * 3).sum()
    a.backward()
    with pytest.raises(RuntimeError):
        b.backward()


def test_autograd_grad_frees_graph_by_default(device):
    x = leaf([1.0, 2.0], device)
    y = (x * x).sum()
    ember.autograd.grad(y, x)
    with pytest.raises(RuntimeError):
        ember.autograd.grad(y, x)


@pytest.mark.parametrize(
    "build",
    [
        # exp saves its result; tanh and sigmoid too; mul saves both operands; pow saves its base.
        lambda x: (lambda y: (y.add_(1), y))(x.exp())[1],
        lambda x: (lambda h: (h.mul_(2), h))(x.tanh())[1],
        lambda x: (lambda h: (lambda y: (h.add_(1), y))(h * h))(x * 2)[1],
        lambda x: (lambda h: (lambda y: (h.zero_(), y))(h**3))(x + 1)[1],
        lambda x: (lambda y: (y[0].fill_(0.0), y))(x.exp())[1],
    ],
    ids=["exp_result", "tanh_result", "mul_operand", "pow_base", "view_of_saved"],
)
def test_in_place_modification_of_saved_tensor(device, build):
    x = leaf([0.5, 1.0, 1.5], device)
    y = build(x)
    with pytest.raises(RuntimeError, match="(?i)in-?place|version|modified"):
        y.sum().backward()


def test_saved_leaf_modified_under_no_grad(device):
    w = leaf([1.0, 2.0], device)
    y = (w * w).sum()
    with ember.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="(?i)in-?place|version|modified"):
        y.backward()


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(lambda x: x.add_(1), id="add_"),
        pytest.param(lambda x: x.mul_(2), id="mul_"),
        pytest.param(lambda x: x.zero_(), id="zero_"),
        pytest.param(lambda x: x.fill_(3.0), id="fill_"),
        pytest.param(lambda x: x.exp_(), id="exp_"),
        pytest.param(lambda x: x.clamp_(0, 1), id="clamp_"),
        pytest.param(lambda x: x.copy_(ember.zeros(3, dtype=ember.float64)), id="copy_"),
        pytest.param(lambda x: x.__iadd__(1.0), id="iadd"),
        pytest.param(lambda x: x.masked_fill_(ember.tensor([True, False, False]), 0.0), id="masked_fill_"),
        pytest.param(lambda x: x.__setitem__(0, 5.0), id="setitem"),
        pytest.param(lambda x: x.__setitem__(slice(1, None), 0.0), id="setitem_slice"),
        pytest.param(lambda x: x[1:].mul_(2), id="view_mul_"),
        pytest.param(lambda x: x.view(3, 1).add_(1), id="view_add_"),
        pytest.param(lambda x: x.unsqueeze(0).zero_(), id="unsqueeze_zero_"),
    ],
)
def test_in_place_on_leaf_requiring_grad(op):
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="(?i)leaf"):
        op(x)
    assert x.tolist() == [1.0, 2.0, 3.0]


def test_numpy_on_tensor_requiring_grad(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="(?i)requires grad|detach"):
        x.numpy()
    with pytest.raises(RuntimeError, match="(?i)requires grad|detach"):
        (x * 2).numpy()


def test_integer_tensor_cannot_require_grad(device):
    with pytest.raises(RuntimeError, match="(?i)floating point"):
        ember.tensor([1, 2], device=device).requires_grad_()
    with pytest.raises(RuntimeError):
        ember.tensor([1, 2], requires_grad=True, device=device)
    with pytest.raises(RuntimeError):
        ember.ones(2, dtype=ember.bool, device=device).requires_grad = True


def test_backward_on_tensor_not_requiring_grad(device):
    with pytest.raises(RuntimeError, match="(?i)does not require grad"):
        ember.ones(1, device=device).sum().backward()
    with pytest.raises(RuntimeError):
        with ember.no_grad():
            y = leaf([1.0], device) * 2
        y.sum().backward()


def test_autograd_grad_unused_input_without_allow_unused(device):
    x, u = leaf([1.0], device), leaf([1.0], device)
    with pytest.raises(RuntimeError, match="(?i)allow_unused|not .*used|unused"):
        ember.autograd.grad((x * 2).sum(), (x, u))


def test_requires_grad_false_on_non_leaf(device):
    y = leaf([1.0], device) * 2
    with pytest.raises(RuntimeError, match="(?i)leaf"):
        y.requires_grad_(False)


def test_retain_grad_and_hook_on_tensor_not_requiring_grad(device):
    t = ember.ones(2, device=device)
    with pytest.raises(RuntimeError):
        t.retain_grad()
    with pytest.raises(RuntimeError):
        t.register_hook(lambda g: g)


# ---------------------------------------------------------------------------------- devices


@pytest.mark.parametrize("bad", ["foo", "tpu", "cpu:x", "gpu:-1x", "", "cuda:abc", "cpu0"])
def test_unknown_device_strings(bad):
    with pytest.raises(RuntimeError):
        ember.device(bad)
    with pytest.raises(RuntimeError):
        ember.zeros(2, device=bad)
    with pytest.raises(RuntimeError):
        ember.ones(2).to(bad)


# ---------------------------------------------------------------------- conversions and misc


def test_item_and_bool_of_multi_element(device):
    t = ember.ones(2, device=device)
    with pytest.raises((RuntimeError, ValueError)):
        t.item()
    with pytest.raises(RuntimeError, match="(?i)ambiguous"):
        bool(t)
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        float(t)


def test_len_and_iter_of_zero_dim(device):
    s = ember.tensor(1.0, device=device)
    with pytest.raises(TypeError):
        len(s)
    with pytest.raises(TypeError):
        iter(s)


def test_reductions_of_empty_without_dim(device):
    e = ember.zeros(0, device=device)
    with pytest.raises((RuntimeError, IndexError)):
        e.max()
    with pytest.raises((RuntimeError, IndexError)):
        e.argmax()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda d: ember.ones(2, device=d).item(), id="item_multi"),
        pytest.param(lambda d: ember.ones(0, device=d).item(), id="item_empty"),
        pytest.param(lambda d: ember.tensor([1, 2], device=d).mean(), id="mean_int"),
        pytest.param(lambda d: ember.arange(0, 5, 0, device=d), id="arange_step0"),
        pytest.param(lambda d: ember.ones(2, 3, device=d).view(-1, -1), id="view_two_inferred"),
        pytest.param(lambda d: ember.ones(2, 3, device=d).split([1, 1], dim=1), id="split_sizes"),
        pytest.param(lambda d: ember.randint(5, 5, (2,), device=d), id="randint_empty_range"),
        pytest.param(lambda d: ember.zeros(-1, device=d), id="negative_size"),
        pytest.param(lambda d: ember.ones(2, device=d).chunk(0), id="chunk0"),
        pytest.param(lambda d: ember.ones(3, device=d).topk(4), id="topk_too_many"),
        pytest.param(lambda d: ember.ones(2, 3, device=d).reshape(-1, -1), id="reshape_two_inferred"),
        pytest.param(lambda d: ember.ones(2, 3, device=d).view(4), id="view_bad_numel"),
        pytest.param(lambda d: ember.ones(2, device=d).expand(3), id="expand_bad_size"),
        pytest.param(lambda d: ember.ones(2, 3, device=d).sum((0, -2)), id="sum_repeated_dim"),
        pytest.param(lambda d: ember.tensor([True], device=d) - ember.tensor([True], device=d), id="bool_sub"),
        pytest.param(lambda d: -ember.tensor([True], device=d), id="bool_neg"),
        pytest.param(
            lambda d: ember.tensor([2, 3], device=d) ** -1,
            id="int_negative_pow",
        ),
        pytest.param(
            lambda d: ember.tensor([1, 2], device=d) // 0,
            id="int_floordiv_zero",
        ),
        pytest.param(
            lambda d: ember.tensor([1, 2], device=d) % 0,
            id="int_remainder_zero",
        ),
        pytest.param(lambda d: ember.linspace(0, 1, -1, device=d), id="linspace_negative_steps"),
    ],
)
def test_runtime_errors(device, call):
    with pytest.raises(RuntimeError):
        call(device)


def test_einsum_errors(device):
    a = ember.ones(2, 3, device=device)
    with pytest.raises((ValueError, RuntimeError)):
        ember.einsum("ij,jk->ik", a)  # one operand for two subscripts
    with pytest.raises((ValueError, RuntimeError)):
        ember.einsum("ijk->i", a)  # subscripts don't match the dims
    with pytest.raises(RuntimeError):
        ember.einsum("ij,jk->ik", a, ember.ones(4, 2, device=device))  # j: 3 vs 4


def test_einsum_argument_errors_are_runtime_errors(device):
    a = ember.ones(2, 3, device=device)
    with pytest.raises(RuntimeError):
        ember.einsum("ij,jk->ik", a)
    with pytest.raises(RuntimeError):
        ember.einsum("ijk->i", a)


def test_from_numpy_unsupported_dtype():
    with pytest.raises(TypeError):
        ember.from_numpy(np.array(["a", "b"]))


def test_einsum_checks_its_equation(device):
    a, b = ember.ones(2, 3, device=device), ember.ones(3, 4, device=device)
    for eq, words in [("ij,jk->ii", "more than once"), ("ij,jk->iz", "does not appear"),
                      ("i1,jk->ik", "invalid subscript"), ("ij,jk->i->k", "more than one '->'"),
                      ("ij,ik->jk", "do not broadcast")]:
        with pytest.raises(RuntimeError, match=words):
            ember.einsum(eq, a, b)
    # A size-1 dimension broadcasts against its letter's size, as in PyTorch.
    got = ember.einsum("ij,kj->ik", ember.ones(2, 1, device=device), b.T)
    np.testing.assert_allclose(got.cpu().numpy(), np.full((2, 4), 3.0))


def test_outer_takes_vectors_only(device):
    with pytest.raises(RuntimeError, match="Expected 1-D argument self, but got 2-D"):
        ember.outer(ember.ones(2, 2, device=device), ember.ones(2, device=device))
    with pytest.raises(RuntimeError, match="Expected 1-D argument vec2, but got 0-D"):
        ember.outer(ember.ones(2, device=device), ember.tensor(1.0, device=device))
