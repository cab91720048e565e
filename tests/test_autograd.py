"""Autograd: every differentiable op's gradient against finite differences (float64
ember.autograd.gradcheck), a few against analytic NumPy gradients, and the tape's semantics
(accumulation, retain_graph, hooks, retain_grad, detach, grad modes, higher-order grads)."""

import numpy as np
import pytest

import ember
from conftest import LAYOUTS, assert_close, check_grad, grad_input, leaf, make, numeric_grad, to_np


def _rng():
    return np.random.default_rng(7)


def _away_from(x, points, gap=0.15):
    """Moves values of x that are within gap of any of points by 2*gap (avoids kinks)."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        close = np.abs(x - p) < gap
        x[close] += 2 * gap
    return x


def _distinct(shape, rng, lo=-2, hi=2):
    """Values with no ties (for max/min/sort gradients)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * (hi - lo) / n + lo + 0.01).reshape(shape)


# ---------------------------------------------------------------------------- unary gradients

UNARY = {
    "abs": (lambda t: t.abs(), "nonzero"),
    "neg": (lambda t: -t, "any"),
    "exp": (lambda t: t.exp(), "any"),
    "log": (lambda t: t.log(), "pos"),
    "log1p": (lambda t: t.log1p(), "pos"),
    "expm1": (lambda t: t.expm1(), "any"),
    "sqrt": (lambda t: t.sqrt(), "pos"),
    "rsqrt": (lambda t: t.rsqrt(), "pos"),
    "sin": (lambda t: t.sin(), "any"),
    "cos": (lambda t: t.cos(), "any"),
    "tanh": (lambda t: t.tanh(), "any"),
    "sigmoid": (lambda t: t.sigmoid(), "any"),
    "relu": (lambda t: t.relu(), "nonzero"),
    "erf": (lambda t: t.erf(), "any"),
    "reciprocal": (lambda t: t.reciprocal(), "pos"),
    "square": (lambda t: ember.square(t), "any"),
    "pow2": (lambda t: t**2, "any"),
    "pow_frac": (lambda t: t**1.5, "pos"),
    "rpow": (lambda t: 2.0**t, "any"),
    "scalar_div": (lambda t: 3.0 / t, "pos"),
    "scalar_sub": (lambda t: 1.0 - t, "any"),
    "gelu": (lambda t: ember.gelu(t), "any"),
    "gelu_tanh": (lambda t: ember.gelu(t, approximate="tanh"), "any"),
    "silu": (lambda t: ember.silu(t), "any"),
    "softplus": (lambda t: ember.softplus(t), "any"),
    "softplus_beta": (lambda t: ember.softplus(t, beta=2.0, threshold=3.0), "nonzero"),
    "clamp": (lambda t: t.clamp(-0.5, 0.7), "clamp"),
    "clamp_min": (lambda t: t.clamp(min=0.2), "clamp"),
    "sign": (lambda t: t.sign(), "nonzero"),
    "floor": (lambda t: t.floor(), "nonint"),
    "ceil": (lambda t: t.ceil(), "nonint"),
    "round": (lambda t: t.round(), "nonint"),
}


def _unary_input(domain, shape=(2, 3)):
    x = _rng().uniform(-2, 2, size=shape)
    if domain == "pos":
        return np.abs(x) + 0.3
    if domain == "nonzero":
        return _away_from(x, [0.0])
    if domain == "clamp":
        return _away_from(x, [-0.5, 0.7, 0.2])
    if domain == "nonint":
        return _away_from(x, [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2])
    return x


UNARY_PARAMS = sorted(UNARY)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("name", UNARY_PARAMS)
def test_unary_gradcheck(device, name, layout):
    fn, domain = UNARY[name]
    check_grad(fn, grad_input(_unary_input(domain), device, layout))


# --------------------------------------------------------------------------- binary gradients

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": lambda a, b: ember.maximum(a, b),
    "minimum": lambda a, b: ember.minimum(a, b),
    "atan2": lambda a, b: ember.atan2(a, b),
    "remainder": lambda a, b: a % b,
    "add_alpha": lambda a, b: a.add(b, alpha=-1.5),
    "where": lambda a, b: ember.where(a > 0, a, b),
}

BROADCAST_SHAPES = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((3,), ()), ((), (2, 2)), ((2, 1, 3), (4, 1))]


def _binary_inputs(name, sa, sb):
    rng = _rng()
    a = rng.uniform(-2, 2, size=sa)
    b = rng.uniform(-2, 2, size=sb)
    if name == "pow":
        a = np.abs(a) + 0.3
    if name in ("div", "remainder"):
        b = np.where(np.abs(b) < 0.3, 0.9, b)
    if name == "remainder":
        # Stay away from the jumps of a % b (where a / b is an integer).
        for _ in range(50):
            q = np.broadcast_arrays(a, b)
            r = q[0] / q[1]
            if (np.abs(r - np.round(r)) > 0.05).all():
                break
            a = a + 0.037
        else:
            raise AssertionError("could not pick remainder inputs")
    if name in ("maximum", "minimum", "where"):
        a = _away_from(a, [0.0])
        b = b + 0.05  # no ties with a (random floats)
    return a, b


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck_broadcast(device, name, shapes):
    a, b = _binary_inputs(name, *shapes)
    check_grad(BINARY[name], leaf(a, device), leaf(b, device))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck_non_contiguous_and_one_sided(device, name):
    a, b = _binary_inputs(name, (3, 4), (3, 4))
    ta = grad_input(a, device, "transposed")
    tb = grad_input(b, device, "sliced")
    check_grad(BINARY[name], ta, tb)
    # Only one side requires grad.
    check_grad(BINARY[name], leaf(a, device), make(b, device))
    check_grad(BINARY[name], make(a, device), leaf(b, device))


def test_binary_with_same_tensor_twice(device):
    x = leaf([[0.5, -1.0], [2.0, 1.5]], device)
    check_grad(lambda t: t * t + t / (t * t + 1), x)


# ---------------------------------------------------------------------------------- reductions

REDUCTIONS = {
    "sum": lambda t: t.sum(),
    "sum_dim": lambda t: t.sum(1),
    "sum_dims_keepdim": lambda t: t.sum((0, 2), keepdim=True),
    "mean": lambda t: t.mean(),
    "mean_dim": lambda t: t.mean(-1),
    "mean_dims": lambda t: t.mean((0, 1)),
    "prod": lambda t: t.prod(),
    "prod_dim": lambda t: t.prod(1),
    "amax": lambda t: t.amax(),
    "amax_dim": lambda t: t.amax(dim=2),
    "amin_dims": lambda t: t.amin(dim=(0, 1)),
    "max": lambda t: t.max(),
    "max_dim": lambda t: t.max(dim=1).values,
    "min_dim_keepdim": lambda t: t.min(dim=0, keepdim=True)[0],
    "var": lambda t: t.var(),
    "var_dim": lambda t: t.var(1),
    "var_biased": lambda t: t.var(dim=2, unbiased=False),
    "std": lambda t: t.std(),
    "std_dim": lambda t: t.std(0, keepdim=True),
    "norm": lambda t: t.norm(),
    "norm_dim": lambda t: t.norm(dim=1),
    "norm_p1": lambda t: t.norm(p=1, dim=2),
    "norm_p3": lambda t: t.norm(p=3),
    "norm_inf": lambda t: t.norm(p=float("inf"), dim=0),
    "logsumexp": lambda t: t.logsumexp(dim=1),
    "logsumexp_all": lambda t: t.logsumexp(dim=(0, 1, 2)),
    "softmax0": lambda t: t.softmax(0),
    "softmax_last": lambda t: t.softmax(-1),
    "log_softmax": lambda t: t.log_softmax(1),
    "cumsum0": lambda t: t.cumsum(0),
    "cumsum_last": lambda t: t.cumsum(-1),
}


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_gradcheck(device, name, layout):
    x = _distinct((2, 3, 4), _rng())
    if name.startswith("prod") or name.startswith("norm_p1"):
        x = _away_from(x, [0.0])
    check_grad(REDUCTIONS[name], grad_input(x, device, layout))


def test_step_functions_have_zero_gradient(device):
    x = leaf([0.4, -1.6, 2.5], device)
    y = x.floor() + x.ceil() + x.round() + x.sign()
    assert y.requires_grad
    (y.sum() + x.sum()).backward()
    assert_close(x.grad, np.ones(3))


def test_prod_grad_with_a_zero(device):
    x = leaf([2.0, 0.0, 3.0], device)
    x.prod().backward()
    assert_close(x.grad, np.array([0.0, 6.0, 0.0]))


def test_amax_grad_splits_ties_evenly(device):
    # torch.amax/amin distribute the gradient evenly between equal extreme values.
    x = leaf([1.0, 3.0, 3.0, 2.0], device)
    x.amax().backward()
    assert_close(x.grad, np.array([0.0, 0.5, 0.5, 0.0]))


def test_norm_grad_at_zero_is_zero(device):
    x = leaf([0.0, 0.0, 0.0], device)
    x.norm().backward()
    assert_close(x.grad, np.zeros(3))


def test_subgradients_at_kinks_match_torch(device):
    x = leaf([0.0, 1.0], device)
    (x.abs() + x.relu()).sum().backward()
    assert_close(x.grad, np.array([0.0, 2.0]))  # sign(0) = 0, relu'(0) = 0
    m = leaf([1.0, 1.0], device)
    ember.maximum(m, ember.tensor([1.0, 0.0], dtype=ember.float64, device=device)).sum().backward()
    assert_close(m.grad, np.array([0.5, 1.0]))  # ties split the gradient
    c = leaf([0.5, 1.5, 2.0], device)
    c.clamp(0.5, 1.5).sum().backward()
    assert_close(c.grad, np.array([1.0, 1.0, 0.0]))  # the bounds themselves pass the gradient


def test_grad_through_dtype_casts(device):
    x = leaf([1.0, 2.0], device)
    (x.float() * 3).sum().backward()
    assert x.grad.dtype == ember.float64
    assert_close(x.grad, np.array([3.0, 3.0]))
    y = ember.tensor([1.0, 2.0], requires_grad=True, device=device)
    (y.double() * y.double()).sum().backward()
    assert y.grad.dtype == ember.float32
    assert_close(y.grad, np.array([2.0, 4.0], dtype=np.float32))


def test_duplicate_indices_accumulate_grad(device):
    x = leaf([1.0, 2.0, 3.0], device)
    (x[[0, 0, 2]] * ember.tensor([1.0, 2.0, 3.0], dtype=ember.float64, device=device)).sum().backward()
    assert_close(x.grad, np.array([3.0, 0.0, 3.0]))
    y = leaf([1.0, 2.0, 3.0], device)
    y.index_select(0, ember.tensor([1, 1], device=device)).sum().backward()
    assert_close(y.grad, np.array([0.0, 2.0, 0.0]))


def test_multiple_hooks_run_in_order(device):
    x = leaf([1.0], device)
    x.register_hook(lambda g: g * 2)
    x.register_hook(lambda g: g + 1)
    (x * 1).sum().backward()
    assert_close(x.grad, np.array([3.0]))


def test_backward_create_graph_gives_differentiable_grad(device):
    x = leaf([1.0, 2.0], device)
    (x**3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    (gg,) = ember.autograd.grad(g.sum(), x)
    assert_close(gg, 6 * np.array([1.0, 2.0]))


def test_max_dim_grad_goes_to_returned_index(device):
    x = leaf([[1.0, 3.0, 3.0], [5.0, 0.0, 5.0]], device)
    v, i = x.max(dim=1)
    v.sum().backward()
    assert i.tolist() == [1, 0]
    assert_close(x.grad, np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))


# ------------------------------------------------------------------------------ view gradients

VIEWS = {
    "view": lambda t: t.view(4, 6),
    "view_infer": lambda t: t.view(-1),
    "reshape": lambda t: t.reshape(3, 8),
    "permute": lambda t: t.permute(2, 0, 1),
    "transpose": lambda t: t.transpose(0, 2),
    "T": lambda t: t.T,
    "mT": lambda t: t.mT,
    "unsqueeze": lambda t: t.unsqueeze(1),
    "squeeze": lambda t: t.unsqueeze(0).squeeze(0),
    "expand": lambda t: t[:, :1].expand(2, 5, 4),
    "broadcast_to": lambda t: ember.broadcast_to(t[0], (3, 3, 4)),
    "flatten": lambda t: t.flatten(1),
    "unflatten": lambda t: t.unflatten(2, (2, 2)),
    "narrow": lambda t: t.narrow(2, 1, 2),
    "select": lambda t: t.select(1, -1),
    "contiguous": lambda t: t.transpose(0, 1).contiguous(),
    "clone": lambda t: t.clone(),
    "flip": lambda t: t.flip(0, 2),
    "roll": lambda t: t.roll(1, 2),
    "roll_flat": lambda t: t.roll(3),
    "repeat": lambda t: t.repeat(2, 1, 2),
    "tril": lambda t: t.tril(),
    "triu": lambda t: t.triu(1),
    "split0": lambda t: t.split(2, dim=2)[1],
    "split_sizes": lambda t: t.split([1, 3], dim=2)[1] * 2,
    "chunk": lambda t: t.chunk(3, dim=1)[2],
    "unbind": lambda t: t.unbind(1)[1],
    "cat": lambda t: ember.cat([t, t * 2], dim=1),
    "stack": lambda t: ember.stack([t, t.exp()], dim=-1),
    "getitem_int": lambda t: t[1],
    "getitem_slice": lambda t: t[:, 1:, ::2],
    "getitem_none_ellipsis": lambda t: t[None, ..., 1],
    "getitem_list": lambda t: t[:, [0, 2, 0]],
    "getitem_tensor_dup": lambda t: t[ember.tensor([1, 1, 0])],
    "getitem_two_lists": lambda t: t[[0, 1], [2, 0]],
    "getitem_mask": lambda t: t[t > 0],
    "getitem_row_mask": lambda t: t[:, ember.tensor([True, False, True])],
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_and_shape_op_gradcheck(device, name):
    x = leaf(_rng().normal(size=(2, 3, 4)), device)
    check_grad(VIEWS[name], x)


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
def test_view_ops_on_non_contiguous_input_gradcheck(device, layout):
    x = _rng().normal(size=(3, 4))
    w = ember.arange(12, dtype=ember.float64, device=device)
    check_grad(lambda t: t.reshape(12) * w, grad_input(x, device, layout))
    check_grad(lambda t: t.flatten() * w, grad_input(x, device, layout))
    check_grad(lambda t: t[1:, ::2], grad_input(x, device, layout))
    check_grad(lambda t: t.permute(1, 0).unsqueeze(0).expand(2, 4, 3), grad_input(x, device, layout))


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
def test_grad_of_non_contiguous_leaf(device, layout):
    x = _rng().normal(size=(3, 4))
    t = leaf(x, device, layout=layout)
    assert not t.is_contiguous() and t.is_leaf
    w = np.arange(12.0).reshape(3, 4)
    (t * make(w, device)).exp().sum().backward()
    assert t.grad.shape == (3, 4)
    assert_close(t.grad, w * np.exp(x * w), rtol=1e-10)
    t2 = leaf(x, device, layout=layout)
    (t2.reshape(12) * ember.arange(12, dtype=ember.float64, device=device)).sum().backward()
    assert_close(t2.grad, w)


# ------------------------------------------------------------------------- indexing gradients


def test_gather_scatter_index_select_masked_fill_gradcheck(device):
    rng = _rng()
    x = leaf(rng.normal(size=(3, 4)), device)
    src = leaf(rng.normal(size=(2, 4)), device)
    idx = ember.tensor([[0, 1, 2, 0], [2, 2, 1, 1]], device=device)
    uniq = ember.tensor([[0, 1, 2, 0], [2, 0, 1, 1]], device=device)
    check_grad(lambda t: t.gather(0, idx), x)
    check_grad(lambda t: t.gather(1, ember.tensor([[3, 3], [0, 1], [2, 2]], device=device)), x)
    check_grad(lambda t, s: t.scatter_add(0, idx, s), x, src)
    check_grad(lambda t, s: t.scatter(0, uniq, s), x, src)
    check_grad(lambda t: t.scatter(1, ember.tensor([[0], [3], [1]], device=device), 0.5), x)
    check_grad(lambda t: t.index_select(1, ember.tensor([3, 0, 3], device=device)), x)
    mask = ember.tensor([[True, False, False, True]], device=device)
    check_grad(lambda t: t.masked_fill(mask, 2.0), x)
    check_grad(lambda t: ember.where(mask, t, t * t), x)


# ------------------------------------------------------------------------------ linear algebra

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 2)),
    ((2, 3), (3, 4)),
    ((2, 2, 3), (2, 3, 2)),
    ((2, 2, 3), (3, 2)),
    ((2, 1, 2, 3), (3, 3, 2)),
    ((3,), (2, 3, 2)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_gradcheck(device, shapes):
    rng = _rng()
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    check_grad(lambda x, y: x @ y, leaf(a, device), leaf(b, device))


@pytest.mark.parametrize("la", LAYOUTS)
def test_mm_bmm_dot_addmm_gradcheck(device, la):
    rng = _rng()
    a = grad_input(rng.normal(size=(3, 4)), device, la)
    b = grad_input(rng.normal(size=(4, 2)), device, la)
    c = leaf(rng.normal(size=(2,)), device)
    check_grad(lambda x, y: x.mm(y), a, b)
    check_grad(lambda x, y, z: ember.addmm(z, x, y, beta=0.5, alpha=-2.0), a, b, c)
    u, v = leaf(rng.normal(size=4), device), leaf(rng.normal(size=4), device)
    check_grad(lambda p, q: p.dot(q), u, v)
    check_grad(lambda p, q: ember.outer(p, q), u, v)
    p = leaf(rng.normal(size=(2, 3, 4)), device)
    q = leaf(rng.normal(size=(2, 4, 2)), device)
    check_grad(lambda s, t: s.bmm(t), p, q)


@pytest.mark.parametrize(
    "eq,shapes",
    [
        ("ij,jk->ik", [(2, 3), (3, 2)]),
        ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
        ("ij->j", [(2, 3)]),
        ("i,j->ij", [(2,), (3,)]),
        ("ij,ij->", [(2, 3), (2, 3)]),
        ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ],
)
def test_einsum_gradcheck(device, eq, shapes):
    rng = _rng()
    ins = [leaf(rng.normal(size=s), device) for s in shapes]
    check_grad(lambda *ts: ember.einsum(eq, *ts), *ins)


def test_sort_topk_values_gradcheck(device):
    x = leaf(_distinct((3, 4), _rng()), device)
    check_grad(lambda t: t.sort(dim=1)[0], x)
    check_grad(lambda t: t.sort(dim=0, descending=True).values, x)
    check_grad(lambda t: t.topk(2).values, x)
    check_grad(lambda t: t.topk(1, dim=0, largest=False)[0], x)


# -------------------------------------------------------------------- in-place ops in the graph
#
# torch records an in-place op on a tensor in the graph as a new node (saving a clone of the
# original value where the backward formula needs it) and records in-place writes through a
# view (setitem, view.mul_) on the base via CopySlices.



def test_in_place_scalar_mul_on_non_leaf(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x * 1.0
    y.mul_(2)
    assert y.grad_fn is not None
    y.sum().backward()
    assert_close(x.grad, np.full(3, 2.0))


def test_in_place_add_tensor_on_non_leaf(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x + 0
    y.add_(x, alpha=2)
    y.sum().backward()
    assert_close(x.grad, np.full(3, 3.0))


def test_in_place_unary_gradcheck(device):
    for name in ["tanh_", "sigmoid_", "sin_", "exp_", "neg_"]:
        check_grad(lambda t, n=name: getattr(t * 1.0, n)(), leaf(_rng().normal(size=(4,)), device))


def test_in_place_ops_on_non_leaf_gradcheck(device):
    def f(t):
        y = t * 1.0
        y.mul_(2)
        y.add_(t, alpha=0.5)
        y.exp_()
        y.sub_(1)
        y.div_(t + 3)
        y.clamp_(-10, 10)
        return y

    x = leaf(_rng().uniform(-1, 1, size=(2, 3)), device)
    check_grad(f, x)


def test_in_place_on_view_of_non_leaf(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x + 0
    y[1:].mul_(3)
    y.sum().backward()
    assert_close(x.grad, np.array([1.0, 3.0, 3.0]))


def test_setitem_constant_on_non_leaf(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x + 0
    y[0] = 7.0
    y.sum().backward()
    assert_close(x.grad, np.array([0.0, 1.0, 1.0]))


def test_zero_on_non_leaf(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x.clone()
    y.zero_()
    (y + x).sum().backward()
    assert_close(x.grad, np.ones(3))


def test_in_place_on_view_of_non_leaf_gradcheck(device):
    def f(t):
        y = t * 2.0
        y[0].mul_(3)
        y.t()[1].add_(1)
        return y.sin()

    check_grad(f, leaf(_rng().normal(size=(2, 3)), device))


def test_setitem_on_non_leaf_gradcheck(device):
    x = leaf(_rng().normal(size=(3, 4)), device)
    v = leaf(_rng().normal(size=(4,)), device)

    def f(t, val):
        y = t * 1.0
        y[1] = val * 2
        y[:, 0] = 0.0
        return y

    check_grad(f, x, v)


def test_setitem_with_index_tensor_gradcheck(device):
    x = leaf(_rng().normal(size=(4, 3)), device)
    v = leaf(_rng().normal(size=(2, 3)), device)

    def f(t, val):
        y = t.clone()
        y[ember.tensor([3, 0], device=device)] = val
        return y * y

    check_grad(f, x, v)


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "relu", "sqrt", "rsqrt"])
def test_ops_saving_only_their_result_allow_input_modification(device, name):
    x = leaf([0.5, 1.0, 1.5], device)
    h = x * 1.5
    y = getattr(h, name)()
    expect = to_np(y).copy()
    with ember.no_grad():
        h.add_(1.0)
    y.sum().backward()
    g = {"exp": expect, "tanh": 1 - expect**2, "sigmoid": expect * (1 - expect), "relu": (expect > 0) * 1.0,
         "sqrt": 0.5 / expect, "rsqrt": -0.5 * expect**3}[name]
    assert_close(x.grad, 1.5 * g, rtol=1e-10)


def test_copy_into_non_leaf_grad(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x.clone()
    y.copy_(x * x)
    y.sum().backward()
    assert_close(x.grad, np.array([2.0, 4.0, 6.0]))


def test_masked_fill_in_place_grad(device):
    x = leaf([1.0, 2.0, 3.0, 4.0], device)
    y = x * 2
    y.masked_fill_(ember.tensor([True, False, False, True], device=device), 0.0)
    y.sum().backward()
    assert_close(x.grad, np.array([0.0, 2.0, 2.0, 0.0]))


# ----------------------------------------------------------------------- analytic NumPy checks


def test_mlp_grad_matches_numpy(device):
    rng = _rng()
    W = rng.normal(size=(4, 3))
    b = rng.normal(size=(4,))
    X = rng.normal(size=(5, 3))
    tW, tb = leaf(W, device), leaf(b, device)
    tX = make(X, device)
    out = (tX @ tW.t() + tb).tanh()
    loss = (out**2).mean()
    loss.backward()
    # NumPy: loss = mean(tanh(XW^T + b)^2)
    z = X @ W.T + b
    h = np.tanh(z)
    dz = 2 * h * (1 - h**2) / h.size
    assert_close(tW.grad, dz.T @ X, rtol=1e-10)
    assert_close(tb.grad, dz.sum(0), rtol=1e-10)
    assert abs(loss.item() - (h**2).mean()) < 1e-12


def test_softmax_cross_entropy_grad_matches_numpy(device):
    rng = _rng()
    logits = rng.normal(size=(4, 5))
    target = np.array([1, 0, 4, 2])
    t = leaf(logits, device)
    logp = t.log_softmax(dim=1)
    loss = -logp.gather(1, ember.tensor(target, device=device).unsqueeze(1)).mean()
    loss.backward()
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expect = p.copy()
    expect[np.arange(4), target] -= 1
    assert_close(t.grad, expect / 4, rtol=1e-10, atol=1e-12)


def test_broadcast_grad_is_summed_to_input_shape(device):
    a = leaf(np.ones((3, 1)), device)
    b = leaf(np.arange(4.0), device)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1)
    assert_close(a.grad, np.full((3, 1), 6.0))
    assert_close(b.grad, np.full(4, 3.0))


def test_norm_grad_matches_independent_finite_differences(device):
    x = _rng().normal(size=(3, 4))
    t = leaf(x, device)
    (t.norm(dim=1) * ember.tensor([1.0, -2.0, 0.5], dtype=ember.float64, device=device)).sum().backward()

    def f(a):
        return (np.linalg.norm(a, axis=1) * np.array([1.0, -2.0, 0.5])).sum()

    assert_close(t.grad, numeric_grad(f, x), rtol=1e-6, atol=1e-8)


def test_var_std_grad_matches_numpy(device):
    x = _rng().normal(size=(6,))
    t = leaf(x, device)
    t.var().backward()
    assert_close(t.grad, 2 * (x - x.mean()) / (x.size - 1), rtol=1e-10)
    t2 = leaf(x, device)
    t2.std(unbiased=False).backward()
    assert_close(t2.grad, (x - x.mean()) / (x.size * x.std()), rtol=1e-10)


def test_float32_grads_stay_float32(device):
    x = ember.randn(3, 4, requires_grad=True, device=device)
    (x.exp() * 2).sum().backward()
    assert x.grad.dtype == ember.float32
    assert_close(x.grad, 2 * np.exp(to_np(x)), rtol=1e-5)


# ------------------------------------------------------------------------------ tape semantics


def test_leaf_and_grad_fn_flags(device):
    x = ember.ones(2, requires_grad=True, device=device)
    c = ember.ones(2, device=device)
    assert x.is_leaf and x.grad_fn is None and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    z = c * 2
    assert z.is_leaf and z.grad_fn is None and not z.requires_grad
    assert (y + z).requires_grad
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None


def test_grad_is_none_before_backward_and_accumulates(device):
    x = leaf([1.0, 2.0], device)
    assert x.grad is None
    (x * x).sum().backward()
    assert_close(x.grad, np.array([2.0, 4.0]))
    (x * 3).sum().backward()
    assert_close(x.grad, np.array([5.0, 7.0]))
    x.grad = None
    x.sum().backward()
    assert_close(x.grad, np.array([1.0, 1.0]))
    x.grad.zero_()
    assert_close(x.grad, np.zeros(2))


def test_retain_graph_allows_second_backward(device):
    x = leaf([1.0, 2.0], device)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = to_np(x.grad).copy()
    y.backward()
    assert_close(x.grad, 2 * g1, rtol=1e-12)


def test_backward_with_gradient_argument(device):
    x = leaf([[1.0, 2.0], [3.0, 4.0]], device)
    y = x**2
    y.backward(ember.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=ember.float64, device=device))
    assert_close(x.grad, np.array([[2.0, 0.0], [3.0, 16.0]]))
    z = leaf([1.0, 2.0], device)
    ember.autograd.backward([z * 3], [ember.ones(2, dtype=ember.float64, device=device)])
    assert_close(z.grad, np.array([3.0, 3.0]))


def test_backward_inputs_argument(device):
    a, b = leaf([1.0], device), leaf([2.0], device)
    (a * b).sum().backward(inputs=[a])
    assert_close(a.grad, np.array([2.0]))
    assert b.grad is None


def test_non_leaf_grad_and_retain_grad(device):
    x = leaf([1.0, 2.0], device)
    y = x * 3
    y.retain_grad()
    assert y.retains_grad
    z = x * 4
    (y * y + z).sum().backward()
    assert_close(y.grad, 2 * np.array([3.0, 6.0]))
    assert z.grad is None
    assert_close(x.grad, 18 * np.array([1.0, 2.0]) + 4)


def test_register_hook_on_leaf_and_intermediate(device):
    x = leaf([1.0, 2.0, 3.0], device)
    seen = []
    x.register_hook(lambda g: seen.append(to_np(g)) or g * 10)
    y = x * 2
    y.register_hook(lambda g: g + 1)  # changes the gradient flowing to x
    y.sum().backward()
    np.testing.assert_allclose(seen[0], [4.0, 4.0, 4.0])
    assert_close(x.grad, np.full(3, 40.0))


def test_hook_returning_none_keeps_gradient(device):
    x = leaf([1.0, 2.0], device)
    calls = []
    x.register_hook(lambda g: calls.append(1))
    (x * 5).sum().backward()
    assert calls == [1]
    assert_close(x.grad, np.array([5.0, 5.0]))


def test_detach_blocks_gradient(device):
    x = leaf([1.0, 2.0], device)
    y = x * x.detach()  # d/dx = x (detached factor is constant)
    y.sum().backward()
    assert_close(x.grad, np.array([1.0, 2.0]))
    d = x.detach()
    assert d.data_ptr() == x.data_ptr()  # shares storage


def test_detach_in_place(device):
    x = leaf([1.0], device)
    y = x * 2
    y.detach_()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


def test_no_grad_and_enable_grad(device):
    x = leaf([1.0, 2.0], device)
    with ember.no_grad():
        assert not ember.is_grad_enabled()
        y = x * 2
        with ember.enable_grad():
            w = x * 2
    assert ember.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert w.requires_grad

    @ember.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert ember.is_grad_enabled()


def test_set_grad_enabled_forms(device):
    x = leaf([1.0], device)
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    ember.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        ember.set_grad_enabled(True)
    assert (x * 2).requires_grad
    with ember.inference_mode():
        assert not (x * 2).requires_grad


def test_no_grad_restores_mode_after_exception(device):
    with pytest.raises(ValueError):
        with ember.no_grad():
            raise ValueError("boom")
    assert ember.is_grad_enabled()


def test_in_place_under_no_grad_on_leaf_is_allowed(device):
    w = leaf([1.0, 2.0], device)
    (w * w).sum().backward()
    with ember.no_grad():
        w -= 0.1 * w.grad
    assert w.is_leaf and w.requires_grad
    assert_close(w, np.array([0.8, 1.6]))


def test_requires_grad_toggle(device):
    x = ember.tensor([1.0, 2.0], device=device)
    assert x.requires_grad_() is x
    assert x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad


def test_autograd_grad_returns_tuple_and_leaves_grad_untouched(device):
    x = leaf([1.0, 2.0], device)
    y = leaf([3.0], device)
    out = (x * x * y).sum()
    gx, gy = ember.autograd.grad(out, (x, y))
    assert_close(gx, np.array([6.0, 12.0]))
    assert_close(gy, np.array([5.0]))
    assert x.grad is None and y.grad is None


def test_autograd_grad_allow_unused(device):
    x, u = leaf([1.0], device), leaf([1.0], device)
    gx, gu = ember.autograd.grad((x * 2).sum(), (x, u), allow_unused=True)
    assert_close(gx, np.array([2.0]))
    assert gu is None


def test_second_derivative_with_create_graph(device):
    x = leaf([0.5, -1.0, 2.0], device)
    y = (x**3).sum()
    (g,) = ember.autograd.grad(y, x, create_graph=True)
    assert_close(g, 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    assert g.requires_grad
    (h,) = ember.autograd.grad(g.sum(), x)
    assert_close(h, 6 * np.array([0.5, -1.0, 2.0]))


@pytest.mark.parametrize(
    "name,fn",
    [
        ("tanh", lambda t: t.tanh()),
        ("sigmoid", lambda t: t.sigmoid()),
        ("exp_mul", lambda t: t.exp() * t),
        ("softmax", lambda t: t.softmax(0) * ember.arange(4, dtype=ember.float64, device=t.device)),
        ("log_softmax", lambda t: t.log_softmax(0) * ember.arange(4, dtype=ember.float64, device=t.device)),
        ("div", lambda t: 1 / (t * t + 1)),
        ("sqrt", lambda t: (t * t + 1).sqrt()),
        ("matmul", lambda t: t @ (t.unsqueeze(1) * t.unsqueeze(0))),
        ("logsumexp", lambda t: t.logsumexp(0)),
        ("norm", lambda t: t.norm() * t),
    ],
)
def test_double_backward_gradcheck(device, name, fn):
    # The gradient (built with create_graph=True) is itself differentiated and checked.
    x = leaf(np.array([0.3, -0.7, 1.1, 0.2]), device)

    def grad_fn(t):
        (g,) = ember.autograd.grad(fn(t).sum(), t, create_graph=True)
        return g

    check_grad(grad_fn, x)


def test_hessian_vector_product_matches_numpy(device):
    A = _rng().normal(size=(3, 3))
    A = A + A.T
    x = leaf([0.1, 0.2, -0.3], device)
    tA = make(A, device)
    f = 0.5 * (x @ (tA @ x)) + (x**4).sum()
    (g,) = ember.autograd.grad(f, x, create_graph=True)
    v = ember.tensor([1.0, -1.0, 2.0], dtype=ember.float64, device=device)
    (hv,) = ember.autograd.grad((g * v).sum(), x)
    xv = np.array([0.1, 0.2, -0.3])
    H = A + np.diag(12 * xv**2)
    assert_close(hv, H @ np.array([1.0, -1.0, 2.0]), rtol=1e-10)


def test_gradient_flows_through_many_uses(device):
    x = leaf([2.0], device)
    y = x
    for _ in range(50):
        y = y * 1.01 + x * 0.0
    y.backward(ember.ones(1, dtype=ember.float64, device=device))
    assert_close(x.grad, np.array([1.01**50]), rtol=1e-10)


def test_cat_stack_split_grads_route_correctly(device):
    a, b = leaf([1.0, 2.0], device), leaf([3.0], device)
    c = ember.cat([a, b])
    (c * ember.tensor([1.0, 2.0, 3.0], dtype=ember.float64, device=device)).sum().backward()
    assert_close(a.grad, np.array([1.0, 2.0]))
    assert_close(b.grad, np.array([3.0]))
    x = leaf(np.arange(6.0), device)
    p, q = x.split([2, 4])
    (p.sum() * 2 + (q * q).sum()).backward()
    assert_close(x.grad, np.array([2.0, 2.0, 4.0, 6.0, 8.0, 10.0]))


# ------------------------------------------------------------------------------- gradcheck


def test_gradcheck_detects_wrong_gradient(device):
    x = leaf([0.5, 1.5], device)
    # x * x.detach(): the tape says d/dx = x, finite differences say 2x.
    assert ember.autograd.gradcheck(lambda t: t * t.detach(), (x,), raise_exception=False) is False
    with pytest.raises(RuntimeError):
        ember.autograd.gradcheck(lambda t: t * t.detach(), (x,))


def test_gradcheck_accepts_correct_gradient_and_multiple_outputs(device):
    x = leaf([0.5, 1.5], device)
    y = leaf([[1.0, 2.0], [3.0, 4.0]], device)
    assert ember.autograd.gradcheck(lambda a, b: (a * b, (a @ b).exp()), (x, y))


def test_gradcheck_scalar_output(device):
    x = leaf([0.5, 1.5], device)
    assert ember.autograd.gradcheck(lambda t: (t * t).sum(), (x,))


def test_gradcheck_non_contiguous_input(device):
    x = leaf(np.arange(6.0).reshape(2, 3) + 1, device, layout="transposed")
    assert ember.autograd.gradcheck(lambda t: t * t, (x,))
