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


# ---------------------------------------------------------------------------------------------
# dtype promotion, as torch.result_type / promote_types / can_cast.

_FLOAT_RANK = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}
_INT_RANK = {"bool": 0, "int32": 2, "int64": 3}


def _dname(d):
    return repr(d).split(".")[-1]


def _category(d):
    n = _dname(d)
    return 0 if n == "bool" else (2 if n in _FLOAT_RANK else 1)


def promote_types(type1, type2):
    """The smallest dtype both ``type1`` and ``type2`` cast to (float16 with bfloat16: float32)."""
    a, b = _dname(type1), _dname(type2)
    if a == b:
        return type1
    order = ["bool", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
    if {a, b} == {"float16", "bfloat16"}:
        return _core.float32
    return getattr(_core, max(a, b, key=order.index))


def _scalar_dtype(v):
    import builtins

    if isinstance(v, builtins.bool):
        return _core.bool
    if isinstance(v, builtins.int):
        return _core.int64
    if isinstance(v, builtins.float):
        return _core.get_default_dtype()
    raise TypeError(f"result_type: expected a Tensor or a Python number, got {type(v).__name__}")


def _result_type(*args):
    """PyTorch's three tiers: dimensioned tensors, then 0-dim tensors, then Python numbers; a lower
    tier only counts where it is of a higher category (bool < integer < floating)."""
    tiers = [None, None, None]
    for a in args:
        if a is None:
            continue
        if isinstance(a, Tensor):
            i, d = (0 if a.dim() else 1), a.dtype
        else:
            i, d = 2, _scalar_dtype(a)
        tiers[i] = d if tiers[i] is None else promote_types(tiers[i], d)
    out = None
    for d in tiers:
        if d is None:
            continue
        if out is None:
            out = d
        elif _category(d) > _category(out):
            out = d
    return out


def result_type(tensor, other):
    """The dtype an arithmetic op on ``tensor`` and ``other`` (tensors or numbers) returns."""
    return _result_type(tensor, other)


def can_cast(from_, to):
    """Whether PyTorch's casting rules allow ``from_`` to ``to`` (no float to integer, no number to
    bool)."""
    fc, tc = _category(from_), _category(to)
    return not (fc > tc and tc < 2 or (fc == 1 and tc == 0))


class iinfo:
    """Machine limits of an integer dtype, as ``torch.iinfo``."""

    def __init__(self, type):
        name = _dname(type)
        bits = {"int32": 32, "int64": 64, "bool": 8}.get(name)
        if name not in ("int32", "int64"):
            raise TypeError(f"ember.iinfo() requires an integer input type, got {type!r}")
        self.bits, self.dtype = bits, name
        self.min, self.max = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def _as_tensor(x, like=None, dtype=None):
    if isinstance(x, Tensor):
        return x
    dev = like.device if like is not None else None
    return _core.tensor(x, dtype=dtype if dtype is not None else _scalar_dtype(x), device=dev)


def _to_float(x):
    """Integer and bool tensors widen to the default float dtype (torch's unary float ops)."""
    return x if x.dtype.is_floating_point else x.to(_core.get_default_dtype())


def _binary_float(a, b):
    """Both operands as tensors of their promoted dtype, widened to floating point."""
    d = _result_type(a, b)
    if not d.is_floating_point:
        d = _core.get_default_dtype()
    like = a if isinstance(a, Tensor) else b
    a = _as_tensor(a, like, d).to(d)
    b = _as_tensor(b, like, d).to(d)
    return a, b


def _wrap(dim, ndim):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


# ---------------------------------------------------------------------------------------------
# Shape functions.

def _tensors_arg(tensors):
    return tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tuple(tensors)


def _atleast(n, tensors):
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    ts = _tensors_arg(tensors)
    out = []
    for t in ts:
        if t.dim() == 0:
            t = t.reshape(*([1] * n))
        elif n >= 2 and t.dim() == 1:
            t = t.unsqueeze(0) if n == 2 else t.reshape(1, t.shape[0], 1)
        elif n == 3 and t.dim() == 2:
            t = t.unsqueeze(-1)
        out.append(t)
    return out[0] if single else tuple(out)


def atleast_1d(*tensors):
    return _atleast(1, tensors)


def atleast_2d(*tensors):
    return _atleast(2, tensors)


def atleast_3d(*tensors):
    return _atleast(3, tensors)


def _check_seq(name, tensors):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}(): argument 'tensors' must be tuple of Tensors, not {type(tensors).__name__}")
    if len(tensors) == 0:
        raise RuntimeError(f"{name} expects a non-empty TensorList")


def hstack(tensors):
    _check_seq("hstack", tensors)
    ts = atleast_1d(tuple(tensors))
    return _core.cat(list(ts), 0 if ts[0].dim() == 1 else 1)


def vstack(tensors):
    _check_seq("vstack", tensors)
    return _core.cat(list(atleast_2d(tuple(tensors))), 0)


row_stack = vstack


def dstack(tensors):
    _check_seq("dstack", tensors)
    return _core.cat(list(atleast_3d(tuple(tensors))), 2)


def column_stack(tensors):
    _check_seq("column_stack", tensors)
    ts = [t.reshape(t.numel(), 1) if t.dim() <= 1 else t for t in tensors]
    return _core.cat(ts, 1)


def movedim(input, source, destination):
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain the same number of dims as destination ({dst} dims)")
    n = input.dim()
    src = [_wrap(d, n) for d in src]
    dst = [_wrap(d, n) for d in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({src})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({dst})")
    perm = [None] * n
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(d for d in range(n) if d not in src)
    perm = [p if p is not None else next(rest) for p in perm]
    return input.permute(*perm) if n else input


moveaxis = movedim


def swapaxes(input, axis0, axis1):
    return input.transpose(axis0, axis1)


swapdims = swapaxes


def tile(input, dims):
    dims = [dims] if isinstance(dims, int) else list(dims)
    if len(dims) < input.dim():
        dims = [1] * (input.dim() - len(dims)) + dims
    x = input.reshape(*([1] * (len(dims) - input.dim())), *input.shape) if len(dims) > input.dim() else input
    return x.repeat(*dims)


def fliplr(input):
    if input.dim() < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return input.flip(1)


def flipud(input):
    if input.dim() < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return input.flip(0)


def rot90(input, k=1, dims=(0, 1)):
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.dim() < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.dim()}")
    d0, d1 = _wrap(dims[0], input.dim()), _wrap(dims[1], input.dim())
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return input.flip(d1).transpose(d0, d1)
    if k == 2:
        return input.flip(d0, d1)
    if k == 3:
        return input.flip(d0).transpose(d0, d1)
    return input.clone()


def tensor_split(input, indices_or_sections, dim=0):
    if input.dim() == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    dim = _wrap(dim, input.dim())
    n = input.shape[dim]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        if ios.dtype.is_floating_point or ios.dim() > 1:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be a zero-dimensional or one-dimensional tensor, but got a tensor with dims " + str(ios.dim()))
        ios = ios.item() if ios.dim() == 0 else [int(v) for v in ios.tolist()]
    if isinstance(ios, int):
        if ios <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {ios}")
        q, r = divmod(n, ios)
        bounds, start = [], 0
        for i in range(ios):
            size = q + (1 if i < r else 0)
            bounds.append((start, start + size))
            start += size
    else:
        cuts = [0] + [min(max(int(i) if int(i) >= 0 else n + int(i), 0), n) for i in ios] + [n]
        bounds = [(a, max(a, b)) for a, b in zip(cuts[:-1], cuts[1:])]
    return tuple(input.narrow(dim, a, b - a) for a, b in bounds)


def block_diag(*tensors):
    ts = []
    for i, t in enumerate(tensors):
        if t.dim() > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has {t.dim()} dimensions")
        ts.append(t.reshape(1, -1) if t.dim() < 2 else t)
    if not ts:
        return _core.zeros(1, 0)
    d = ts[0].dtype
    for t in ts[1:]:
        d = promote_types(d, t.dtype)
    total = sum(t.shape[1] for t in ts)
    rows, left = [], 0
    for t in ts:
        r, c = t.shape
        parts = []
        if left:
            parts.append(_core.zeros(r, left, dtype=d, device=t.device))
        parts.append(t.to(d))
        if total - left - c:
            parts.append(_core.zeros(r, total - left - c, dtype=d, device=t.device))
        rows.append(_core.cat(parts, 1) if len(parts) > 1 else parts[0])
        left += c
    return _core.cat(rows, 0)


def meshgrid(*tensors, indexing="ij"):
    ts = list(_tensors_arg(tensors))
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    for t in ts:
        if t.dim() > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t.dim()}D")
    ts = [t.reshape(-1) for t in ts]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.shape[0] for t in ts]
    n = len(ts)
    out = [t.reshape(*[s if j == i else 1 for j, s in enumerate(shape)]).expand(*shape) for i, t in enumerate(ts)]
    if swap:
        out[0], out[1] = out[1], out[0]
    del n
    return tuple(out)


def cartesian_prod(*tensors):
    ts = list(_tensors_arg(tensors))
    for t in ts:
        if t.dim() != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(ts) == 1:
        return ts[0]
    grids = meshgrid(*ts, indexing="ij")
    return _core.stack([g.reshape(-1) for g in grids], 1)


def combinations(input, r=2, with_replacement=False):
    """Length-r combinations of a 1-D tensor's elements, in itertools' order: PyTorch's way, an
    r-fold index grid kept where the indices increase (n**r index memory)."""
    if input.dim() != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return _core.zeros(0, dtype=input.dtype, device=input.device)
    n = input.shape[0]
    idx = _core.arange(n, dtype=_core.int64, device=input.device)
    grids = [g.reshape(-1) for g in meshgrid(*([idx] * r), indexing="ij")]
    keep = None
    for lo, hi in zip(grids[:-1], grids[1:]):
        ok = lo <= hi if with_replacement else lo < hi
        keep = ok if keep is None else keep & ok
    rows = _core.stack(grids, 1)
    if keep is not None:
        rows = rows[keep.nonzero().reshape(-1)]
    if rows.shape[0] == 0:
        return _core.zeros(0, r, dtype=input.dtype, device=input.device)
    return input.index_select(0, rows.reshape(-1)).reshape(rows.shape[0], r)


def kron(input, other):
    n = max(input.dim(), other.dim())
    a = input.reshape(*([1] * (n - input.dim())), *input.shape)
    b = other.reshape(*([1] * (n - other.dim())), *other.shape)
    ashape = [v for s in a.shape for v in (s, 1)]
    bshape = [v for s in b.shape for v in (1, s)]
    out = a.reshape(*ashape) * b.reshape(*bshape)
    return out.reshape(*[x * y for x, y in zip(a.shape, b.shape)])


def tensordot(a, b, dims=2, out=None):
    import math

    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > min(a.dim(), b.dim()):
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        da, db = list(range(a.dim() - dims, a.dim())), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
        if len(da) != len(db):
            raise RuntimeError("both dimension lists should have same length")
        da, db = [_wrap(d, a.dim()) for d in da], [_wrap(d, b.dim()) for d in db]
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} and second has size {b.shape[y]} in dim {y}")
    fa = [d for d in range(a.dim()) if d not in da]
    fb = [d for d in range(b.dim()) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    sa = [a.shape[d] for d in fa]
    sb = [b.shape[d] for d in fb]
    d = promote_types(a.dtype, b.dtype)
    xa = a.to(d).permute(*(fa + da)).reshape(math.prod(sa), k) if a.dim() else a.to(d).reshape(1, 1)
    xb = b.to(d).permute(*(db + fb)).reshape(k, math.prod(sb)) if b.dim() else b.to(d).reshape(1, 1)
    return xa.mm(xb).reshape(*sa, *sb)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    if x1.dim() < 2 or x2.dim() < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.dim()}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if not (x1.dtype.is_floating_point and x2.dtype.is_floating_point):
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {x1.dtype}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    if p == 2 and (compute_mode == "use_mm_for_euclid_dist" or (
            compute_mode == "use_mm_for_euclid_dist_if_necessary" and (x1.shape[-2] > 25 or x2.shape[-2] > 25))):
        # |x|^2 + |y|^2 - 2 x.y: one matmul, no (P, R, M) intermediate (PyTorch's route too).
        sq = ((x1 * x1).sum(-1).unsqueeze(-1) + (x2 * x2).sum(-1).unsqueeze(-2)
              - 2 * x1.matmul(x2.transpose(-1, -2))).clamp(min=0)
        return _root(sq, 2)
    diff = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).abs()
    if p == 0:
        return (diff != 0).to(x1.dtype).sum(-1)
    if p == float("inf"):
        return diff.amax(-1)
    if p == 1:
        return diff.sum(-1)
    if p == 2:
        return _root((diff * diff).sum(-1), 2)
    return _root(diff.pow(p).sum(-1), p)


def _root(s, p):
    """s ** (1/p) with a zero gradient where s is 0 (equal points), as PyTorch's cdist."""
    zero = s == 0
    safe = _core.where(zero, 1.0, s)
    r = safe.sqrt() if p == 2 else safe.pow(1.0 / p)
    return _core.where(zero, 0.0, r)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    n = input.shape[-1] if input.dim() else 1
    x = input.reshape(1) if input.dim() == 0 else input
    nd = x.dim() + 1
    d1, d2 = _wrap(dim1, nd), _wrap(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    eye = _core.eye(n, dtype=x.dtype, device=x.device)
    out = x.unsqueeze(-1) * eye
    k = abs(offset)
    if k:
        batch = list(out.shape[:-2])
        z = lambda r, c: _core.zeros(*batch, r, c, dtype=x.dtype, device=x.device)  # noqa: E731
        if offset > 0:
            out = _core.cat([z(n, k), out], -1)
            out = _core.cat([out, z(k, n + k)], -2)
        else:
            out = _core.cat([out, z(n, k)], -1)
            out = _core.cat([z(k, n + k), out], -2)
    return movedim(out, [nd - 2, nd - 1], [d1, d2])


def _tri_indices(row, col, offset, upper, dtype, device):
    if dtype is None:
        dtype = _core.int64
    r = _core.arange(row, dtype=_core.int64, device=device).unsqueeze(1)
    c = _core.arange(col, dtype=_core.int64, device=device).unsqueeze(0)
    keep = (c - r >= offset) if upper else (c - r <= offset)
    if row == 0 or col == 0:
        return _core.zeros(2, 0, dtype=dtype, device=device)
    return keep.nonzero().t().contiguous().to(dtype)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices(row, col, offset, True, dtype, device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices(row, col, offset, False, dtype, device)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    d = dtype if dtype is not None else _core.get_default_dtype()
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    e = _core.linspace(start, end, steps, dtype=_core.float64, device=device)
    out = (e * __import__("math").log(base)).exp() if base > 0 else _core.full((steps,), float(base), dtype=_core.float64, device=device) ** e
    out = out.to(d)
    return out.requires_grad_(True) if requires_grad else out


# ---------------------------------------------------------------------------------------------
# Math.

_LN2 = 0.6931471805599453


def logaddexp(input, other):
    a, b = _binary_float(input, other)
    m = a.maximum(b)
    r = m + (-(a - b).abs()).exp().log1p()
    # Equal infinities: the difference is NaN, the answer is that infinity.
    return _core.where(isinf(m) & (a == b), a, r)


def logaddexp2(input, other):
    a, b = _binary_float(input, other)
    m = a.maximum(b)
    r = m + (-(a - b).abs() * _LN2).exp().log1p() / _LN2
    return _core.where(isinf(m) & (a == b), a, r)


def exp2(input):
    return 2.0 ** _to_float(input)


def frac(input):
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"\"frac_cpu\" not implemented for '{_dname(input.dtype).capitalize()}'")
    return input - input.trunc()


def hypot(input, other):
    a, b = _binary_float(input, other)
    a, b = a.abs(), b.abs()
    hi, lo = a.maximum(b), a.minimum(b)
    safe = _core.where(hi == 0, 1.0, hi)
    q = lo / safe
    r = hi * (q * q + 1).sqrt()
    return _core.where(isinf(hi), hi, r)


def heaviside(input, values):
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes")
    values = _as_tensor(values, input, input.dtype)
    step = (input > 0).to(input.dtype)
    return _core.where(input == 0, values.to(input.dtype), step)


def sgn(input):
    return input.sign()


def logit(input, eps=None):
    x = _to_float(input)
    if eps is not None:
        x = x.clamp(eps, 1 - eps)
    return (x / (1 - x)).log()


def xlogy(input, other):
    x, y = _binary_float(input, other)
    x, y = broadcast_tensors(x, y)
    zero = (x == 0) & ~isnan(y)
    y_safe = _core.where(zero, 1.0, y)
    return _core.where(zero, 0.0, x * y_safe.log())


def float_power(input, exponent):
    like = input if isinstance(input, Tensor) else exponent
    a = _as_tensor(input, like, _core.float64).to(_core.float64)
    if isinstance(exponent, Tensor):
        exponent = exponent.to(_core.float64)
    else:
        exponent = float(exponent)
    return a.pow(exponent) if isinstance(input, Tensor) else a.pow(exponent)


def deg2rad(input):
    return _to_float(input) * (3.141592653589793 / 180.0)


def rad2deg(input):
    return _to_float(input) * (180.0 / 3.141592653589793)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    if not input.dtype.is_floating_point:
        return input.clone()
    info = finfo(input.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = _core.where(isnan(input), float(nan), input)
    x = _core.where(input == float("inf"), float(posinf), x)
    return _core.where(input == float("-inf"), float(neginf), x)


def clamp_min(input, min):
    """max(input, min); ``min`` a number or a tensor that broadcasts."""
    return input.maximum(min.to(promote_types(input.dtype, min.dtype))) if isinstance(min, Tensor) else input.clamp(min=min)


def clamp_max(input, max):
    """min(input, max); ``max`` a number or a tensor that broadcasts."""
    return input.minimum(max.to(promote_types(input.dtype, max.dtype))) if isinstance(max, Tensor) else input.clamp(max=max)


def addcmul(input, tensor1, tensor2, *, value=1):
    prod = tensor1 * tensor2
    return input + (prod * value if value != 1 else prod)


def addcdiv(input, tensor1, tensor2, *, value=1):
    if not tensor1.dtype.is_floating_point and not tensor2.dtype.is_floating_point:
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future release addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future addcdiv behavior is just the latter implementation: (input + value * tensor1 / tensor2), for all dtypes.")
    q = tensor1 / tensor2
    return input + (q * value if value != 1 else q)


def lerp(input, end, weight):
    if isinstance(end, Tensor) and end.dtype != input.dtype:
        raise RuntimeError(f"expected dtype {_dname(input.dtype)} for `end` but got dtype {_dname(end.dtype)}")
    if isinstance(weight, Tensor) and weight.dtype != input.dtype:
        raise RuntimeError(f"expected dtype {_dname(input.dtype)} for `weight` but got dtype {_dname(weight.dtype)}")
    d = end - input
    if not isinstance(weight, Tensor):
        return input + d * weight if abs(weight) < 0.5 else end - d * (1 - weight)
    return _core.where(weight.abs() < 0.5, input + d * weight, end - d * (1 - weight))


def _broadcast_shape(shapes):
    n = max((len(s) for s in shapes), default=0)
    out = [1] * n
    for shape in shapes:
        for i, size in enumerate(shape):
            j = n - len(shape) + i
            if size != 1:
                if out[j] not in (1, size):
                    raise RuntimeError(f"The size of tensor a ({out[j]}) must match the size of tensor b ({size}) at non-singleton dimension {j}")
                out[j] = size
    return out


def broadcast_tensors(*tensors):
    """The tensors expanded (views, no copies) to their common broadcast shape."""
    ts = _tensors_arg(tensors)
    shape = _broadcast_shape([tuple(t.shape) for t in ts])
    return tuple(t.expand(*shape) if tuple(t.shape) != tuple(shape) else t for t in ts)


def broadcast_shapes(*shapes):
    """The shape tensors of ``shapes`` broadcast to, computed without making any tensor."""
    from ._tensor_helpers import Size

    return Size(_broadcast_shape([(s,) if isinstance(s, int) else tuple(s) for s in shapes]))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    if input.dim() == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    dim = _wrap(dim, input.dim())
    parts = [t if t.dim() else t.reshape(*[1 if i == dim else s for i, s in enumerate(input.shape)]).expand(*[1 if i == dim else s for i, s in enumerate(input.shape)])
             for t in (prepend, input, append) if t is not None]
    x = _core.cat(parts, dim) if len(parts) > 1 else input
    for _ in range(n):
        m = x.shape[dim]
        if m == 0:
            break
        a, b = x.narrow(dim, 1, m - 1), x.narrow(dim, 0, m - 1)
        x = a.logical_xor(b) if x.dtype == _core.bool else a - b
    return x


def _diagonal(x):
    """The main diagonal of a 2-D tensor, as a strided slice of its flattening."""
    r, c = x.shape
    return x.reshape(-1)[:: c + 1][: min(r, c)] if r and c else x.reshape(-1)[:0]


def trace(input):
    if input.dim() != 2:
        raise RuntimeError("trace: expected a matrix, but got tensor with dim " + str(input.dim()))
    return _diagonal(input).sum()


def cov(input, *, correction=1, fweights=None, aweights=None):
    if input.dim() > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with {input.dim()} dimensions")
    x = input.reshape(1, -1) if input.dim() < 2 else input
    x = _to_float(x)
    nobs = x.shape[1]
    w = None
    if fweights is not None:
        if fweights.dim() > 1 or fweights.shape[0] != nobs:
            raise RuntimeError(f"cov(): expected fweights to have one dimension and size {nobs}")
        if fweights.dtype.is_floating_point:
            raise RuntimeError("cov(): expected fweights to have integral dtype")
        if bool((fweights < 0).any()):
            raise RuntimeError("cov(): fweights cannot be negative")
        w = fweights.to(x.dtype)
    if aweights is not None:
        if aweights.dim() > 1 or aweights.shape[0] != nobs:
            raise RuntimeError(f"cov(): expected aweights to have one dimension and size {nobs}")
        if not aweights.dtype.is_floating_point:
            raise RuntimeError("cov(): expected aweights to have floating point dtype")
        if bool((aweights < 0).any()):
            raise RuntimeError("cov(): aweights cannot be negative")
        aw = aweights.to(x.dtype)
        w = aw if w is None else w * aw
    if w is None:
        avg = x.mean(1)
        wsum = float(nobs)
        norm = nobs - correction
    else:
        wsum = w.sum()
        avg = (x * w).sum(1) / wsum
        if correction == 0:
            norm = wsum
        elif aweights is None:
            norm = wsum - correction
        else:
            norm = wsum - correction * (w * aweights.to(x.dtype)).sum() / wsum
    if isinstance(norm, Tensor):
        norm = norm.clamp(min=0)
    else:
        norm = max(norm, 0)
    xm = x - avg.unsqueeze(1)
    xw = xm if w is None else xm * w
    c = xw.mm(xm.t()) / norm
    return c.reshape(()) if input.dim() < 2 else c


def corrcoef(input):
    c = cov(input)
    if c.dim() == 0:
        return c / c
    d = _diagonal(c).sqrt()
    c = c / d.unsqueeze(1) / d.unsqueeze(0)
    return c.clamp(-1, 1)


def count_nonzero(input, dim=None):
    nz = input != 0
    if dim is None:
        return nz.sum()
    return nz.sum(dim=list(dim) if isinstance(dim, (list, tuple)) else dim)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    x = _core.where(isnan(input), 0.0, input) if input.dtype.is_floating_point else input
    return x.sum(dim=dim, keepdim=keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype but got {_dname(input.dtype).capitalize()}")
    count = (~isnan(input)).sum(dim=dim, keepdim=keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def _stat_args(dim, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise RuntimeError("Cannot specify both unbiased and correction")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return correction


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    c = _stat_args(dim, unbiased, correction)
    return input.std(dim, keepdim=keepdim, correction=c), input.mean(dim, keepdim=keepdim)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    c = _stat_args(dim, unbiased, correction)
    return input.var(dim, keepdim=keepdim, correction=c), input.mean(dim, keepdim=keepdim)


_aminmax = __import__("collections").namedtuple("aminmax", ["min", "max"])


def aminmax(input, *, dim=None, keepdim=False):
    if input.numel() == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no identity.")
    if dim is None:
        mn, mx = input.amin(), input.amax()
        if keepdim:
            mn, mx = mn.reshape(*([1] * input.dim())), mx.reshape(*([1] * input.dim()))
        return _aminmax(mn, mx)
    return _aminmax(input.amin(dim, keepdim), input.amax(dim, keepdim))


def _scan(x, dim, combine):
    """Inclusive scan along ``dim`` in log2(n) whole-tensor steps (Hillis-Steele): each step
    combines every element with the one ``s`` before it."""
    n = x.shape[dim]
    s = 1
    while s < n:
        x = _core.cat([x.narrow(dim, 0, s), combine(x.narrow(dim, s, n - s), x.narrow(dim, 0, n - s))], dim)
        s *= 2
    return x


def cumprod(input, dim, *, dtype=None):
    """Exact for zeros and negative values (a product scan, not exp(cumsum(log)))."""
    if dtype is not None:
        x = input.to(dtype)
    elif not input.dtype.is_floating_point:
        x = input.to(_core.int64)
    else:
        x = input
    if x.dim() == 0:
        return x.clone()
    return _scan(x, _wrap(dim, x.dim()), lambda a, b: a * b)


def logcumsumexp(input, dim):
    """log(cumsum(exp(x))) without overflow or underflow: a logaddexp scan."""
    x = _to_float(input)
    if x.dim() == 0:
        return x.clone()
    return _scan(x, _wrap(dim, x.dim()), logaddexp)


def renorm(input, p, dim, maxnorm):
    if input.dim() <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.dim()} dimensions")
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    dim = _wrap(dim, input.dim())
    others = [d for d in range(input.dim()) if d != dim]
    a = input.abs()
    norm = a.amax(dim=others, keepdim=True) if p == float("inf") else a.pow(p).sum(dim=others, keepdim=True).pow(1.0 / p)
    factor = _core.where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
    return input * factor


def is_nonzero(input):
    n = input.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.item() != 0)


def isposinf(input):
    return input == float("inf") if input.dtype.is_floating_point else input != input


def isneginf(input):
    return input == float("-inf") if input.dtype.is_floating_point else input != input


def signbit(input):
    """Sign bit set: negatives and -0.0 (told apart from 0.0 by 1/x)."""
    if not input.dtype.is_floating_point:
        return input < 0
    x = input.detach()
    return (x < 0) | ((x == 0) & (x.reciprocal() < 0))


def lgamma(input):
    """log |Gamma(input)| (``torch.lgamma``); see ``ember.special.gammaln``."""
    from .special import gammaln

    return gammaln(input)


def digamma(input):
    """``torch.digamma``; see ``ember.special.digamma``."""
    from .special import digamma as _digamma

    return _digamma(input)


def erfinv(input):
    """``torch.erfinv``; see ``ember.special.erfinv``."""
    from .special import erfinv as _erfinv

    return _erfinv(input)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """torch.norm: the Frobenius/2-norm (p='fro' or None) or the p-norm over ``dim`` (all of them
    by default) as a vector norm; p='nuc' is the nuclear matrix norm, which needs an SVD."""
    from . import linalg

    if isinstance(dim, int):
        dim = (dim,)
    if isinstance(p, str):
        if p == "nuc":
            return linalg.matrix_norm(input, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
        if p != "fro":
            raise RuntimeError(f"norm: Order {p} not supported.")
        if dim is not None and len(dim) > 2:
            raise RuntimeError(f"norm: expected at most 2 dims for the Frobenius norm, got {len(dim)}")
        p = 2
    elif p is None:
        p = 2
    return linalg.vector_norm(input, p, dim, keepdim, dtype=dtype)


def cross(input, other, dim=None, *, out=None):
    """torch.cross: linalg.cross along ``dim``; without one, the first dim of size 3."""
    from . import linalg

    if dim is None:
        a, b = broadcast_tensors(input, other) if input.dim() == other.dim() else (input, other)
        dim = next((i for i, s in enumerate(a.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return linalg.cross(input, other, dim=dim)


def det(input):
    """torch.det: the determinant, by Gauss elimination with partial pivoting (linalg.det)."""
    from . import linalg

    return linalg.det(input)
