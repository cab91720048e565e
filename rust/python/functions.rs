//! Module-level functions of `ember._core`: creation, random sampling, joining, grad mode and
//! autograd entry points. Math functions are the Tensor methods, re-exported by the Python layer.

use super::convert::{
    dtype_arg, from_numpy, from_numpy_strict, opt_device, shape_args, sizes, tensor_from_data,
};
use super::tensor::{tensor_or_scalar, PyTensor, R};
use super::IntoPyResult;
use crate::autograd;
use crate::dtype::DType;
use crate::ops::{creation, elementwise as ew, index};
use crate::random::{self, Generator};
use crate::tensor::Tensor;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// `ember.Generator`: a seedable source of random numbers.
#[pyclass(name = "Generator", module = "ember")]
pub struct PyGenerator {
    pub g: Generator,
}

#[pymethods]
impl PyGenerator {
    #[new]
    #[pyo3(signature = (device=None))]
    fn new(device: Option<&Bound<'_, PyAny>>) -> PyResult<PyGenerator> {
        opt_device(device)?;
        Ok(PyGenerator {
            g: Generator::new(67280421310721),
        })
    }
    fn manual_seed(slf: PyRef<'_, Self>, seed: i64) -> PyRef<'_, Self> {
        slf.g.manual_seed(seed as u64);
        slf
    }
    fn initial_seed(&self) -> u64 {
        self.g.lock().seed()
    }
    fn seed(&self) -> u64 {
        let s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        self.g.manual_seed(s);
        s
    }
    /// The generator's state as an int64 tensor (seed, then the four xoshiro words), for
    /// `set_state` to restore: a saved state replays the same random numbers.
    fn get_state(&self) -> R {
        let words = self.g.lock().state();
        Ok(PyTensor::new(
            Tensor::from_vec(
                words.iter().map(|&w| w as i64).collect::<Vec<i64>>(),
                &[words.len()],
            )
            .py()?,
        ))
    }
    fn set_state(&self, new_state: PyRef<'_, PyTensor>) -> PyResult<()> {
        let t = &new_state.t;
        if t.dtype() != DType::I64 || t.shape() != [5] {
            return Err(PyValueError::new_err(format!("set_state expects the int64 tensor of 5 values get_state returns, got {} of shape {:?}", t.dtype().name(), t.shape())));
        }
        let v: Vec<u64> = t.to_vec::<i64>().iter().map(|&w| w as u64).collect();
        self.g.lock().set_state([v[0], v[1], v[2], v[3], v[4]]);
        Ok(())
    }
}

fn gen<'a>(g: &'a Option<PyRef<'_, PyGenerator>>) -> Option<&'a Generator> {
    g.as_ref().map(|g| &g.g)
}

fn finish(t: Tensor, requires_grad: bool) -> R {
    if requires_grad {
        t.set_requires_grad(true).py()?;
    }
    Ok(PyTensor::new(t))
}

#[pyfunction]
#[pyo3(signature = (data, *, dtype=None, device=None, requires_grad=false))]
fn tensor(
    data: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let t = tensor_from_data(data, dtype_arg(dtype)?)?;
    let t = ew::to_device(&t, opt_device(device)?).py()?;
    finish(t, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (data, dtype=None, device=None))]
fn as_tensor(
    data: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> R {
    let dtype = dtype_arg(dtype)?;
    if let Ok(t) = data.extract::<PyRef<'_, PyTensor>>() {
        let mut r = t.t.clone();
        if let Some(d) = dtype {
            r = ew::to_dtype(&r, d).py()?;
        }
        // Without a device the tensor stays where it is.
        let to = match device {
            Some(d) if !d.is_none() => opt_device(Some(d))?,
            _ => r.device(),
        };
        return Ok(PyTensor::new(ew::to_device(&r, to).py()?));
    }
    if data.hasattr("__array_interface__")? && !data.is_instance_of::<pyo3::types::PyList>() {
        let mut t = from_numpy(data)?;
        if let Some(d) = dtype {
            t = ew::to_dtype(&t, d).py()?;
        }
        return Ok(PyTensor::new(ew::to_device(&t, opt_device(device)?).py()?));
    }
    tensor(
        data,
        dtype
            .map(super::convert::PyDType)
            .map(|d| Bound::new(data.py(), d))
            .transpose()?
            .as_ref()
            .map(|b| b.as_any()),
        device,
        false,
    )
}

#[pyfunction(name = "from_numpy")]
fn from_numpy_py(arr: &Bound<'_, PyAny>) -> R {
    Ok(PyTensor::new(from_numpy_strict(arr)?))
}

fn filled(
    args: &Bound<'_, PyTuple>,
    value: f64,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let shape = sizes(&shape_args(args)?)?;
    let d = dtype_arg(dtype)?.unwrap_or_else(crate::dtype::default_float);
    finish(
        Tensor::full(&shape, value, d, opt_device(device)?).py()?,
        requires_grad,
    )
}

#[pyfunction]
#[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false))]
fn zeros(
    size: &Bound<'_, PyTuple>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    filled(size, 0.0, dtype, device, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false))]
fn ones(
    size: &Bound<'_, PyTuple>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    filled(size, 1.0, dtype, device, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (*size, dtype=None, device=None, requires_grad=false))]
fn empty(
    size: &Bound<'_, PyTuple>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    filled(size, 0.0, dtype, device, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (size, fill_value, *, dtype=None, device=None, requires_grad=false))]
fn full(
    size: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let shape = sizes(&shape_args(&PyTuple::new(size.py(), [size])?)?)?;
    let value = number_arg("full", "fill_value", fill_value)?;
    finish(
        creation::full(&shape, value, dtype_arg(dtype)?, opt_device(device)?).py()?,
        requires_grad,
    )
}

/// A Python number argument, or PyTorch's TypeError naming the function and argument.
fn number_arg(what: &str, name: &str, o: &Bound<'_, PyAny>) -> PyResult<crate::ops::Scalar> {
    match super::convert::scalar_arg(o) {
        Some(s) => Ok(s),
        None => Err(PyTypeError::new_err(format!(
            "{what}(): argument '{name}' must be Number, not {}",
            o.get_type().name()?
        ))),
    }
}

#[pyfunction]
#[pyo3(signature = (start, end=None, step=None, *, dtype=None, device=None, requires_grad=false))]
fn arange(
    start: &Bound<'_, PyAny>,
    end: Option<&Bound<'_, PyAny>>,
    step: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    use crate::ops::Scalar;
    let first = number_arg("arange", "start", start)?;
    let (lo, hi) = match end.filter(|e| !e.is_none()) {
        Some(e) => (first, number_arg("arange", "end", e)?),
        None => (Scalar::Int(0), first),
    };
    let st = match step.filter(|s| !s.is_none()) {
        Some(s) => number_arg("arange", "step", s)?,
        None => Scalar::Int(1),
    };
    finish(
        creation::arange(lo, hi, st, dtype_arg(dtype)?, opt_device(device)?).py()?,
        requires_grad,
    )
}

#[pyfunction]
#[pyo3(signature = (start, end, steps, *, dtype=None, device=None, requires_grad=false))]
fn linspace(
    start: f64,
    end: f64,
    steps: i64,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    finish(
        creation::linspace(start, end, steps, dtype_arg(dtype)?, opt_device(device)?).py()?,
        requires_grad,
    )
}

#[pyfunction]
#[pyo3(signature = (n, m=None, *, dtype=None, device=None, requires_grad=false))]
fn eye(
    n: i64,
    m: Option<i64>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    finish(
        creation::eye(n, m, dtype_arg(dtype)?, opt_device(device)?).py()?,
        requires_grad,
    )
}

#[pyfunction]
#[pyo3(signature = (*size, generator=None, dtype=None, device=None, requires_grad=false))]
fn rand(
    size: &Bound<'_, PyTuple>,
    generator: Option<PyRef<'_, PyGenerator>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let t = Tensor::zeros(
        &sizes(&shape_args(size)?)?,
        dtype_arg(dtype)?.unwrap_or_else(crate::dtype::default_float),
        crate::Device::Cpu,
    )
    .py()?;
    random::uniform_(&t, 0.0, 1.0, gen(&generator)).py()?;
    finish(ew::to_device(&t, opt_device(device)?).py()?, requires_grad)
}

#[pyfunction]
#[pyo3(signature = (*size, generator=None, dtype=None, device=None, requires_grad=false))]
fn randn(
    size: &Bound<'_, PyTuple>,
    generator: Option<PyRef<'_, PyGenerator>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
) -> R {
    let t = Tensor::zeros(
        &sizes(&shape_args(size)?)?,
        dtype_arg(dtype)?.unwrap_or_else(crate::dtype::default_float),
        crate::Device::Cpu,
    )
    .py()?;
    random::normal_(&t, 0.0, 1.0, gen(&generator)).py()?;
    finish(ew::to_device(&t, opt_device(device)?).py()?, requires_grad)
}

/// `randint(high, size)` or `randint(low, high, size)`.
#[pyfunction]
#[pyo3(signature = (*args, size=None, generator=None, dtype=None, device=None))]
fn randint(
    args: &Bound<'_, PyTuple>,
    size: Option<Vec<isize>>,
    generator: Option<PyRef<'_, PyGenerator>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> R {
    let mut nums: Vec<i64> = Vec::new();
    let mut shape = size;
    for a in args.iter() {
        if let Ok(v) = a.extract::<i64>() {
            nums.push(v);
        } else {
            shape = Some(a.extract::<Vec<isize>>()?);
        }
    }
    let (lo, hi) = match nums.as_slice() {
        [h] => (0, *h),
        [l, h] => (*l, *h),
        _ => {
            return Err(PyValueError::new_err(
                "randint expects (high, size) or (low, high, size)",
            ))
        }
    };
    let shape = sizes(
        &shape
            .ok_or_else(|| PyValueError::new_err("randint() missing required argument 'size'"))?,
    )?;
    let t = random::randint(
        lo,
        hi,
        &shape,
        dtype_arg(dtype)?.unwrap_or(DType::I64),
        gen(&generator),
    )
    .py()?;
    Ok(PyTensor::new(ew::to_device(&t, opt_device(device)?).py()?))
}

#[pyfunction]
#[pyo3(signature = (n, *, generator=None, dtype=None, device=None))]
fn randperm(
    n: i64,
    generator: Option<PyRef<'_, PyGenerator>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> R {
    let n = super::convert::count(n, || format!("n must be non-negative, got {n}"))?;
    let t = random::randperm(n, gen(&generator)).py()?;
    let t = ew::to_dtype(&t, dtype_arg(dtype)?.unwrap_or(DType::I64)).py()?;
    Ok(PyTensor::new(ew::to_device(&t, opt_device(device)?).py()?))
}

#[pyfunction]
#[pyo3(signature = (input, num_samples, replacement=false, *, generator=None))]
fn multinomial(
    input: PyRef<'_, PyTensor>,
    num_samples: i64,
    replacement: bool,
    generator: Option<PyRef<'_, PyGenerator>>,
) -> R {
    let num_samples =
        super::convert::count(num_samples, || "cannot sample n_sample <= 0 samples".into())?;
    Ok(PyTensor::new(
        random::multinomial(&input.t, num_samples, replacement, gen(&generator)).py()?,
    ))
}

#[pyfunction]
#[pyo3(signature = (input, *, generator=None))]
fn bernoulli(input: PyRef<'_, PyTensor>, generator: Option<PyRef<'_, PyGenerator>>) -> R {
    Ok(PyTensor::new(
        random::bernoulli(&input.t, gen(&generator)).py()?,
    ))
}

#[pyfunction]
fn manual_seed(seed: i64) {
    random::default_generator().manual_seed(seed as u64);
}

/// Run by `os.register_at_fork(after_in_child=...)`: the child's kernels run serially (rayon's
/// threads did not survive the fork) and its GPU raises instead of touching the parent's device.
#[pyfunction]
fn _after_fork_in_child() {
    crate::cpu::threads::after_fork_in_child();
    crate::gpu::after_fork_in_child();
}

#[pyfunction]
fn set_num_threads(num: i64) -> PyResult<()> {
    crate::cpu::threads::set_num_threads(num).py()
}

#[pyfunction]
fn get_num_threads() -> usize {
    crate::cpu::threads::get_num_threads()
}

#[pyfunction]
fn initial_seed() -> u64 {
    random::default_generator().lock().seed()
}

#[pyfunction]
fn default_generator() -> PyGenerator {
    PyGenerator {
        g: random::default_generator().clone(),
    }
}

fn tensors(ts: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
    // A tensor is iterable, but PyTorch wants a sequence *of* tensors here.
    if ts.is_instance_of::<PyTensor>() {
        return Err(PyTypeError::new_err(
            "expected a tuple or list of Tensors, not a Tensor",
        ));
    }
    ts.try_iter()?
        .map(|t| Ok(t?.extract::<PyRef<'_, PyTensor>>()?.t.clone()))
        .collect()
}

#[pyfunction]
#[pyo3(signature = (tensors_, dim=0))]
fn cat(tensors_: &Bound<'_, PyAny>, dim: isize) -> R {
    Ok(PyTensor::new(index::cat(&tensors(tensors_)?, dim).py()?))
}

#[pyfunction]
#[pyo3(signature = (tensors_, dim=0))]
fn stack(tensors_: &Bound<'_, PyAny>, dim: isize) -> R {
    Ok(PyTensor::new(index::stack(&tensors(tensors_)?, dim).py()?))
}

#[pyfunction(name = "where")]
fn where_(condition: PyRef<'_, PyTensor>, input: &Bound<'_, PyAny>, other: &Bound<'_, PyAny>) -> R {
    let c = &condition.t;
    let a = match input.extract::<PyRef<'_, PyTensor>>() {
        Ok(t) => t.t.clone(),
        Err(_) => {
            let like = other
                .extract::<PyRef<'_, PyTensor>>()
                .map(|t| t.t.clone())
                .unwrap_or_else(|_| Tensor::scalar(0.0, DType::F32));
            tensor_or_scalar(&like, input)?
        }
    };
    let b = tensor_or_scalar(&a, other)?;
    Ok(PyTensor::new(ew::where_(c, &a, &b).py()?))
}

#[pyfunction]
fn is_grad_enabled() -> bool {
    autograd::is_grad_enabled()
}

#[pyfunction]
fn set_default_dtype(d: &Bound<'_, PyAny>) -> PyResult<()> {
    let dt = dtype_arg(Some(d))?
        .ok_or_else(|| PyTypeError::new_err("set_default_dtype(): expected a dtype, got None"))?;
    // PyTorch reports a non-float default as a TypeError.
    crate::dtype::set_default_float(dt).map_err(|e| PyTypeError::new_err(e.to_string()))
}

#[pyfunction]
fn get_default_dtype() -> super::convert::PyDType {
    super::convert::PyDType(crate::dtype::default_float())
}

#[pyfunction]
fn _set_grad_enabled(on: bool) {
    autograd::set_grad_enabled(on)
}

/// Queues `callback()` to run when the backward now running (this is called from one of its
/// hooks) has delivered every gradient, before `backward()` returns.
#[pyfunction]
fn _queue_callback(callback: Py<PyAny>) -> PyResult<()> {
    autograd::queue_callback(Box::new(move || {
        Python::attach(|py| {
            callback
                .call0(py)
                .map(|_| ())
                .map_err(|e| super::tensor::carried("callback", e))
        })
    }))
    .py()
}

fn opt_grads(g: Option<&Bound<'_, PyAny>>, n: usize) -> PyResult<Vec<Option<Tensor>>> {
    match g {
        None => Ok(vec![None; n]),
        Some(g) if g.is_none() => Ok(vec![None; n]),
        Some(g) => {
            if let Ok(t) = g.extract::<PyRef<'_, PyTensor>>() {
                return Ok(vec![Some(t.t.clone())]);
            }
            g.try_iter()?
                .map(|x| {
                    let x = x?;
                    if x.is_none() {
                        Ok(None)
                    } else {
                        Ok(Some(x.extract::<PyRef<'_, PyTensor>>()?.t.clone()))
                    }
                })
                .collect()
        }
    }
}

fn one_or_many(o: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
    if let Ok(t) = o.extract::<PyRef<'_, PyTensor>>() {
        return Ok(vec![t.t.clone()]);
    }
    tensors(o)
}

#[pyfunction]
#[pyo3(signature = (tensors_, grad_tensors=None, retain_graph=None, create_graph=false))]
fn _backward(
    py: Python<'_>,
    tensors_: &Bound<'_, PyAny>,
    grad_tensors: Option<&Bound<'_, PyAny>>,
    retain_graph: Option<bool>,
    create_graph: bool,
) -> PyResult<()> {
    let roots = one_or_many(tensors_)?;
    let grads = opt_grads(grad_tensors, roots.len())?;
    py.detach(|| {
        autograd::backward(
            &roots,
            grads,
            retain_graph.unwrap_or(create_graph),
            create_graph,
        )
    })
    .py()
}

#[pyfunction]
#[pyo3(signature = (outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=false, allow_unused=false))]
fn _grad(
    py: Python<'_>,
    outputs: &Bound<'_, PyAny>,
    inputs: &Bound<'_, PyAny>,
    grad_outputs: Option<&Bound<'_, PyAny>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    allow_unused: bool,
) -> PyResult<Py<PyAny>> {
    let outs = one_or_many(outputs)?;
    let ins = one_or_many(inputs)?;
    let grads = opt_grads(grad_outputs, outs.len())?;
    let r = py
        .detach(|| {
            autograd::grad(
                &outs,
                grads,
                &ins,
                retain_graph.unwrap_or(create_graph),
                create_graph,
                allow_unused,
            )
        })
        .py()?;
    let items: Vec<Py<PyAny>> = r
        .into_iter()
        .map(|g| match g {
            Some(t) => Ok(PyTensor::new(t).into_pyobject(py)?.into_any().unbind()),
            None => Ok(py.None()),
        })
        .collect::<PyResult<_>>()?;
    Ok(PyTuple::new(py, items)?.into_any().unbind())
}

fn opt_tensors(items: Vec<Option<PyRef<'_, PyTensor>>>) -> Vec<Option<Tensor>> {
    items.into_iter().map(|t| t.map(|t| t.t.clone())).collect()
}

fn plain(items: Vec<PyRef<'_, PyTensor>>) -> Vec<Tensor> {
    items.into_iter().map(|t| t.t.clone()).collect()
}

/// One fused SGD update over a parameter group (momentum buffers updated in place).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _sgd_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    bufs: Vec<Option<PyRef<'_, PyTensor>>>,
    lr: f64,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    weight_decay: f64,
    maximize: bool,
    first: bool,
) -> PyResult<()> {
    let (p, g, b) = (plain(params), plain(grads), opt_tensors(bufs));
    let cfg = crate::optim::SgdConfig {
        lr,
        momentum,
        dampening,
        nesterov,
        weight_decay,
        maximize,
        first,
    };
    py.detach(|| crate::optim::sgd_step(&p, &g, &b, &cfg)).py()
}

/// One fused Adam/AdamW update over a parameter group (moments updated in place).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _adam_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    exp_avgs: Vec<PyRef<'_, PyTensor>>,
    exp_avg_sqs: Vec<PyRef<'_, PyTensor>>,
    max_exp_avg_sqs: Vec<Option<PyRef<'_, PyTensor>>>,
    step: u64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
) -> PyResult<()> {
    let (p, g, m, v, vm) = (
        plain(params),
        plain(grads),
        plain(exp_avgs),
        plain(exp_avg_sqs),
        opt_tensors(max_exp_avg_sqs),
    );
    let cfg = crate::optim::AdamConfig {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        amsgrad,
        maximize,
        decoupled,
        step,
    };
    py.detach(|| crate::optim::adam_step(&p, &g, &m, &v, &vm, &cfg))
        .py()
}

/// One fused RMSprop update over a parameter group (square_avg, and grad_avg / momentum
/// buffers when centered / momentum > 0, updated in place).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _rmsprop_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    square_avgs: Vec<PyRef<'_, PyTensor>>,
    grad_avgs: Vec<Option<PyRef<'_, PyTensor>>>,
    momentum_buffers: Vec<Option<PyRef<'_, PyTensor>>>,
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, sq, ga, b) = (
        plain(params),
        plain(grads),
        plain(square_avgs),
        opt_tensors(grad_avgs),
        opt_tensors(momentum_buffers),
    );
    let cfg = crate::optim::RmspropConfig {
        lr,
        alpha,
        eps,
        weight_decay,
        momentum,
        centered,
        maximize,
    };
    py.detach(|| crate::optim::rmsprop_step(&p, &g, &sq, &ga, &b, &cfg))
        .py()
}

/// One fused Adagrad update over a parameter group sharing one step count (sums updated in place).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _adagrad_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    sums: Vec<PyRef<'_, PyTensor>>,
    step: u64,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, s) = (plain(params), plain(grads), plain(sums));
    let cfg = crate::optim::AdagradConfig {
        lr,
        lr_decay,
        weight_decay,
        eps,
        maximize,
        step,
    };
    py.detach(|| crate::optim::adagrad_step(&p, &g, &s, &cfg))
        .py()
}

/// One fused Adamax update over a parameter group sharing one step count (exp_avg and exp_inf
/// updated in place).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _adamax_step(
    py: Python<'_>,
    params: Vec<PyRef<'_, PyTensor>>,
    grads: Vec<PyRef<'_, PyTensor>>,
    exp_avgs: Vec<PyRef<'_, PyTensor>>,
    exp_infs: Vec<PyRef<'_, PyTensor>>,
    step: u64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    maximize: bool,
) -> PyResult<()> {
    let (p, g, m, u) = (
        plain(params),
        plain(grads),
        plain(exp_avgs),
        plain(exp_infs),
    );
    let cfg = crate::optim::AdamaxConfig {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        maximize,
        step,
    };
    py.detach(|| crate::optim::adamax_step(&p, &g, &m, &u, &cfg))
        .py()
}

/// Native 2-D convolution without bias: `x [N,C,H,W]`, `weight [O, C/groups, kh, kw]`.
#[pyfunction]
fn _conv2d(
    py: Python<'_>,
    x: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
) -> R {
    let (x, w) = (x.t.clone(), weight.t.clone());
    Ok(PyTensor::new(
        py.detach(|| crate::ops::nn::conv2d(&x, &w, stride, padding, dilation, groups))
            .py()?,
    ))
}

/// Native 2-D max pooling: (values, flat indices of the maxima within each plane).
#[pyfunction]
fn _max_pool2d(
    py: Python<'_>,
    x: PyRef<'_, PyTensor>,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
) -> PyResult<(PyTensor, PyTensor)> {
    let x = x.t.clone();
    let (v, i) = py
        .detach(|| crate::ops::nn::max_pool2d(&x, kernel, stride, padding, dilation))
        .py()?;
    Ok((PyTensor::new(v), PyTensor::new(i)))
}

/// `ember.add/sub/mul/div(input, other, *, alpha=1, out=None)`: with `out` the result is
/// written into that tensor (no graph), as PyTorch's out= variants.
fn binary_fn(
    py: Python<'_>,
    op: crate::op::BinaryOp,
    input: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    alpha: Option<f64>,
    out: Option<Bound<'_, PyTensor>>,
) -> PyResult<Py<PyAny>> {
    let a = match input.extract::<PyRef<'_, PyTensor>>() {
        Ok(t) => t.t.clone(),
        Err(_) => {
            let like = other
                .extract::<PyRef<'_, PyTensor>>()
                .map(|t| t.t.clone())
                .map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err("expected at least one Tensor argument")
                })?;
            tensor_or_scalar(&like, input)?
        }
    };
    let mut b = tensor_or_scalar(&a, other)?;
    if let Some(al) = alpha.filter(|&v| v != 1.0) {
        b = ew::binary_scalar(crate::op::BinaryOp::Mul, &b, crate::ops::Scalar::Float(al)).py()?;
    }
    match out {
        Some(o) => {
            let ot = o.borrow().t.clone();
            py.detach(|| ew::binary_out(op, &a, &b, &ot)).py()?;
            Ok(o.into_any().unbind())
        }
        None => Ok(PyTensor::new(ew::binary(op, &a, &b).py()?)
            .into_pyobject(py)?
            .into_any()
            .unbind()),
    }
}

#[pyfunction]
#[pyo3(signature = (input, other, *, alpha=None, out=None))]
fn add(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    alpha: Option<f64>,
    out: Option<Bound<'_, PyTensor>>,
) -> PyResult<Py<PyAny>> {
    binary_fn(py, crate::op::BinaryOp::Add, input, other, alpha, out)
}

#[pyfunction]
#[pyo3(signature = (input, other, *, alpha=None, out=None))]
fn sub(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    alpha: Option<f64>,
    out: Option<Bound<'_, PyTensor>>,
) -> PyResult<Py<PyAny>> {
    binary_fn(py, crate::op::BinaryOp::Sub, input, other, alpha, out)
}

#[pyfunction]
#[pyo3(signature = (input, other, *, out=None))]
fn mul(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    out: Option<Bound<'_, PyTensor>>,
) -> PyResult<Py<PyAny>> {
    binary_fn(py, crate::op::BinaryOp::Mul, input, other, None, out)
}

#[pyfunction]
#[pyo3(signature = (input, other, *, out=None))]
fn div(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    out: Option<Bound<'_, PyTensor>>,
) -> PyResult<Py<PyAny>> {
    binary_fn(py, crate::op::BinaryOp::Div, input, other, None, out)
}

/// The elementwise and reduction families of the op table by name, so tests can walk all of it.
#[pyfunction]
fn _op_table() -> (Vec<&'static str>, Vec<&'static str>, Vec<&'static str>) {
    use crate::op::{BinaryOp, ReduceOp, UnaryOp};
    (
        UnaryOp::ALL.iter().map(|o| o.name()).collect(),
        BinaryOp::ALL.iter().map(|o| o.name()).collect(),
        ReduceOp::ALL.iter().map(|o| o.name()).collect(),
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_op_table, m)?)?;
    m.add_function(wrap_pyfunction!(add, m)?)?;
    m.add_function(wrap_pyfunction!(sub, m)?)?;
    m.add_function(wrap_pyfunction!(mul, m)?)?;
    m.add_function(wrap_pyfunction!(div, m)?)?;
    m.add_function(wrap_pyfunction!(_conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(_max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(_sgd_step, m)?)?;
    m.add_function(wrap_pyfunction!(_adam_step, m)?)?;
    m.add_function(wrap_pyfunction!(_rmsprop_step, m)?)?;
    m.add_function(wrap_pyfunction!(_adagrad_step, m)?)?;
    m.add_function(wrap_pyfunction!(_adamax_step, m)?)?;
    m.add_function(wrap_pyfunction!(tensor, m)?)?;
    m.add_function(wrap_pyfunction!(as_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(from_numpy_py, m)?)?;
    m.add_function(wrap_pyfunction!(zeros, m)?)?;
    m.add_function(wrap_pyfunction!(ones, m)?)?;
    m.add_function(wrap_pyfunction!(empty, m)?)?;
    m.add_function(wrap_pyfunction!(full, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(linspace, m)?)?;
    m.add_function(wrap_pyfunction!(eye, m)?)?;
    m.add_function(wrap_pyfunction!(rand, m)?)?;
    m.add_function(wrap_pyfunction!(randn, m)?)?;
    m.add_function(wrap_pyfunction!(randint, m)?)?;
    m.add_function(wrap_pyfunction!(randperm, m)?)?;
    m.add_function(wrap_pyfunction!(multinomial, m)?)?;
    m.add_function(wrap_pyfunction!(bernoulli, m)?)?;
    m.add_function(wrap_pyfunction!(manual_seed, m)?)?;
    m.add_function(wrap_pyfunction!(initial_seed, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(default_generator, m)?)?;
    m.add_function(wrap_pyfunction!(cat, m)?)?;
    m.add_function(wrap_pyfunction!(stack, m)?)?;
    m.add_function(wrap_pyfunction!(where_, m)?)?;
    m.add_function(wrap_pyfunction!(is_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(_queue_callback, m)?)?;
    m.add_function(wrap_pyfunction!(set_default_dtype, m)?)?;
    m.add_function(wrap_pyfunction!(get_default_dtype, m)?)?;
    m.add_function(wrap_pyfunction!(_set_grad_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(_backward, m)?)?;
    m.add_function(wrap_pyfunction!(_grad, m)?)?;
    for (name, d) in [
        ("float32", DType::F32),
        ("float64", DType::F64),
        ("int64", DType::I64),
        ("int32", DType::I32),
        ("bool", DType::Bool),
        ("float16", DType::F16),
        ("bfloat16", DType::BF16),
    ] {
        m.add(name, super::convert::PyDType(d))?;
    }
    Ok(())
}
