"""Module functions composed from native ops: *_like creation, einsum, addmm and friends."""


from . import _core
from ._core import Tensor


def _like(t, dtype, device):
    return (dtype if dtype is not None else t.dtype), (device if device is not None else t.device)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    d, dev = _like(input, dtype, device)
    return _core.zeros(input.shape, dtype=d, device=dev, requires_grad=requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    d, dev = _like(input, dtype, device)
    return _core.ones(input.shape, dtype=d, device=dev, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    d, dev = _like(input, dtype, device)
    return _core.full(input.shape, fill_value, dtype=d, device=dev, requires_grad=requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False):
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    d, dev = _like(input, dtype, device)
    return _core.rand(input.shape, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    d, dev = _like(input, dtype, device)
    return _core.randn(input.shape, dtype=d, device=dev, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None):
    if high is None:
        low, high = 0, low
    d, dev = _like(input, dtype, device)
    return _core.randint(low, high, tuple(input.shape), dtype=d, device=dev)


def normal(mean, std, size=None, *, generator=None):
    """Samples N(mean, std) for float mean/std and a size."""
    t = _core.zeros(size if size is not None else (), dtype=_core.get_default_dtype())
    return t.normal_(float(mean), float(std), generator=generator)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    prod = mat1.mm(mat2)
    if alpha != 1:
        prod = prod * alpha
    return (input * beta if beta != 1 else input) + prod


class finfo:
    """Machine limits of a floating point dtype, as ``torch.finfo``."""

    def __init__(self, type=None):
        import numpy as np

        type = _core.float32 if type is None else type
        name = repr(type).split(".")[-1]
        if name == "bfloat16":
            self.bits, self.eps, self.max, self.tiny, self.resolution = 16, 0.0078125, 3.3895313892515355e38, 1.1754943508222875e-38, 0.01
        elif name in ("float16", "float32", "float64"):
            info = np.finfo(getattr(np, name))
            self.bits, self.eps, self.max, self.tiny, self.resolution = info.bits, float(info.eps), float(info.max), float(info.tiny), float(info.resolution)
        else:
            raise TypeError(f"ember.finfo() requires a floating point input type, got {type!r}")
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.dtype = name

    def __repr__(self):
        return f"finfo(resolution={self.resolution}, min={self.min:e}, max={self.max:e}, eps={self.eps:e}, tiny={self.tiny:e}, dtype={self.dtype})"


def is_tensor(obj):
    return isinstance(obj, Tensor)


def broadcast_to(input, size):
    return input.expand(*size)


def outer(input, vec2):
    for name, t in (("self", input), ("vec2", vec2)):
        if t.dim() != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.dim()}-D")
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def square(input):
    return input * input


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return input._unary("gelu_tanh" if approximate == "tanh" else "gelu_erf")


def silu(input):
    return input._unary("silu")


def softplus(input, beta=1.0, threshold=20.0):
    if beta == 1.0 and threshold == 20.0:
        return input._unary("softplus")
    scaled = input * beta
    return _core.where(scaled > threshold, input, scaled._unary("softplus") / beta)


def _expand_ellipsis(terms, out, operands):
    """Replaces '...' by letters not used elsewhere, right-aligned across operands (broadcasting)."""
    used = set("".join(terms) + (out or ""))
    spare = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in used]
    widths = [op.dim() - (len(t) - 3) if "..." in t else 0 for t, op in zip(terms, operands)]
    width = max(widths, default=0)
    letters = "".join(reversed(spare[:width]))
    terms = [t.replace("...", letters[width - w:]) for t, w in zip(terms, widths)]
    if out is not None:
        out = out.replace("...", letters)
    return terms, out, letters


def _take_diagonals(term, x):
    """Repeated subscripts in one operand ('ii') keep only the diagonal of those dims."""
    while True:
        repeated = [(i, j) for i in range(len(term)) for j in range(i + 1, len(term)) if term[i] == term[j]]
        if not repeated:
            return term, x
        i, j = repeated[0]
        n = x.shape[i]
        shape = [1] * x.dim()
        shape[i] = shape[j] = n
        mask = _core.eye(n, dtype=x.dtype, device=x.device).reshape(*shape)
        x = (x * mask).sum(dim=j)
        term = term[:j] + term[j + 1:]


def _check_subscripts(terms, out):
    """PyTorch's equation checks: letters only, each output letter once and taken from an input."""
    if out is not None and "->" in out:
        raise RuntimeError("einsum(): the equation has more than one '->'")
    for c in "".join(terms) + (out or ""):
        if not (c.isascii() and c.isalpha()) and c not in ".":
            raise RuntimeError(f"einsum(): invalid subscript given in the equation string: {c!r}, subscripts must be in [a-zA-Z]")
    if out is None:
        return
    inputs = set("".join(terms))
    for c in out.replace("...", ""):
        if out.count(c) > 1:
            raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the output")
        if c not in inputs:
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation for any input operand")


def einsum(equation, *operands):
    """Einstein summation: a matmul when the contraction is one, else broadcast-multiply and sum."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    lhs, out = eq.split("->", 1) if "->" in eq else (eq, None)
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): {len(terms)} operand subscripts for {len(operands)} operands")
    _check_subscripts(terms, out)
    terms, out, ell = _expand_ellipsis(terms, out, operands)
    for term, op in zip(terms, operands):
        if len(term) != op.dim():
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(term)}) does not match the number of dimensions ({op.dim()}) for operand {terms.index(term)}")
    sizes = {}
    for term, op in zip(terms, operands):
        for c, n in zip(term, op.shape):
            if n != 1 and sizes.setdefault(c, n) != n:
                shapes = " ".join(str(list(o.shape)) for o in operands)
                raise RuntimeError(f"einsum(): operands do not broadcast: subscript {c} has size {sizes[c]} and {n} (operand shapes {shapes})")
    # A size-1 dimension broadcasts against its letter's size elsewhere, as in PyTorch.
    operands = [op.expand(*(sizes.get(c, 1) if n == 1 else n for c, n in zip(term, op.shape)))
                if op.dim() else op for term, op in zip(terms, operands)]
    if out is None:
        counts = {}
        for c in "".join(terms):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    pairs = [_take_diagonals(t, op) for t, op in zip(terms, operands)]
    terms, operands = [t for t, _ in pairs], [x for _, x in pairs]
    letters = []
    for term in terms + [out]:
        for c in term:
            if c not in letters:
                letters.append(c)
    if len(operands) == 2:
        fast = _einsum_matmul(terms, out, operands)
        if fast is not None:
            return fast
    # General path: align every operand to all letters, multiply, then sum contracted letters.
    total = None
    for term, x in zip(terms, operands):
        perm = sorted(range(len(term)), key=lambda i: letters.index(term[i]))
        x = x.permute(*perm) if perm else x
        present = sorted(term, key=letters.index)
        shape = []
        j = 0
        for c in letters:
            if c in present:
                shape.append(x.shape[j])
                j += 1
            else:
                shape.append(1)
        x = x.reshape(*shape)
        total = x if total is None else total * x
    contracted = [i for i, c in enumerate(letters) if c not in out]
    if contracted:
        total = total.sum(dim=contracted)
    kept = [c for c in letters if c in out]
    perm = [kept.index(c) for c in out]
    return total.permute(*perm) if perm else total


def _einsum_matmul(terms, out, ops):
    """Batched contractions like 'bij,bjk->bik' as one matmul, without materialising products."""
    a, b = terms
    shared = [c for c in a if c in b]
    batch = [c for c in shared if c in out]
    contract = [c for c in shared if c not in out]
    m = [c for c in a if c not in b]
    n = [c for c in b if c not in a]
    if len(contract) == 0 or any(t.count(c) > 1 for t in terms for c in t):
        return None
    if sorted(batch + m + n) != sorted(out):
        return None
    x, y = ops
    xa = x.permute(*[a.index(c) for c in batch + m + contract])
    yb = y.permute(*[b.index(c) for c in batch + contract + n])
    bs = [x.shape[a.index(c)] for c in batch]
    ms = [x.shape[a.index(c)] for c in m]
    ks = [x.shape[a.index(c)] for c in contract]
    ns = [y.shape[b.index(c)] for c in n]
    prod = lambda v: __import__("math").prod(v)  # noqa: E731
    r = xa.reshape(*bs, prod(ms), prod(ks)).matmul(yb.reshape(*bs, prod(ks), prod(ns)))
    r = r.reshape(*bs, *ms, *ns)
    order = batch + m + n
    return r.permute(*[order.index(c) for c in out]) if out else r




def _same_device(what, a, b):
    if a.device != b.device:
        raise RuntimeError(
            f"{what}: expected both tensors on the same device, got {a.device} and {b.device}"
        )


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|input - other| <= atol + rtol * |other|``, as ``torch.isclose``: equal
    infinities are close, NaN is close to NaN only with ``equal_nan``."""
    if not isinstance(other, Tensor):
        other = _core.tensor(other, dtype=input.dtype, device=input.device)
    _same_device("isclose", input, other)
    if input.dtype != other.dtype:
        raise RuntimeError(
            f"isclose: {input.dtype} did not match {other.dtype} (both tensors need one dtype)"
        )
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol ({rtol}) and atol ({atol}) must be non-negative")
    exact = input == other
    if not input.dtype.is_floating_point:
        return exact
    a, b = input.detach(), other.detach()
    near = (a - b).abs() <= atol + rtol * b.abs()
    close = exact | (near & isfinite(a) & isfinite(b))
    if equal_nan:
        close = close | (isnan(a) & isnan(b))
    return close


def isnan(input):
    """Which elements are NaN."""
    return input != input


def isinf(input):
    """Which elements are +inf or -inf."""
    if not input.dtype.is_floating_point:
        return input != input
    return input.abs() == float("inf")


def isfinite(input):
    """Which elements are neither infinite nor NaN."""
    if not input.dtype.is_floating_point:
        return input == input
    return (input - input) == 0


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element of ``input`` is close to ``other`` (see :func:`isclose`)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input, other):
    """``True`` if both tensors have the same size and the same elements."""
    _same_device("equal", input, other)
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool((input.detach() == other.detach()).all())


def set_default_dtype(d):
    """Sets the dtype of floating-point tensors made without one (float32 at start): factory
    functions, Python floats, layer parameters. Only floating-point dtypes (TypeError)."""
    _core.set_default_dtype(d)


def get_default_dtype():
    """The dtype floating-point tensors get when none is given."""
    return _core.get_default_dtype()
