//! `ember.Tensor`: the native class itself, so `x + y` goes from the number slot into Rust.

use super::convert::{
    array_interface, device_arg, dims_arg, dtype_arg, scalar_arg, shape_args, PyDType, PyDevice,
};
use super::IntoPyResult;
use crate::autograd::{
    self,
    tape::{Hook, PostAccumulateHook},
};
use crate::dtype::DType;
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use crate::ops::{elementwise as ew, index, linalg, reduce, view, Scalar};
use crate::tensor::Tensor;
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyEllipsis, PyList, PySlice, PyTuple};
use std::sync::Arc;

#[pyclass(name = "Tensor", module = "ember", subclass, weakref)]
pub struct PyTensor {
    pub t: Tensor,
}

impl PyTensor {
    pub fn new(t: Tensor) -> PyTensor {
        PyTensor { t }
    }
}

pub type R = PyResult<PyTensor>;

fn wrap(r: crate::error::Result<Tensor>) -> R {
    r.py().map(PyTensor::new)
}

/// The other operand of an arithmetic operator: a tensor or a Python number.
pub enum Operand {
    T(Tensor),
    S(Scalar),
}

pub fn operand(obj: &Bound<'_, PyAny>) -> Option<Operand> {
    if let Ok(t) = obj.extract::<PyRef<'_, PyTensor>>() {
        return Some(Operand::T(t.t.clone()));
    }
    scalar_arg(obj).map(Operand::S)
}

/// `a op other`, or `other op a` when `reflected`; NotImplemented for foreign operands.
fn arith(
    py: Python<'_>,
    a: &Tensor,
    other: &Bound<'_, PyAny>,
    op: BinaryOp,
    reflected: bool,
) -> PyResult<Py<PyAny>> {
    let Some(o) = operand(other) else {
        return Ok(py.NotImplemented());
    };
    let r = match (o, reflected) {
        (Operand::T(b), false) => ew::binary(op, a, &b),
        (Operand::T(b), true) => ew::binary(op, &b, a),
        (Operand::S(s), false) => ew::binary_scalar(op, a, s),
        (Operand::S(s), true) => ew::scalar_binary(op, s, a),
    };
    Ok(PyTensor::new(r.py()?)
        .into_pyobject(py)?
        .into_any()
        .unbind())
}

impl Operand {
    /// `a op self`: a number goes to the op as a scalar, whose value the op can read without
    /// a device round trip (`x // 0` raises at once on a GPU too).
    fn apply(&self, op: BinaryOp, a: &Tensor) -> crate::error::Result<Tensor> {
        match self {
            Operand::T(b) => ew::binary(op, a, b),
            Operand::S(s) => ew::binary_scalar(op, a, *s),
        }
    }
}

/// The operand of a binary method, or PyTorch's TypeError.
fn method_operand(other: &Bound<'_, PyAny>) -> PyResult<Operand> {
    operand(other).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "expected a Tensor or a number, got {}",
            other
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

pub fn tensor_or_scalar(a: &Tensor, other: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    match operand(other) {
        Some(Operand::T(t)) => Ok(t),
        Some(Operand::S(s)) => s.tensor_next_to(a).py(),
        None => Err(PyTypeError::new_err(format!(
            "expected a Tensor or a number, got {}",
            other.get_type().name()?
        ))),
    }
}

fn in_place(
    slf: &Bound<'_, PyTensor>,
    f: impl FnOnce(&Tensor) -> crate::error::Result<Tensor>,
) -> PyResult<Py<PyTensor>> {
    let t = slf.borrow().t.clone();
    ew::in_place(&t, f, false).py()?;
    Ok(slf.clone().unbind())
}

/// In-place writes that convert the value to the tensor's dtype (`copy_`, `fill_`, `zero_`).
fn in_place_cast(
    slf: &Bound<'_, PyTensor>,
    f: impl FnOnce(&Tensor) -> crate::error::Result<Tensor>,
) -> PyResult<Py<PyTensor>> {
    let t = slf.borrow().t.clone();
    ew::in_place(&t, f, true).py()?;
    Ok(slf.clone().unbind())
}

fn dims_or_all(dim: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<isize>> {
    Ok(dims_arg(dim)?.unwrap_or_default())
}

/// A NamedTuple-like `(values, indices)` built by the Python layer's `_values_indices` type.
fn values_indices(py: Python<'_>, name: &str, v: Tensor, i: Tensor) -> PyResult<Py<PyAny>> {
    let ember = py.import("ember")?;
    let cls = ember.getattr("_return_types")?.getattr(name)?;
    Ok(cls.call1((PyTensor::new(v), PyTensor::new(i)))?.unbind())
}

#[pymethods]
impl PyTensor {
    #[new]
    #[pyo3(signature = (*args))]
    fn py_new(args: &Bound<'_, PyTuple>) -> PyResult<PyTensor> {
        if args.is_empty() {
            return Ok(PyTensor::new(
                Tensor::zeros(&[0], crate::dtype::default_float(), crate::Device::Cpu).py()?,
            ));
        }
        if args.len() == 1 {
            let a = args.get_item(0)?;
            if !a.is_instance_of::<pyo3::types::PyInt>() {
                return Ok(PyTensor::new(super::convert::tensor_from_data(&a, None)?));
            }
        }
        let shape = super::convert::sizes(&shape_args(args)?)?;
        Ok(PyTensor::new(
            Tensor::zeros(&shape, crate::dtype::default_float(), crate::Device::Cpu).py()?,
        ))
    }

    // ---- metadata ----
    #[getter]
    fn shape(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        size_obj(py, self.t.shape())
    }
    #[pyo3(signature = (dim=None))]
    fn size(&self, py: Python<'_>, dim: Option<isize>) -> PyResult<Py<PyAny>> {
        match dim {
            None => size_obj(py, self.t.shape()),
            Some(d) => {
                let d = crate::shape::normalize_dim(d, self.t.ndim()).py()?;
                Ok(self.t.shape()[d].into_pyobject(py)?.into_any().unbind())
            }
        }
    }
    #[getter]
    fn dtype(&self) -> PyDType {
        PyDType(self.t.dtype())
    }
    #[getter]
    fn device(&self) -> PyDevice {
        PyDevice(self.t.device())
    }
    #[getter]
    fn is_cuda(&self) -> bool {
        self.t.device() != crate::Device::Cpu
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.t.ndim()
    }
    fn dim(&self) -> usize {
        self.t.ndim()
    }
    fn numel(&self) -> usize {
        self.t.numel()
    }
    fn nelement(&self) -> usize {
        self.t.numel()
    }
    fn element_size(&self) -> usize {
        self.t.dtype().size()
    }
    #[pyo3(signature = (dim=None))]
    fn stride(&self, py: Python<'_>, dim: Option<isize>) -> PyResult<Py<PyAny>> {
        let s = &self.t.layout().strides;
        match dim {
            None => Ok(PyTuple::new(py, s)?.into_any().unbind()),
            Some(d) => Ok(s[crate::shape::normalize_dim(d, self.t.ndim()).py()?]
                .into_pyobject(py)?
                .into_any()
                .unbind()),
        }
    }
    fn storage_offset(&self) -> usize {
        self.t.layout().offset
    }
    fn is_contiguous(&self) -> bool {
        self.t.is_contiguous()
    }
    fn is_floating_point(&self) -> bool {
        self.t.dtype().is_float()
    }
    /// The host address of the first element; for a GPU tensor (no host address) a number
    /// unique to its storage, so that views of one storage still compare as PyTorch's do.
    fn data_ptr(&self) -> usize {
        let base = match self.t.device() {
            crate::Device::Cpu => self.t.storage().data_ptr() as usize,
            _ => std::sync::Arc::as_ptr(&self.t.storage().0) as usize,
        };
        base + self.t.layout().offset * self.t.dtype().size()
    }
    #[getter]
    fn _version(&self) -> u64 {
        self.t.storage().version()
    }
    #[getter]
    fn _ember_tensor(&self) -> bool {
        true
    }

    // ---- autograd ----
    #[getter]
    fn get_requires_grad(&self) -> bool {
        self.t.requires_grad()
    }
    #[setter]
    fn set_requires_grad(&self, on: bool) -> PyResult<()> {
        self.t.set_requires_grad(on).py()
    }
    #[pyo3(signature = (requires_grad=true))]
    fn requires_grad_(slf: &Bound<'_, Self>, requires_grad: bool) -> PyResult<Py<PyTensor>> {
        slf.borrow().t.set_requires_grad(requires_grad).py()?;
        Ok(slf.clone().unbind())
    }
    #[getter]
    fn get_grad(&self) -> Option<PyTensor> {
        self.t.grad().map(PyTensor::new)
    }
    #[setter]
    fn set_grad(&self, g: Option<PyRef<'_, PyTensor>>) -> PyResult<()> {
        self.t.set_grad(g.map(|g| g.t.clone())).py()
    }
    #[getter]
    fn is_leaf(&self) -> bool {
        self.t.is_leaf()
    }
    #[getter]
    fn grad_fn(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.t.node() {
            Some(n) => Ok(format!("<{}Backward0>", camel(&n.op.name()))
                .into_pyobject(py)?
                .into_any()
                .unbind()),
            None => Ok(py.None()),
        }
    }
    fn retain_grad(&self) -> PyResult<()> {
        match self.t.node() {
            Some(n) => {
                *n.retained.lock().unwrap() = Some(Arc::downgrade(&self.t.0));
                Ok(())
            }
            None if self.t.requires_grad() => Ok(()),
            None => Err(PyRuntimeError::new_err(
                "can't retain_grad on Tensor that has requires_grad=False",
            )),
        }
    }
    #[getter]
    fn retains_grad(&self) -> bool {
        self.t
            .node()
            .is_some_and(|n| n.retained.lock().unwrap().is_some())
    }
    fn register_hook(&self, hook: Py<PyAny>) -> PyResult<HookHandle> {
        if !self.t.requires_grad() {
            return Err(PyRuntimeError::new_err(
                "cannot register a hook on a tensor that doesn't require gradient",
            ));
        }
        let handle = HookHandle::new(hook);
        let slot = handle.slot.clone();
        let h: Hook = Arc::new(move |g: &Tensor| {
            Python::attach(|py| {
                let Some(hook) = HookHandle::live(&slot, py) else {
                    return Ok(None);
                };
                let r = call_hook(py, &hook, g)?;
                if r.is_none(py) {
                    return Ok(None);
                }
                let t = r.extract::<PyRef<'_, PyTensor>>(py).map_err(|_| {
                    crate::Error::Runtime("a hook must return a Tensor or None".into())
                })?;
                Ok(Some(t.t.clone()))
            })
        });
        match self.t.node() {
            Some(n) => n.hooks.lock().unwrap().push(h),
            None => self.t.meta().hooks.push(h),
        }
        Ok(handle)
    }
    /// Runs `hook(tensor)` after backward has accumulated this leaf's whole gradient into
    /// `.grad` (PyTorch's `register_post_accumulate_grad_hook`; data-parallel training starts
    /// its reductions from it).
    fn register_post_accumulate_grad_hook(&self, hook: Py<PyAny>) -> PyResult<HookHandle> {
        if !self.t.requires_grad() {
            return Err(PyRuntimeError::new_err(
                "cannot register a hook on a tensor that doesn't require gradient",
            ));
        }
        if self.t.node().is_some() {
            return Err(PyRuntimeError::new_err(
                "post accumulate grad hooks cannot be registered on non-leaf tensors",
            ));
        }
        let handle = HookHandle::new(hook);
        let slot = handle.slot.clone();
        let h: PostAccumulateHook = Arc::new(move |leaf: &Tensor| {
            Python::attach(|py| match HookHandle::live(&slot, py) {
                Some(hook) => call_hook(py, &hook, leaf).map(|_| ()),
                None => Ok(()),
            })
        });
        self.t.meta().post_accumulate_hooks.push(h);
        Ok(handle)
    }
    #[pyo3(signature = (gradient=None, retain_graph=None, create_graph=false, inputs=None))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<PyRef<'_, PyTensor>>,
        retain_graph: Option<bool>,
        create_graph: bool,
        inputs: Option<Vec<PyRef<'_, PyTensor>>>,
    ) -> PyResult<()> {
        let g = gradient.map(|g| g.t.clone());
        let retain = retain_graph.unwrap_or(create_graph);
        let t = self.t.clone();
        match inputs {
            None => py
                .detach(|| autograd::backward(&[t], vec![g], retain, create_graph))
                .py(),
            Some(inputs) => {
                let ins: Vec<Tensor> = inputs.iter().map(|i| i.t.clone()).collect();
                let grads = py
                    .detach(|| autograd::grad(&[t], vec![g], &ins, retain, create_graph, true))
                    .py()?;
                for (i, g) in ins.iter().zip(grads) {
                    if let Some(g) = g {
                        let prev = i.grad();
                        i.set_grad(Some(match prev {
                            Some(p) => ew::binary(BinaryOp::Add, &p, &g).py()?,
                            None => g,
                        }))
                        .py()?;
                    }
                }
                Ok(())
            }
        }
    }
    fn detach(&self) -> PyTensor {
        PyTensor::new(self.t.detach())
    }
    fn detach_(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        {
            let s = slf.borrow();
            let mut m = s.t.meta();
            m.node = None;
            m.requires_grad = false;
        }
        Ok(slf.clone().unbind())
    }
    #[getter]
    fn data(&self) -> PyTensor {
        PyTensor::new(self.t.detach())
    }
    #[setter]
    fn set_data(&self, other: PyRef<'_, PyTensor>) -> PyResult<()> {
        if other.t.shape() != self.t.shape() || other.t.dtype() != self.t.dtype() {
            return Err(PyRuntimeError::new_err(format!(
                "assigning .data of shape {:?} / {} to a tensor of shape {:?} / {} is not supported; use copy_()",
                other.t.shape(), other.t.dtype().name(), self.t.shape(), self.t.dtype().name()
            )));
        }
        crate::backend::copy_into(&self.t, &other.t).py()?;
        self.t.storage().bump_version();
        Ok(())
    }

    // ---- conversion ----
    fn item(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = self.t.item_f64().py()?;
        scalar_to_py(py, self.t.dtype(), v, &self.t)
    }
    fn tolist(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        tolist(py, &self.t)
    }
    #[getter]
    fn __array_interface__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        array_interface(py, &self.t)
    }
    #[pyo3(signature = (*, force=false))]
    fn numpy(slf: &Bound<'_, Self>, force: bool) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if slf.borrow().t.requires_grad() && !force {
            return Err(PyRuntimeError::new_err("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."));
        }
        let np = py.import("numpy")?;
        Ok(np.call_method1("asarray", (slf,))?.unbind())
    }
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__(
        slf: &Bound<'_, Self>,
        dtype: Option<&Bound<'_, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let np = py.import("numpy")?;
        let holder = py.import("ember")?.getattr("_ArrayHolder")?.call1((slf,))?;
        let mut arr = np.call_method1("asarray", (holder,))?;
        if let Some(d) = dtype {
            arr = arr.call_method1("astype", (d,))?;
        } else if copy == Some(true) {
            arr = arr.call_method0("copy")?;
        }
        Ok(arr.unbind())
    }
    fn __reduce__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        // Pickles as (ndarray copy, requires_grad) so tensors cross process boundaries.
        let ember = py.import("ember")?;
        let rebuild = ember.getattr("_rebuild_tensor")?;
        let np = py.import("numpy")?;
        let src = if self.t.dtype() == DType::BF16 {
            ew::to_dtype(&self.t.detach(), DType::F32).py()?
        } else {
            self.t.detach()
        };
        let arr = np.call_method1("array", (PyTensor::new(src),))?;
        Ok((
            rebuild,
            (arr, self.t.dtype().name(), self.t.requires_grad()),
        )
            .into_pyobject(py)?
            .into_any()
            .unbind())
    }
    fn __float__(&self) -> PyResult<f64> {
        self.t.item_f64().py()
    }
    fn __int__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if !self.t.dtype().is_float() && self.t.numel() == 1 {
            return Ok(self.t.to_vec::<i64>()[0]
                .into_pyobject(py)?
                .into_any()
                .unbind());
        }
        // Through Python's int(float): NaN is a ValueError, infinity an OverflowError, and
        // large values keep every digit, as PyTorch's __int__.
        let f = self.t.item_f64().py()?;
        Ok(pyo3::types::PyFloat::new(py, f)
            .call_method0("__int__")?
            .unbind())
    }
    fn __index__(&self) -> PyResult<i64> {
        if self.t.dtype().is_float() || self.t.numel() != 1 {
            return Err(PyTypeError::new_err(
                "only integer tensors of a single element can be converted to an index",
            ));
        }
        Ok(self.t.to_vec::<i64>()[0])
    }
    fn __bool__(&self) -> PyResult<bool> {
        if self.t.numel() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "Boolean value of Tensor with more than one value is ambiguous (shape {:?})",
                self.t.shape()
            )));
        }
        Ok(self.t.item_f64().py()? != 0.0)
    }
    fn __len__(&self) -> PyResult<usize> {
        if self.t.ndim() == 0 {
            return Err(PyTypeError::new_err("len() of a 0-d tensor"));
        }
        Ok(self.t.shape()[0])
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }
    fn __iter__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let t = slf.borrow().t.clone();
        if t.ndim() == 0 {
            return Err(PyTypeError::new_err("iteration over a 0-d tensor"));
        }
        let py = slf.py();
        let items: Vec<PyTensor> = (0..t.shape()[0])
            .map(|i| view::select(&t, 0, i as isize).map(PyTensor::new))
            .collect::<crate::Result<_>>()
            .py()?;
        Ok(PyList::new(py, items)?.try_iter()?.into_any().unbind())
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let f = slf.py().import("ember")?.getattr("_tensor_repr")?;
        f.call1((slf,))?.extract()
    }

    // ---- dtype / device ----
    // Conversions that change nothing return the tensor itself, as PyTorch does.
    #[pyo3(signature = (*args, dtype=None, device=None, non_blocking=false, copy=false))]
    fn to(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        dtype: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        non_blocking: bool,
        copy: bool,
    ) -> PyResult<Py<PyAny>> {
        let _ = non_blocking;
        let mut want_dtype = dtype_arg(dtype)?;
        let mut want_device = match device {
            Some(d) if !d.is_none() => Some(device_arg(d)?),
            _ => None,
        };
        for a in args.iter() {
            if let Ok(Some(d)) = dtype_arg(Some(&a)) {
                want_dtype = Some(d);
            } else if let Ok(t) = a.extract::<PyRef<'_, PyTensor>>() {
                want_dtype = Some(t.t.dtype());
                want_device = Some(t.t.device());
            } else {
                want_device = Some(device_arg(&a)?);
            }
        }
        let this = slf.borrow().t.clone();
        let mut t = this.clone();
        if let Some(d) = want_device {
            t = ew::to_device(&t, d).py()?;
        }
        if let Some(d) = want_dtype {
            t = ew::to_dtype(&t, d).py()?;
        }
        if copy && t.same(&this) {
            t = ew::copy(&t).py()?;
        }
        same_or_new(slf, t)
    }
    fn cpu(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let t = ew::to_device(&slf.borrow().t, crate::Device::Cpu).py()?;
        same_or_new(slf, t)
    }
    #[pyo3(signature = (device=None))]
    fn gpu(&self, device: Option<usize>) -> R {
        wrap(ew::to_device(
            &self.t,
            crate::Device::Gpu(device.unwrap_or(0)),
        ))
    }
    #[pyo3(signature = (device=None))]
    fn cuda(&self, device: Option<usize>) -> R {
        self.gpu(device)
    }
    /// With no argument, PyTorch's legacy type name (`ember.FloatTensor`); else a conversion.
    #[pyo3(signature = (dtype=None))]
    fn r#type(slf: &Bound<'_, Self>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        match dtype_arg(dtype)? {
            None => {
                let name = match slf.borrow().t.dtype() {
                    DType::F32 => "FloatTensor",
                    DType::F64 => "DoubleTensor",
                    DType::F16 => "HalfTensor",
                    DType::BF16 => "BFloat16Tensor",
                    DType::I64 => "LongTensor",
                    DType::I32 => "IntTensor",
                    DType::Bool => "BoolTensor",
                };
                Ok(format!("ember.{name}")
                    .into_pyobject(py)?
                    .into_any()
                    .unbind())
            }
            Some(d) => {
                let t = ew::to_dtype(&slf.borrow().t, d).py()?;
                same_or_new(slf, t)
            }
        }
    }
    fn float(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        convert_to(slf, DType::F32)
    }
    fn double(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        convert_to(slf, DType::F64)
    }
    fn half(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        convert_to(slf, DType::F16)
    }
    fn bfloat16(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        convert_to(slf, DType::BF16)
    }
    fn long(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        convert_to(slf, DType::I64)
    }
    fn int(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        convert_to(slf, DType::I32)
    }
    fn bool(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        convert_to(slf, DType::Bool)
    }
    #[pyo3(signature = (memory_format=None))]
    fn contiguous(
        slf: &Bound<'_, Self>,
        memory_format: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let _ = memory_format;
        let t = view::contiguous(&slf.borrow().t).py()?;
        same_or_new(slf, t)
    }
    #[pyo3(signature = (memory_format=None))]
    fn clone(&self, memory_format: Option<&Bound<'_, PyAny>>) -> R {
        let _ = memory_format;
        wrap(ew::copy(&self.t))
    }

    // ---- operators ----
    fn __add__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Add, false)
    }
    fn __radd__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Add, true)
    }
    fn __sub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Sub, false)
    }
    fn __rsub__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Sub, true)
    }
    fn __mul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Mul, false)
    }
    fn __rmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Mul, true)
    }
    fn __truediv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Div, false)
    }
    fn __rtruediv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Div, true)
    }
    fn __floordiv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::FloorDivide, false)
    }
    fn __rfloordiv__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::FloorDivide, true)
    }
    fn __mod__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Remainder, false)
    }
    fn __rmod__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Remainder, true)
    }
    fn __pow__(
        &self,
        py: Python<'_>,
        o: &Bound<'_, PyAny>,
        _m: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Pow, false)
    }
    fn __rpow__(
        &self,
        py: Python<'_>,
        o: &Bound<'_, PyAny>,
        _m: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::Pow, true)
    }
    fn __and__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::BitwiseAnd, false)
    }
    fn __or__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::BitwiseOr, false)
    }
    fn __xor__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::BitwiseXor, false)
    }
    fn __rand__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::BitwiseAnd, true)
    }
    fn __ror__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        arith(py, &self.t, o, BinaryOp::BitwiseOr, true)
    }
    fn __matmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match o.extract::<PyRef<'_, PyTensor>>() {
            Ok(b) => Ok(PyTensor::new(linalg::matmul(&self.t, &b.t).py()?)
                .into_pyobject(py)?
                .into_any()
                .unbind()),
            Err(_) => Ok(py.NotImplemented()),
        }
    }
    fn __rmatmul__(&self, py: Python<'_>, o: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match o.extract::<PyRef<'_, PyTensor>>() {
            Ok(a) => Ok(PyTensor::new(linalg::matmul(&a.t, &self.t).py()?)
                .into_pyobject(py)?
                .into_any()
                .unbind()),
            Err(_) => Ok(py.NotImplemented()),
        }
    }
    fn __neg__(&self) -> R {
        wrap(ew::unary(UnaryOp::Neg, &self.t))
    }
    fn __pos__(&self) -> PyTensor {
        PyTensor::new(self.t.clone())
    }
    fn __abs__(&self) -> R {
        wrap(ew::unary(UnaryOp::Abs, &self.t))
    }
    fn __invert__(&self) -> R {
        wrap(ew::unary(UnaryOp::BitwiseNot, &self.t))
    }
    fn __richcmp__(
        &self,
        py: Python<'_>,
        o: &Bound<'_, PyAny>,
        op: pyo3::basic::CompareOp,
    ) -> PyResult<Py<PyAny>> {
        use pyo3::basic::CompareOp::*;
        let b = match op {
            Eq => BinaryOp::Eq,
            Ne => BinaryOp::Ne,
            Lt => BinaryOp::Lt,
            Le => BinaryOp::Le,
            Gt => BinaryOp::Gt,
            Ge => BinaryOp::Ge,
        };
        arith(py, &self.t, o, b, false)
    }

    // ---- in-place operators ----
    fn __iadd__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = tensor_or_scalar(&slf.borrow().t, o)?;
        in_place(slf, |t| ew::binary(BinaryOp::Add, t, &b)).map(|_| ())
    }
    fn __isub__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = tensor_or_scalar(&slf.borrow().t, o)?;
        in_place(slf, |t| ew::binary(BinaryOp::Sub, t, &b)).map(|_| ())
    }
    fn __imul__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = tensor_or_scalar(&slf.borrow().t, o)?;
        in_place(slf, |t| ew::binary(BinaryOp::Mul, t, &b)).map(|_| ())
    }
    fn __itruediv__(slf: &Bound<'_, Self>, o: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = tensor_or_scalar(&slf.borrow().t, o)?;
        in_place(slf, |t| ew::binary(BinaryOp::Div, t, &b)).map(|_| ())
    }

    // ---- indexing ----
    fn __getitem__(&self, idx: &Bound<'_, PyAny>) -> R {
        wrap_py(getitem(&self.t, idx))
    }
    fn __setitem__(&self, idx: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        setitem(&self.t, idx, value)
    }
}

/// `slf` itself when `t` is its very tensor, else a new Python tensor.
fn same_or_new(slf: &Bound<'_, PyTensor>, t: Tensor) -> PyResult<Py<PyAny>> {
    if t.same(&slf.borrow().t) {
        return Ok(slf.clone().into_any().unbind());
    }
    Ok(PyTensor::new(t)
        .into_pyobject(slf.py())?
        .into_any()
        .unbind())
}

fn convert_to(slf: &Bound<'_, PyTensor>, dtype: DType) -> PyResult<Py<PyAny>> {
    let t = ew::to_dtype(&slf.borrow().t, dtype).py()?;
    same_or_new(slf, t)
}

/// `gelu_erf` -> `GeluErf`, for PyTorch-style node names like `<GeluErfBackward0>`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn wrap_py(r: PyResult<Tensor>) -> R {
    r.map(PyTensor::new)
}

fn size_obj(py: Python<'_>, shape: &[usize]) -> PyResult<Py<PyAny>> {
    let cls = py.import("ember")?.getattr("Size")?;
    Ok(cls.call1((PyTuple::new(py, shape)?,))?.unbind())
}

fn scalar_to_py(py: Python<'_>, dtype: DType, v: f64, t: &Tensor) -> PyResult<Py<PyAny>> {
    Ok(match dtype {
        DType::Bool => (v != 0.0).into_pyobject(py)?.to_owned().into_any().unbind(),
        DType::I64 => t.to_vec::<i64>()[0].into_pyobject(py)?.into_any().unbind(),
        DType::I32 => (v as i64).into_pyobject(py)?.into_any().unbind(),
        _ => v.into_pyobject(py)?.into_any().unbind(),
    })
}

fn tolist(py: Python<'_>, t: &Tensor) -> PyResult<Py<PyAny>> {
    if t.ndim() == 0 {
        return scalar_to_py(py, t.dtype(), t.item_f64().py()?, t);
    }
    let items: Vec<Py<PyAny>> = (0..t.shape()[0])
        .map(|i| tolist(py, &view::select(t, 0, i as isize).py()?))
        .collect::<PyResult<_>>()?;
    Ok(PyList::new(py, items)?.into_any().unbind())
}

/// One parsed index item.
enum Item {
    Int(isize),
    Slice(Option<isize>, Option<isize>, isize),
    NewAxis,
    Ellipsis,
    Adv(Tensor),
}

fn parse_items(idx: &Bound<'_, PyAny>) -> PyResult<Vec<Item>> {
    let list: Vec<Bound<'_, PyAny>> = if idx.is_instance_of::<PyTuple>() {
        idx.cast::<PyTuple>()?.iter().collect()
    } else {
        vec![idx.clone()]
    };
    let mut out = Vec::new();
    for it in list {
        if it.is_none() {
            out.push(Item::NewAxis);
        } else if it.is_instance_of::<PyEllipsis>() {
            if out.iter().any(|i| matches!(i, Item::Ellipsis)) {
                return Err(PyIndexError::new_err(
                    "an index can only have a single ellipsis ('...')",
                ));
            }
            out.push(Item::Ellipsis);
        } else if it.is_instance_of::<PySlice>() {
            let s = it.cast::<PySlice>()?;
            let get = |n: &str| -> PyResult<Option<isize>> {
                let v = s.getattr(n)?;
                if v.is_none() {
                    Ok(None)
                } else {
                    Ok(Some(v.extract::<isize>()?))
                }
            };
            let step = get("step")?.unwrap_or(1);
            if step <= 0 {
                return Err(PyValueError::new_err("step must be greater than zero"));
            }
            out.push(Item::Slice(get("start")?, get("stop")?, step));
        } else if it.is_instance_of::<pyo3::types::PyBool>() {
            return Err(PyIndexError::new_err(
                "indexing with a Python bool is not supported",
            ));
        } else if let Ok(t) = it.extract::<PyRef<'_, PyTensor>>() {
            if t.t.ndim() == 0 && !t.t.dtype().is_float() && t.t.dtype() != DType::Bool {
                out.push(Item::Int(t.t.to_vec::<i64>()[0] as isize));
            } else {
                out.push(Item::Adv(t.t.clone()));
            }
        } else if let Ok(i) = it.extract::<isize>() {
            out.push(Item::Int(i));
        } else if it.is_instance_of::<PyList>() || it.hasattr("__array_interface__")? {
            // An empty list selects nothing: an int64 index, as PyTorch reads it.
            let empty = it.is_instance_of::<PyList>() && it.len()? == 0;
            let t =
                super::convert::tensor_from_data(&it, if empty { Some(DType::I64) } else { None })?;
            out.push(Item::Adv(t));
        } else {
            return Err(PyIndexError::new_err(format!("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {})", it.get_type().name()?)));
        }
    }
    Ok(out)
}

/// Applies basic items as views; returns the view and the (dim, index tensor) of advanced items.
fn apply_basic(t: &Tensor, items: Vec<Item>) -> PyResult<(Tensor, Vec<(usize, Tensor)>)> {
    let consumed = items
        .iter()
        .map(|i| match i {
            Item::Int(_) | Item::Slice(..) => 1,
            Item::Adv(a) if a.dtype() == DType::Bool => a.ndim().max(1),
            Item::Adv(_) => 1,
            _ => 0,
        })
        .sum::<usize>();
    if consumed > t.ndim() {
        return Err(PyIndexError::new_err(format!(
            "too many indices for tensor of dimension {}",
            t.ndim()
        )));
    }
    let mut cur = t.clone();
    let mut dim = 0usize;
    let mut adv = Vec::new();
    for it in items {
        match it {
            Item::Int(i) => cur = view::select(&cur, dim as isize, i).py()?,
            Item::Slice(a, b, s) => {
                let (start, len, step) = view::slice_bounds(cur.shape()[dim], a, b, s).py()?;
                cur = view::slice(&cur, dim, start, len, step).py()?;
                dim += 1;
            }
            Item::NewAxis => {
                cur = view::unsqueeze(&cur, dim as isize).py()?;
                dim += 1;
            }
            Item::Ellipsis => dim += t.ndim() - consumed,
            Item::Adv(a) => {
                let span = if a.dtype() == DType::Bool {
                    a.ndim().max(1)
                } else {
                    1
                };
                adv.push((dim, a));
                dim += span;
            }
        }
    }
    Ok((cur, adv))
}

/// How advanced indices select along a span of dims: the view with that span moved to the
/// front, the span's sizes, the selected linear positions within the span, and the shape the
/// index tensors broadcast to (the selection's leading dims in the result).
struct Advanced {
    moved: Tensor,
    span: Vec<usize>,
    rows: Vec<i64>,
    index_shape: Vec<usize>,
    dim: usize,
}

fn checked_index(i: i64, size: usize, dim: usize) -> PyResult<i64> {
    let n = size as i64;
    if i < -n || i >= n {
        return Err(PyIndexError::new_err(format!(
            "index {i} is out of bounds for dimension {dim} with size {size}"
        )));
    }
    Ok(if i < 0 { i + n } else { i })
}

fn plan_advanced(cur: &Tensor, adv: &[(usize, Tensor)]) -> PyResult<Advanced> {
    let dim = adv[0].0;
    let adjacent = adv.iter().enumerate().all(|(k, (d, _))| *d == dim + k);
    if !adjacent && adv.iter().all(|(_, a)| a.dtype() != DType::Bool) {
        // Advanced indices separated by a slice: their dims go first, as in NumPy and PyTorch.
        let mut perm: Vec<isize> = adv.iter().map(|(d, _)| *d as isize).collect();
        perm.extend(
            (0..cur.ndim())
                .filter(|d| !adv.iter().any(|(x, _)| x == d))
                .map(|d| d as isize),
        );
        let moved = view::permute(cur, &perm).py()?;
        let front: Vec<(usize, Tensor)> = adv
            .iter()
            .enumerate()
            .map(|(k, (_, a))| (k, a.clone()))
            .collect();
        return plan_advanced(&moved, &front);
    }
    if adv.len() == 1 && adv[0].1.dtype() == DType::Bool {
        let a = &adv[0].1;
        let k = a.ndim().max(1);
        if cur.ndim() < dim + k || cur.shape()[dim..dim + k] != *a.shape() {
            return Err(PyIndexError::new_err(format!("The shape of the mask {:?} does not match the shape of the indexed tensor {:?} at dim {dim}", a.shape(), cur.shape())));
        }
        let rows: Vec<i64> = a
            .to_vec::<bool>()
            .iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(i, _)| i as i64)
            .collect();
        let n = rows.len();
        return Ok(Advanced {
            moved: move_span_to_front(cur, dim, k)?,
            span: cur.shape()[dim..dim + k].to_vec(),
            rows,
            index_shape: vec![n],
            dim,
        });
    }
    let m = adv.len();
    for (k, (d, a)) in adv.iter().enumerate() {
        if *d != dim + k || a.dtype() == DType::Bool {
            return Err(PyIndexError::new_err(
                "ember supports several advanced indices only as integer tensors on adjacent dims",
            ));
        }
        if a.dtype().is_float() {
            return Err(PyIndexError::new_err(
                "tensors used as indices must be long, int, byte or bool tensors",
            ));
        }
    }
    let mut index_shape: Vec<usize> = vec![];
    for (_, a) in adv {
        index_shape = crate::shape::broadcast_shapes(&index_shape, a.shape()).py()?;
    }
    let count: usize = index_shape.iter().product();
    let span: Vec<usize> = cur.shape()[dim..dim + m].to_vec();
    // Linear position within the span: row-major over the span's dims, indices broadcast.
    let mut rows = vec![0i64; count];
    for (k, (_, a)) in adv.iter().enumerate() {
        let b = view::expand(
            &ew::to_dtype(a, DType::I64).py()?,
            &index_shape.iter().map(|&s| s as isize).collect::<Vec<_>>(),
        )
        .py()?;
        for (r, v) in rows.iter_mut().zip(b.to_vec::<i64>()) {
            *r = *r * span[k] as i64 + checked_index(v, span[k], dim + k)?;
        }
    }
    Ok(Advanced {
        moved: move_span_to_front(cur, dim, m)?,
        span,
        rows,
        index_shape,
        dim,
    })
}

fn getitem(t: &Tensor, idx: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let items = parse_items(idx)?;
    let (cur, adv) = apply_basic(t, items)?;
    if adv.is_empty() {
        return Ok(cur);
    }
    let a = plan_advanced(&cur, &adv)?;
    let flat = view::flatten(&a.moved, 0, a.span.len() as isize - 1).py()?;
    let n = a.rows.len();
    let picked = index::take_rows(
        &flat,
        &view::reshape(
            &Tensor::from_vec(a.rows, &[n]).py()?,
            &a.index_shape
                .iter()
                .map(|&s| s as isize)
                .collect::<Vec<_>>(),
        )
        .py()?,
    )
    .py()?;
    move_back(&picked, a.index_shape.len(), a.dim)
}

fn move_span_to_front(t: &Tensor, dim: usize, k: usize) -> PyResult<Tensor> {
    let mut perm: Vec<isize> = (dim..dim + k).map(|d| d as isize).collect();
    perm.extend(
        (0..t.ndim())
            .filter(|&d| d < dim || d >= dim + k)
            .map(|d| d as isize),
    );
    view::permute(t, &perm).py()
}

fn move_back(t: &Tensor, lead: usize, dim: usize) -> PyResult<Tensor> {
    if dim == 0 {
        return Ok(t.clone());
    }
    let n = t.ndim();
    let mut perm: Vec<isize> = Vec::new();
    perm.extend((lead..lead + dim).map(|d| d as isize));
    perm.extend((0..lead).map(|d| d as isize));
    perm.extend((lead + dim..n).map(|d| d as isize));
    view::permute(t, &perm).py()
}

/// `t[idx] = value`. Under autograd every write goes through the in-place machinery, so the
/// indexed tensor's history keeps the untouched elements and `value` gets its gradient.
fn setitem(t: &Tensor, idx: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let v = match tensor_or_scalar(t, value) {
        Ok(v) => v,
        // A list or array value is built on the host, then joins the tensor's device.
        Err(_) => ew::to_device(
            &super::convert::tensor_from_data(value, Some(t.dtype()))?,
            t.device(),
        )
        .py()?,
    };
    // Raises for the writes autograd forbids (into a leaf that requires grad, or a view of one).
    let tracked = !matches!(ew::check_in_place(t).py()?, ew::Tracking::Untracked);
    write_items(t, idx, &v, tracked)
}

fn put(dst: &Tensor, src: &Tensor, tracked: bool) -> PyResult<()> {
    if tracked {
        ew::in_place(dst, |_| Ok(src.clone()), true).py()
    } else {
        ew::write(dst, src, true).py()
    }
}

fn write_items(t: &Tensor, idx: &Bound<'_, PyAny>, v: &Tensor, tracked: bool) -> PyResult<()> {
    let items = parse_items(idx)?;
    let (cur, adv) = apply_basic(t, items)?;
    if adv.is_empty() {
        return put(&cur, v, tracked);
    }
    let a = plan_advanced(&cur, &adv)?;
    // The value broadcasts to the shape getitem would return; put its index dims first so
    // that row j of it is what goes to selected position j.
    let lead = a.index_shape.len();
    let mut result_shape: Vec<usize> = cur.shape()[..a.dim].to_vec();
    result_shape.extend(&a.index_shape);
    result_shape.extend(&cur.shape()[a.dim + a.span.len()..]);
    let mut vv = v.clone();
    while vv.ndim() > result_shape.len() && vv.shape()[0] == 1 {
        vv = view::select(&vv, 0, 0).py()?;
    }
    let vb = view::expand(
        &vv,
        &result_shape.iter().map(|&s| s as isize).collect::<Vec<_>>(),
    )
    .py()?;
    let mut perm: Vec<isize> = (a.dim..a.dim + lead).map(|d| d as isize).collect();
    perm.extend((0..a.dim).map(|d| d as isize));
    perm.extend((a.dim + lead..result_shape.len()).map(|d| d as isize));
    let vp = view::permute(&vb, &perm).py()?;
    let vrows = view::reshape(&vp, &[a.rows.len() as isize, -1]).py()?;
    for (j, &r) in a.rows.iter().enumerate() {
        // Walk the span dim by dim (selects are views, so the write lands in `t`).
        let mut dst = a.moved.clone();
        let mut rem = r as usize;
        let mut coords = vec![0usize; a.span.len()];
        for (k, &size) in a.span.iter().enumerate().rev() {
            coords[k] = rem % size;
            rem /= size;
        }
        for c in coords {
            dst = view::select(&dst, 0, c as isize).py()?;
        }
        let src = view::reshape(
            &view::select(&vrows, 0, j as isize).py()?,
            &dst.shape().iter().map(|&s| s as isize).collect::<Vec<_>>(),
        )
        .py()?;
        put(&dst, &src, tracked)?;
    }
    Ok(())
}

/// Reductions, math and shape methods that mirror the module functions.
#[pymethods]
impl PyTensor {
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn sum(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let t = match dtype_arg(dtype)? {
            Some(d) => ew::to_dtype(&self.t, d).py()?,
            None => self.t.clone(),
        };
        wrap(reduce::sum(&t, &dims_or_all(dim)?, keepdim))
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn mean(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let t = match dtype_arg(dtype)? {
            Some(d) => ew::to_dtype(&self.t, d).py()?,
            None => self.t.clone(),
        };
        wrap(reduce::mean(&t, &dims_or_all(dim)?, keepdim))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn prod(&self, dim: Option<isize>, keepdim: bool) -> R {
        wrap(reduce::reduce(
            ReduceOp::Prod,
            &self.t,
            &dim.map(|d| vec![d]).unwrap_or_default(),
            keepdim,
        ))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amax(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        wrap(reduce::reduce(
            ReduceOp::Max,
            &self.t,
            &dims_or_all(dim)?,
            keepdim,
        ))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amin(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        wrap(reduce::reduce(
            ReduceOp::Min,
            &self.t,
            &dims_or_all(dim)?,
            keepdim,
        ))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn max(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Py<PyAny>> {
        minmax(py, &self.t, dim, keepdim, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn min(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Py<PyAny>> {
        minmax(py, &self.t, dim, keepdim, false)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, dim: Option<isize>, keepdim: bool) -> R {
        wrap(reduce::argmax(&self.t, dim, keepdim, true))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, dim: Option<isize>, keepdim: bool) -> R {
        wrap(reduce::argmax(&self.t, dim, keepdim, false))
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn var(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> R {
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        wrap(reduce::var(&self.t, &dims_or_all(dim)?, c, keepdim))
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn std(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<bool>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> R {
        let c = correction.unwrap_or(if unbiased.unwrap_or(true) { 1.0 } else { 0.0 });
        wrap(reduce::std(&self.t, &dims_or_all(dim)?, c, keepdim))
    }
    #[pyo3(signature = (p=None, dim=None, keepdim=false))]
    fn norm(
        &self,
        p: Option<&Bound<'_, PyAny>>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> R {
        let p = match p {
            None => 2.0,
            Some(v) if v.is_none() => 2.0,
            Some(v) => match v.extract::<String>() {
                Ok(s) if s == "fro" => 2.0,
                Ok(s) => {
                    return Err(PyValueError::new_err(format!(
                        "unsupported norm type '{s}'"
                    )))
                }
                Err(_) => v.extract::<f64>()?,
            },
        };
        wrap(reduce::norm(&self.t, p, &dims_or_all(dim)?, keepdim))
    }
    #[pyo3(signature = (dim, keepdim=false))]
    fn logsumexp(&self, dim: &Bound<'_, PyAny>, keepdim: bool) -> R {
        wrap(reduce::logsumexp(
            &self.t,
            &dims_or_all(Some(dim))?,
            keepdim,
        ))
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn softmax(&self, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let t = match dtype_arg(dtype)? {
            Some(d) => ew::to_dtype(&self.t, d).py()?,
            None => self.t.clone(),
        };
        wrap(reduce::softmax(&t, dim, false))
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn log_softmax(&self, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let t = match dtype_arg(dtype)? {
            Some(d) => ew::to_dtype(&self.t, d).py()?,
            None => self.t.clone(),
        };
        wrap(reduce::softmax(&t, dim, true))
    }
    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumsum(&self, dim: isize, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let t = match dtype_arg(dtype)? {
            Some(d) => ew::to_dtype(&self.t, d).py()?,
            None => self.t.clone(),
        };
        wrap(reduce::cumsum(&t, dim))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, dim: Option<isize>, keepdim: bool) -> R {
        wrap(reduce::reduce(
            ReduceOp::All,
            &self.t,
            &dim.map(|d| vec![d]).unwrap_or_default(),
            keepdim,
        ))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, dim: Option<isize>, keepdim: bool) -> R {
        wrap(reduce::reduce(
            ReduceOp::Any,
            &self.t,
            &dim.map(|d| vec![d]).unwrap_or_default(),
            keepdim,
        ))
    }

    // ---- shape ----
    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> R {
        if shape.len() == 1 {
            if let Ok(Some(d)) = dtype_arg(Some(&shape.get_item(0)?)) {
                if d == self.t.dtype() {
                    return Ok(PyTensor::new(self.t.clone()));
                }
                return Err(PyTypeError::new_err(
                    "view(dtype) reinterpretation is not supported",
                ));
            }
        }
        wrap(view::view(&self.t, &shape_args(shape)?))
    }
    fn view_as(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(view::view(
            &self.t,
            &other
                .t
                .shape()
                .iter()
                .map(|&s| s as isize)
                .collect::<Vec<_>>(),
        ))
    }
    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> R {
        wrap(view::reshape(&self.t, &shape_args(shape)?))
    }
    fn reshape_as(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(view::reshape(
            &self.t,
            &other
                .t
                .shape()
                .iter()
                .map(|&s| s as isize)
                .collect::<Vec<_>>(),
        ))
    }
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> R {
        wrap(view::permute(&self.t, &shape_args(dims)?))
    }
    fn transpose(&self, dim0: isize, dim1: isize) -> R {
        wrap(view::transpose(&self.t, dim0, dim1))
    }
    fn t(&self) -> R {
        if self.t.ndim() > 2 {
            return Err(PyRuntimeError::new_err(format!(
                "t() expects a tensor with <= 2 dimensions, but self is {}D",
                self.t.ndim()
            )));
        }
        if self.t.ndim() < 2 {
            return Ok(PyTensor::new(self.t.clone()));
        }
        wrap(view::transpose(&self.t, 0, 1))
    }
    #[getter(T)]
    fn big_t(&self) -> R {
        let n = self.t.ndim() as isize;
        wrap(view::permute(&self.t, &(0..n).rev().collect::<Vec<_>>()))
    }
    #[getter(mT)]
    fn m_t(&self) -> R {
        if self.t.ndim() < 2 {
            return Err(PyRuntimeError::new_err(
                "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.",
            ));
        }
        wrap(view::transpose(&self.t, -2, -1))
    }
    fn unsqueeze(&self, dim: isize) -> R {
        wrap(view::unsqueeze(&self.t, dim))
    }
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, dim: Option<&Bound<'_, PyAny>>) -> R {
        let d = dims_arg(dim)?;
        wrap(view::squeeze(&self.t, d.as_deref()))
    }
    #[pyo3(signature = (*sizes))]
    fn expand(&self, sizes: &Bound<'_, PyTuple>) -> R {
        wrap(view::expand(&self.t, &shape_args(sizes)?))
    }
    fn expand_as(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(view::expand(
            &self.t,
            &other
                .t
                .shape()
                .iter()
                .map(|&s| s as isize)
                .collect::<Vec<_>>(),
        ))
    }
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, start_dim: isize, end_dim: isize) -> R {
        wrap(view::flatten(&self.t, start_dim, end_dim))
    }
    fn unflatten(&self, dim: isize, sizes: Vec<isize>) -> R {
        let d = crate::shape::normalize_dim(dim, self.t.ndim()).py()?;
        let mut shape: Vec<isize> = self.t.shape()[..d].iter().map(|&s| s as isize).collect();
        let inner = crate::shape::infer_shape(&sizes, self.t.shape()[d]).py()?;
        shape.extend(inner.iter().map(|&s| s as isize));
        shape.extend(self.t.shape()[d + 1..].iter().map(|&s| s as isize));
        wrap(view::reshape(&self.t, &shape))
    }
    fn narrow(&self, dim: isize, start: isize, length: i64) -> R {
        let length =
            super::convert::count(length, || "narrow(): length must be non-negative.".into())?;
        wrap(view::narrow(&self.t, dim, start, length))
    }
    fn select(&self, dim: isize, index: isize) -> R {
        wrap(view::select(&self.t, dim, index))
    }
    #[pyo3(signature = (*sizes))]
    fn repeat(&self, sizes: &Bound<'_, PyTuple>) -> R {
        wrap(index::repeat(
            &self.t,
            &super::convert::sizes(&shape_args(sizes)?)?,
        ))
    }
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split(
        &self,
        py: Python<'_>,
        split_size_or_sections: &Bound<'_, PyAny>,
        dim: isize,
    ) -> PyResult<Py<PyAny>> {
        let parts = match split_size_or_sections.extract::<usize>() {
            Ok(s) => index::split(&self.t, s, dim),
            Err(_) => index::split_sizes(
                &self.t,
                &split_size_or_sections.extract::<Vec<usize>>()?,
                dim,
            ),
        }
        .py()?;
        Ok(PyTuple::new(py, parts.into_iter().map(PyTensor::new))?
            .into_any()
            .unbind())
    }
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk(&self, py: Python<'_>, chunks: i64, dim: isize) -> PyResult<Py<PyAny>> {
        let chunks = super::convert::count(chunks, || {
            format!("chunk expects `chunks` to be greater than 0, got: {chunks}")
        })?;
        let parts = index::chunk(&self.t, chunks, dim).py()?;
        Ok(PyTuple::new(py, parts.into_iter().map(PyTensor::new))?
            .into_any()
            .unbind())
    }
    #[pyo3(signature = (dim=0))]
    fn unbind(&self, py: Python<'_>, dim: isize) -> PyResult<Py<PyAny>> {
        let d = crate::shape::normalize_dim(dim, self.t.ndim()).py()?;
        let parts: Vec<PyTensor> = (0..self.t.shape()[d])
            .map(|i| view::select(&self.t, d as isize, i as isize).map(PyTensor::new))
            .collect::<crate::Result<_>>()
            .py()?;
        Ok(PyTuple::new(py, parts)?.into_any().unbind())
    }

    // ---- indexing ops ----
    fn gather(&self, dim: isize, index: PyRef<'_, PyTensor>) -> R {
        wrap(index::gather(&self.t, dim, &index.t))
    }
    fn scatter(&self, dim: isize, index: PyRef<'_, PyTensor>, src: &Bound<'_, PyAny>) -> R {
        let s = tensor_or_scalar(&self.t, src)?;
        let s = if s.ndim() == 0 {
            view::expand(
                &s,
                &index
                    .t
                    .shape()
                    .iter()
                    .map(|&v| v as isize)
                    .collect::<Vec<_>>(),
            )
            .py()?
        } else {
            s
        };
        wrap(index::scatter(&self.t, dim, &index.t, &s))
    }
    fn scatter_add(&self, dim: isize, index: PyRef<'_, PyTensor>, src: PyRef<'_, PyTensor>) -> R {
        wrap(index::scatter_add(&self.t, dim, &index.t, &src.t))
    }
    fn scatter_(
        slf: &Bound<'_, Self>,
        dim: isize,
        index: PyRef<'_, PyTensor>,
        src: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyTensor>> {
        let s = tensor_or_scalar(&slf.borrow().t, src)?;
        let shape: Vec<isize> = index.t.shape().iter().map(|&v| v as isize).collect();
        let s = if s.ndim() == 0 {
            view::expand(&s, &shape).py()?
        } else {
            s
        };
        let i = index.t.clone();
        in_place(slf, |t| index::scatter(t, dim, &i, &s))
    }
    fn scatter_add_(
        slf: &Bound<'_, Self>,
        dim: isize,
        index: PyRef<'_, PyTensor>,
        src: PyRef<'_, PyTensor>,
    ) -> PyResult<Py<PyTensor>> {
        let (i, s) = (index.t.clone(), src.t.clone());
        in_place(slf, |t| index::scatter_add(t, dim, &i, &s))
    }
    fn index_select(&self, dim: isize, index: PyRef<'_, PyTensor>) -> R {
        wrap(index::index_select(&self.t, dim, &index.t))
    }
    fn masked_fill(&self, mask: PyRef<'_, PyTensor>, value: &Bound<'_, PyAny>) -> R {
        wrap(index::masked_fill(&self.t, &mask.t, masked_value(value)?))
    }
    fn masked_fill_(
        slf: &Bound<'_, Self>,
        mask: PyRef<'_, PyTensor>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyTensor>> {
        let (m, v) = (mask.t.clone(), masked_value(value)?);
        in_place(slf, |t| index::masked_fill(t, &m, v))
    }
    #[pyo3(signature = (*dims))]
    fn flip(&self, dims: &Bound<'_, PyTuple>) -> R {
        wrap(index::flip(&self.t, &shape_args(dims)?))
    }
    #[pyo3(signature = (shifts, dims=None))]
    fn roll(&self, shifts: &Bound<'_, PyAny>, dims: Option<&Bound<'_, PyAny>>) -> R {
        let s = dims_arg(Some(shifts))?.unwrap_or_default();
        wrap(index::roll(
            &self.t,
            &s,
            &dims_arg(dims)?.unwrap_or_default(),
        ))
    }
    #[pyo3(signature = (diagonal=0))]
    fn tril(&self, diagonal: i64) -> R {
        wrap(index::triangle(&self.t, diagonal, true))
    }
    #[pyo3(signature = (diagonal=0))]
    fn triu(&self, diagonal: i64) -> R {
        wrap(index::triangle(&self.t, diagonal, false))
    }
    #[pyo3(signature = (dim=-1, descending=false, stable=false))]
    fn sort(
        &self,
        py: Python<'_>,
        dim: isize,
        descending: bool,
        stable: bool,
    ) -> PyResult<Py<PyAny>> {
        let _ = stable;
        let (v, i) = index::sort(&self.t, dim, descending).py()?;
        values_indices(py, "sort", v, i)
    }
    #[pyo3(signature = (dim=-1, descending=false, stable=false))]
    fn argsort(&self, dim: isize, descending: bool, stable: bool) -> R {
        let _ = stable;
        wrap(index::argsort(&self.t, dim, descending))
    }
    #[pyo3(signature = (k, dim=-1, largest=true, sorted=true))]
    fn topk(
        &self,
        py: Python<'_>,
        k: i64,
        dim: isize,
        largest: bool,
        sorted: bool,
    ) -> PyResult<Py<PyAny>> {
        let k = super::convert::count(k, || format!("selected index k out of range: k={k}"))?;
        let _ = sorted;
        let (v, i) = index::topk(&self.t, k, dim, largest).py()?;
        values_indices(py, "topk", v, i)
    }
    fn nonzero(&self) -> R {
        wrap(index::nonzero(&self.t))
    }

    // ---- math ----
    #[pyo3(signature = (min=None, max=None))]
    fn clamp(&self, min: Option<f64>, max: Option<f64>) -> R {
        wrap(ew::clamp(&self.t, min, max))
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clip(&self, min: Option<f64>, max: Option<f64>) -> R {
        self.clamp(min, max)
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_(slf: &Bound<'_, Self>, min: Option<f64>, max: Option<f64>) -> PyResult<Py<PyTensor>> {
        in_place(slf, |t| ew::clamp(t, min, max))
    }
    fn matmul(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(linalg::matmul(&self.t, &other.t))
    }
    fn mm(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(linalg::mm(&self.t, &other.t))
    }
    fn bmm(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(linalg::bmm(&self.t, &other.t))
    }
    fn dot(&self, other: PyRef<'_, PyTensor>) -> R {
        if self.t.ndim() != 1 || other.t.ndim() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "1D tensors expected, but got {}D and {}D tensors",
                self.t.ndim(),
                other.t.ndim()
            )));
        }
        wrap(linalg::matmul(&self.t, &other.t))
    }
    fn where_(&self, condition: PyRef<'_, PyTensor>, other: &Bound<'_, PyAny>) -> R {
        let o = tensor_or_scalar(&self.t, other)?;
        wrap(ew::where_(&condition.t, &self.t, &o))
    }
    #[pyo3(name = "where")]
    fn where_method(&self, condition: PyRef<'_, PyTensor>, other: &Bound<'_, PyAny>) -> R {
        self.where_(condition, other)
    }
    #[pyo3(signature = (num_samples, replacement=false, *, generator=None))]
    fn multinomial(
        &self,
        num_samples: i64,
        replacement: bool,
        generator: Option<PyRef<'_, super::functions::PyGenerator>>,
    ) -> R {
        let num_samples =
            super::convert::count(num_samples, || "cannot sample n_sample <= 0 samples".into())?;
        let g = generator.as_ref().map(|g| &g.g);
        wrap(crate::random::multinomial(
            &self.t,
            num_samples,
            replacement,
            g,
        ))
    }
    #[pyo3(signature = (*, generator=None))]
    fn bernoulli(&self, generator: Option<PyRef<'_, super::functions::PyGenerator>>) -> R {
        wrap(crate::random::bernoulli(
            &self.t,
            generator.as_ref().map(|g| &g.g),
        ))
    }
    fn pow(&self, exponent: &Bound<'_, PyAny>) -> R {
        // A named method raises on a bad operand (only the `**` operator answers NotImplemented).
        match operand(exponent) {
            Some(o) => wrap(o.apply(BinaryOp::Pow, &self.t)),
            None => Err(PyTypeError::new_err(format!(
                "pow() received an invalid combination of arguments - got (Tensor, {})",
                exponent.get_type().name()?
            ))),
        }
    }
    /// Any unary op of the op table by name (for the Python layer's activations).
    fn _unary(&self, name: &str) -> R {
        let op = UnaryOp::from_name(name)
            .ok_or_else(|| PyValueError::new_err(format!("unknown unary op '{name}'")))?;
        wrap(ew::unary(op, &self.t))
    }
    fn pow_(slf: &Bound<'_, Self>, exponent: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        let o = tensor_or_scalar(&slf.borrow().t, exponent)?;
        in_place(slf, |t| ew::binary(BinaryOp::Pow, t, &o))
    }

    // ---- in-place ----
    fn zero_(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        in_place_cast(slf, |t| Scalar::Int(0).tensor_next_to(t))
    }
    fn fill_(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        let v = tensor_or_scalar(&slf.borrow().t, value)?;
        in_place_cast(slf, |_| Ok(v))
    }
    #[pyo3(signature = (src, non_blocking=false))]
    fn copy_(
        slf: &Bound<'_, Self>,
        src: PyRef<'_, PyTensor>,
        non_blocking: bool,
    ) -> PyResult<Py<PyTensor>> {
        let _ = non_blocking;
        // copy_ moves data across devices, as PyTorch's does (recorded for autograd).
        let s = ew::to_device(&src.t, slf.borrow().t.device()).py()?;
        in_place_cast(slf, |_| Ok(s))
    }
    #[pyo3(signature = (from_=0.0, to=1.0, *, generator=None))]
    fn uniform_(
        slf: &Bound<'_, Self>,
        from_: f64,
        to: f64,
        generator: Option<PyRef<'_, super::functions::PyGenerator>>,
    ) -> PyResult<Py<PyTensor>> {
        crate::random::uniform_(&slf.borrow().t, from_, to, generator.as_ref().map(|g| &g.g))
            .py()?;
        Ok(slf.clone().unbind())
    }
    #[pyo3(signature = (mean=0.0, std=1.0, *, generator=None))]
    fn normal_(
        slf: &Bound<'_, Self>,
        mean: f64,
        std: f64,
        generator: Option<PyRef<'_, super::functions::PyGenerator>>,
    ) -> PyResult<Py<PyTensor>> {
        crate::random::normal_(&slf.borrow().t, mean, std, generator.as_ref().map(|g| &g.g))
            .py()?;
        Ok(slf.clone().unbind())
    }
}

fn masked_value(value: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    scalar_arg(value)
        .or_else(|| {
            value
                .extract::<PyRef<'_, PyTensor>>()
                .ok()
                .and_then(|t| t.t.item_f64().ok().map(Scalar::Float))
        })
        .ok_or_else(|| PyTypeError::new_err("masked_fill value must be a number or a 0-d tensor"))
}

fn scaled(t: &Tensor, other: &Bound<'_, PyAny>, alpha: Option<f64>) -> PyResult<Tensor> {
    let o = tensor_or_scalar(t, other)?;
    match alpha {
        Some(a) if a != 1.0 => ew::binary_scalar(BinaryOp::Mul, &o, Scalar::Float(a)).py(),
        _ => Ok(o),
    }
}

fn minmax(
    py: Python<'_>,
    t: &Tensor,
    dim: Option<&Bound<'_, PyAny>>,
    keepdim: bool,
    largest: bool,
) -> PyResult<Py<PyAny>> {
    match dim {
        None => {
            let op = if largest {
                ReduceOp::Max
            } else {
                ReduceOp::Min
            };
            Ok(PyTensor::new(reduce::reduce(op, t, &[], false).py()?)
                .into_pyobject(py)?
                .into_any()
                .unbind())
        }
        Some(d) => {
            if let Ok(other) = d.extract::<PyRef<'_, PyTensor>>() {
                let op = if largest {
                    BinaryOp::Maximum
                } else {
                    BinaryOp::Minimum
                };
                return Ok(PyTensor::new(ew::binary(op, t, &other.t).py()?)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind());
            }
            let (v, i) = reduce::max_dim(t, d.extract::<isize>()?, keepdim, largest).py()?;
            values_indices(py, if largest { "max" } else { "min" }, v, i)
        }
    }
}

/// Unary math methods and their in-place forms, one line each.
macro_rules! unary_methods {
    ($($name:ident, $name_:ident => $op:ident;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self) -> R { wrap(ew::unary(UnaryOp::$op, &self.t)) }
                fn $name_(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> { in_place(slf, |t| ew::unary(UnaryOp::$op, t)) }
            )*
        }
    };
}

unary_methods! {
    neg, neg_ => Neg; abs, abs_ => Abs; exp, exp_ => Exp; log, log_ => Log; log1p, log1p_ => Log1p;
    expm1, expm1_ => Expm1; sqrt, sqrt_ => Sqrt; rsqrt, rsqrt_ => Rsqrt; sin, sin_ => Sin; cos, cos_ => Cos;
    tanh, tanh_ => Tanh; sigmoid, sigmoid_ => Sigmoid; relu, relu_ => Relu; erf, erf_ => Erf; sign, sign_ => Sign;
    floor, floor_ => Floor; ceil, ceil_ => Ceil; round, round_ => Round; trunc, trunc_ => Trunc; fix, fix_ => Trunc; reciprocal, reciprocal_ => Reciprocal;
    logical_not, logical_not_ => LogicalNot; negative, negative_ => Neg; bitwise_not, bitwise_not_ => BitwiseNot;
}

/// Binary math methods (tensor or number operand) and their in-place forms.
macro_rules! binary_methods {
    ($($name:ident, $name_:ident => $op:ident;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(&self, other: &Bound<'_, PyAny>) -> R {
                    wrap(method_operand(other)?.apply(BinaryOp::$op, &self.t))
                }
                fn $name_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
                    let o = method_operand(other)?;
                    in_place(slf, |t| o.apply(BinaryOp::$op, t))
                }
            )*
        }
    };
}

binary_methods! {
    mul, mul_ => Mul; div, div_ => Div;
    maximum, maximum_ => Maximum; minimum, minimum_ => Minimum; remainder, remainder_ => Remainder;
    floor_divide, floor_divide_ => FloorDivide; atan2, atan2_ => Atan2;
    eq, eq_ => Eq; ne, ne_ => Ne; lt, lt_ => Lt; le, le_ => Le; gt, gt_ => Gt; ge, ge_ => Ge;
    logical_and, logical_and_ => LogicalAnd; logical_or, logical_or_ => LogicalOr; logical_xor, logical_xor_ => LogicalXor;
    multiply, multiply_ => Mul; divide, divide_ => Div; subtract, subtract_ => Sub; true_divide, true_divide_ => Div;
    bitwise_and, bitwise_and_ => BitwiseAnd; bitwise_or, bitwise_or_ => BitwiseOr; bitwise_xor, bitwise_xor_ => BitwiseXor;
}

#[pymethods]
impl PyTensor {
    #[pyo3(signature = (other, *, alpha=None))]
    fn add(&self, other: &Bound<'_, PyAny>, alpha: Option<f64>) -> R {
        let o = scaled(&self.t, other, alpha)?;
        wrap(ew::binary(BinaryOp::Add, &self.t, &o))
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn add_(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        alpha: Option<f64>,
    ) -> PyResult<Py<PyTensor>> {
        let o = scaled(&slf.borrow().t, other, alpha)?;
        in_place(slf, |t| ew::binary(BinaryOp::Add, t, &o))
    }
    /// `sub(other, alpha=1)`: `self - alpha * other`.
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub(&self, other: &Bound<'_, PyAny>, alpha: Option<f64>) -> R {
        let o = scaled(&self.t, other, alpha)?;
        wrap(ew::binary(BinaryOp::Sub, &self.t, &o))
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub_(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        alpha: Option<f64>,
    ) -> PyResult<Py<PyTensor>> {
        let o = scaled(&slf.borrow().t, other, alpha)?;
        in_place(slf, |t| ew::binary(BinaryOp::Sub, t, &o))
    }
}

/// Calls a Python hook with a tensor; the hook's own exception reaches the caller of
/// backward() unchanged.
pub(crate) fn call_hook(py: Python<'_>, hook: &Py<PyAny>, t: &Tensor) -> crate::Result<Py<PyAny>> {
    hook.call1(py, (PyTensor::new(t.clone()),))
        .map_err(|e| carried("hook", e))
}

/// A Python exception raised by code the core called back (`what`: a hook, a callback),
/// carried through the core so the caller of backward() gets it back unchanged.
pub(crate) fn carried(what: &str, e: PyErr) -> crate::Error {
    crate::error::Error::Foreign(crate::error::Foreign {
        description: format!("{what} raised: {e}"),
        payload: Arc::new(e),
    })
}

/// What a tensor's hook registration returns (PyTorch's `torch.utils.hooks.RemovableHandle`):
/// `remove()` empties the hook's slot, so the hook no longer runs and the Python callable it
/// holds is released; the empty slot stays on the tape until the tensor goes.
#[pyclass(name = "RemovableHandle", module = "ember.utils.hooks")]
pub struct HookHandle {
    slot: Arc<std::sync::Mutex<Option<Py<PyAny>>>>,
}

impl HookHandle {
    fn new(hook: Py<PyAny>) -> HookHandle {
        HookHandle {
            slot: Arc::new(std::sync::Mutex::new(Some(hook))),
        }
    }

    /// The hook, unless it was removed (cloned out, so the lock is not held while it runs).
    fn live(slot: &std::sync::Mutex<Option<Py<PyAny>>>, py: Python<'_>) -> Option<Py<PyAny>> {
        slot.lock().unwrap().as_ref().map(|h| h.clone_ref(py))
    }
}

#[pymethods]
impl HookHandle {
    fn remove(&self) {
        self.slot.lock().unwrap().take();
    }
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __exit__(
        &self,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.remove();
        false
    }
}
