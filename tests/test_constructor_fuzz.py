"""Fuzzing ember.tensor, the parser of nested Python values: a regular numeric nest gives NumPy's
values in PyTorch's inferred dtype; anything else raises one of PyTorch's exception types."""

import math

import numpy as np
from hypothesis import given, settings, strategies as st

import ember

# Derandomized so that CI never turns red on a draw it happens to make; the cases found by hand
# with more examples stay as the explicit tests below.
FUZZ = settings(max_examples=600, deadline=None, derandomize=True, database=None)

INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
NUMBERS = st.one_of(st.booleans(), INT64, FLOATS)
NUMPY_SCALARS = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(np.int32),
    INT64.map(np.int64),
    st.floats(width=32).map(np.float32),
    st.booleans().map(np.bool_),
)
HOSTILE = st.one_of(
    st.text(max_size=3),
    st.binary(max_size=3),
    st.none(),
    st.integers(2**63, 2**80),
    st.integers(-(2**80), -(2**63) - 1),
    st.complex_numbers(max_magnitude=10),
    st.dictionaries(st.integers(0, 3), st.integers(0, 3), max_size=2),
    st.sets(st.integers(0, 3), max_size=2),
    st.just(object()),
)


def _regular(leaves):
    """A regular nest of lists and tuples over `leaves`, with its shape."""

    @st.composite
    def build(draw):
        shape = draw(st.lists(st.integers(0, 3), max_size=4))
        if 0 in shape:  # an empty list has no inner dimensions to show
            shape = shape[: shape.index(0) + 1]
        n = math.prod(shape)
        flat = draw(st.lists(leaves, min_size=n, max_size=n))

        def nest(offset, dims):
            if not dims:
                return flat[offset]
            step = math.prod(dims[1:])
            items = [nest(offset + i * step, dims[1:]) for i in range(dims[0])]
            return tuple(items) if draw(st.booleans()) else items

        return nest(0, shape), tuple(shape), flat

    return build()


def _expected_dtype(flat):
    """PyTorch's inference: Python numbers by kind, NumPy scalars by their dtype, then promotion
    (for the dtypes drawn here, the widest of bool < int32 < int64 < float32 wins)."""
    order = [ember.bool, ember.int32, ember.int64, ember.float32]
    kinds = {bool: ember.bool, int: ember.int64, float: ember.float32, np.bool_: ember.bool,
             np.int32: ember.int32, np.int64: ember.int64, np.float32: ember.float32}
    if not flat:
        return ember.float32
    return max((kinds[type(v)] for v in flat), key=order.index)


@FUZZ
@given(_regular(st.one_of(NUMBERS, NUMPY_SCALARS)))
def test_regular_numeric_nests_give_numpy_values(case):
    data, shape, flat = case
    t = ember.tensor(data)
    want = _expected_dtype(flat)
    assert tuple(t.shape) == shape
    assert t.dtype == want, (data, t.dtype, want)
    got = t.numpy()
    if want == ember.float32:
        with np.errstate(over="ignore"):  # past float32's range is inf, in ember as in NumPy
            ref = np.array([float(v) for v in flat], dtype=np.float64).astype(np.float32)
        np.testing.assert_array_equal(got.reshape(-1), ref)
    elif want in (ember.int64, ember.int32):
        np.testing.assert_array_equal(got.reshape(-1), np.array([int(v) for v in flat], dtype=np.int64))
    else:
        np.testing.assert_array_equal(got.reshape(-1), np.array([bool(v) for v in flat], dtype=bool))


@FUZZ
@given(_regular(st.one_of(st.booleans(), st.integers(-1000, 1000), st.floats(-1e6, 1e6))),
       st.sampled_from(["float64", "float32", "int64", "int32", "bool"]))
def test_explicit_dtype_matches_numpy_cast(case, dtype):
    data, shape, flat = case
    t = ember.tensor(data, dtype=getattr(ember, dtype))
    assert tuple(t.shape) == shape and t.dtype == getattr(ember, dtype)
    ref = np.array([float(v) for v in flat], dtype=np.float64)
    if dtype in ("int64", "int32"):
        ref = np.trunc(ref)
    np.testing.assert_array_equal(t.numpy().reshape(-1).astype(np.float64), ref.astype(dtype).astype(np.float64))


def _hostile_nest():
    leaf = st.one_of(NUMBERS, HOSTILE)
    return st.recursive(leaf, lambda kids: st.lists(kids, max_size=3) | st.tuples(kids, kids), max_leaves=12)


def _numpy_accepts(data):
    """Whether the nest is regular with only real numbers in it (what ember must build)."""
    try:
        with np.errstate(all="ignore"):
            arr = np.array(data, dtype=object)
    except ValueError:
        return False
    if arr.dtype != object:
        return False
    try:
        regular = np.array(data, dtype=float) is not None
    except (ValueError, TypeError, OverflowError):
        return False
    numbers = (bool, int, float, np.generic)
    return regular and all(isinstance(v, numbers) and not isinstance(v, complex) and
                           (not isinstance(v, int) or -(2**63) <= v < 2**63) for v in arr.reshape(-1))


@FUZZ
@given(_hostile_nest())
def test_any_nest_builds_or_raises_pytorch_types(data):
    try:
        t = ember.tensor(data)
    except (TypeError, ValueError, RuntimeError) as e:
        assert str(e), "an exception without a message"
        assert not _numpy_accepts(data), f"refused a regular numeric nest {data!r}: {e}"
        return
    assert _numpy_accepts(data), f"built {t!r} from {data!r}"
    assert t.numel() == np.array(data, dtype=float).size


def test_hostile_leaves_name_their_type():
    for bad, name in [("abc", "str"), (b"ab", "bytes"), ({"a": 1}, "dict"), ({1}, "set")]:
        for data in (bad, [bad], [[1.0], [bad]]):
            try:
                ember.tensor(data)
            except TypeError as e:
                assert name in str(e)
            else:
                raise AssertionError(f"ember.tensor({data!r}) built a tensor")


def test_integers_past_int64_raise_runtime_error_naming_overflow():
    for v in (2**63, -(2**63) - 1, 2**100):
        for data in (v, [1, v]):
            try:
                ember.tensor(data)
            except RuntimeError as e:
                assert "Overflow" in str(e), str(e)
            else:
                raise AssertionError(f"ember.tensor({data!r}) built a tensor")


def test_deep_and_wide_nests_refused_or_built_without_crashing():
    deep = 0.0
    for _ in range(100_000):
        deep = [deep]
    try:
        ember.tensor(deep)
    except ValueError as e:
        assert "too many dimensions" in str(e)
    else:
        raise AssertionError("a 100,000-deep nest built a tensor")
    # 64 levels is NumPy's limit and still builds.
    ok = 1.0
    for _ in range(30):
        ok = [ok]
    assert ember.tensor(ok).ndim == 30
