//! Bindings of the fused nn ops: cross entropy, last-dim normalisation, average pooling,
//! attention, linear.

use super::tensor::{PyTensor, R};
use super::IntoPyResult;
use crate::ops::nn::{self, Reduction};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

fn reduction(name: &str) -> PyResult<Reduction> {
    match name {
        "mean" => Ok(Reduction::Mean),
        "sum" => Ok(Reduction::Sum),
        "none" => Ok(Reduction::None),
        other => Err(PyValueError::new_err(format!(
            "{other} is not a valid value for reduction"
        ))),
    }
}

/// Fused softmax cross entropy: `logits [n, c]`, class indices `target [n]`.
#[pyfunction]
#[pyo3(signature = (logits, target, weight, ignore_index, label_smoothing, reduction_))]
fn _cross_entropy(
    py: Python<'_>,
    logits: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    weight: Option<PyRef<'_, PyTensor>>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction_: &str,
) -> R {
    let r = reduction(reduction_)?;
    let (x, t, w) = (
        logits.t.clone(),
        target.t.clone(),
        weight.map(|w| w.t.clone()),
    );
    Ok(PyTensor::new(
        py.detach(|| nn::cross_entropy(&x, &t, w.as_ref(), ignore_index, label_smoothing, r))
            .py()?,
    ))
}

/// Raises RuntimeError(message) if any element of `bad` is true: now on the CPU, at the next
/// read on a GPU (so loss input checks do not wait for the device).
#[pyfunction]
fn _assert_none(py: Python<'_>, bad: PyRef<'_, PyTensor>, message: String) -> PyResult<()> {
    let bad = bad.t.clone();
    py.detach(|| {
        crate::ops::elementwise::assert_none(&bad, move || crate::error::Error::Runtime(message))
    })
    .py()
}

/// NLL class targets within range (IndexError naming the first one that is not).
#[pyfunction]
fn _check_class_targets(
    py: Python<'_>,
    target: PyRef<'_, PyTensor>,
    classes: usize,
    ignore_index: i64,
) -> PyResult<()> {
    let t = target.t.clone();
    py.detach(|| nn::check_class_targets(&t, classes, ignore_index))
        .py()
}

/// Normalisation over the last dim: (output, per-row mean, per-row 1/std).
#[pyfunction]
fn _norm_rows(
    py: Python<'_>,
    x: PyRef<'_, PyTensor>,
    eps: f64,
    center: bool,
) -> PyResult<(PyTensor, PyTensor, PyTensor)> {
    let x = x.t.clone();
    let (y, m, r) = py.detach(|| nn::norm_rows(&x, eps, center)).py()?;
    Ok((PyTensor::new(y), PyTensor::new(m), PyTensor::new(r)))
}

/// Native 2-D average pooling.
#[pyfunction]
fn _avg_pool2d(
    py: Python<'_>,
    x: PyRef<'_, PyTensor>,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    count_include_pad: bool,
) -> R {
    let x = x.t.clone();
    Ok(PyTensor::new(
        py.detach(|| nn::avg_pool2d(&x, kernel, stride, padding, count_include_pad))
            .py()?,
    ))
}

/// `input @ weight.t() + bias` as one node (the bias in the product's epilogue).
#[pyfunction]
#[pyo3(signature = (input, weight, bias=None))]
fn _linear(
    py: Python<'_>,
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    bias: Option<PyRef<'_, PyTensor>>,
) -> R {
    let (x, w, b) = (input.t.clone(), weight.t.clone(), bias.map(|b| b.t.clone()));
    Ok(PyTensor::new(
        py.detach(|| crate::ops::linalg::linear(&x, &w, b.as_ref()))
            .py()?,
    ))
}

/// Native scaled dot-product attention with an optional additive mask.
#[pyfunction]
#[pyo3(signature = (query, key, value, mask, scale, is_causal))]
fn _attention(
    py: Python<'_>,
    query: PyRef<'_, PyTensor>,
    key: PyRef<'_, PyTensor>,
    value: PyRef<'_, PyTensor>,
    mask: Option<PyRef<'_, PyTensor>>,
    scale: f64,
    is_causal: bool,
) -> R {
    let (q, k, v, m) = (
        query.t.clone(),
        key.t.clone(),
        value.t.clone(),
        mask.map(|m| m.t.clone()),
    );
    Ok(PyTensor::new(
        py.detach(|| nn::attention(&q, &k, &v, m.as_ref(), scale, is_causal))
            .py()?,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(_assert_none, m)?)?;
    m.add_function(wrap_pyfunction!(_check_class_targets, m)?)?;
    m.add_function(wrap_pyfunction!(_norm_rows, m)?)?;
    m.add_function(wrap_pyfunction!(_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(_attention, m)?)?;
    m.add_function(wrap_pyfunction!(_linear, m)?)?;
    Ok(())
}
