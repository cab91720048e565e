"""Empty tensors, overflowing sizes and other edge inputs: results like PyTorch's, or a clear
Python exception, never a Rust panic."""

import numpy as np
import pytest

import ember
from ember.nn import functional as F


@pytest.mark.parametrize(
    "build, shape",
    [
        (lambda: ember.zeros(0, 3).softmax(0), (0, 3)),
        (lambda: ember.zeros(2, 0, 3).reshape(0, 6), (0, 6)),
        (lambda: ember.zeros(0, 3)[[]], (0, 3)),
        (lambda: F.layer_norm(ember.zeros(0, 4), (4,)), (0, 4)),
        (lambda: F.scaled_dot_product_attention(ember.zeros(1, 0, 4), ember.zeros(1, 2, 4), ember.zeros(1, 2, 4)), (1, 0, 4)),
        (lambda: F.conv2d(ember.zeros(0, 1, 4, 4), ember.zeros(2, 1, 3, 3)), (0, 2, 2, 2)),
        (lambda: ember.zeros(3, 0) @ ember.zeros(0, 4), (3, 4)),
        (lambda: ember.einsum("ij,jk->ik", ember.zeros(3, 0), ember.zeros(0, 3)), (3, 3)),
    ],
)
def test_empty_inputs_give_empty_or_zero_results(build, shape):
    out = build()
    assert tuple(out.shape) == shape
    assert np.all(out.numpy() == 0)


def test_sum_of_empty_is_zero_and_max_of_empty_raises():
    assert ember.zeros(0).sum().item() == 0.0
    with pytest.raises(RuntimeError, match="numel\\(\\) == 0"):
        ember.zeros(0).max()


@pytest.mark.parametrize("shape", [(1 << 62,), (1 << 40, 1 << 40)])
def test_sizes_that_overflow_raise_runtime_error(shape):
    # PyTorch: an element count past 2^63 is a RuntimeError, bytes past the address space an
    # OutOfMemoryError (itself a RuntimeError).
    with pytest.raises(RuntimeError, match="overflow"):
        ember.empty(*shape)


def test_attention_without_keys_raises():
    with pytest.raises(RuntimeError, match="at least one position"):
        F.scaled_dot_product_attention(ember.zeros(1, 2, 4), ember.zeros(1, 0, 4), ember.zeros(1, 0, 4))
