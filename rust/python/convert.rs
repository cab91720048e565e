//! Conversions at the boundary: dtype and device objects, Python numbers and nested lists,
//! NumPy arrays through `__array_interface__` (zero-copy both ways), shape arguments.

use super::IntoPyResult;
use crate::dtype::DType;
use crate::layout::Layout;
use crate::ops::Scalar;
use crate::shape::Shape;
use crate::storage::{CpuBuffer, Device, Storage};
use crate::tensor::Tensor;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// `ember.float32` and friends.
#[pyclass(name = "dtype", module = "ember", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDType(pub DType);

#[pymethods]
impl PyDType {
    #[getter]
    fn is_floating_point(&self) -> bool {
        self.0.is_float()
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.0.size()
    }
    fn __repr__(&self) -> String {
        format!("ember.{}", self.0.name())
    }
    fn __str__(&self) -> String {
        self.__repr__()
    }
    fn __reduce__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let ember = py.import("ember")?;
        let f = ember.getattr("_dtype_from_name")?;
        Ok((f, (self.0.name(),)).into_pyobject(py)?.into_any().unbind())
    }
}

/// `ember.device("cpu")`; "cuda" is accepted as an alias of "gpu".
#[pyclass(name = "device", module = "ember", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDevice(pub Device);

#[pymethods]
impl PyDevice {
    #[new]
    #[pyo3(signature = (spec, index=None))]
    fn new(spec: &Bound<'_, PyAny>, index: Option<usize>) -> PyResult<PyDevice> {
        let d = device_arg(spec)?;
        Ok(match (d, index) {
            (Device::Gpu(_), Some(i)) => PyDevice(Device::Gpu(i)),
            _ => PyDevice(d),
        })
    }
    #[getter]
    fn r#type(&self) -> &'static str {
        match self.0 {
            Device::Cpu => "cpu",
            Device::Gpu(_) => "gpu",
        }
    }
    #[getter]
    fn index(&self) -> Option<usize> {
        match self.0 {
            Device::Cpu => None,
            Device::Gpu(i) => Some(i),
        }
    }
    fn __repr__(&self) -> String {
        match self.0 {
            Device::Cpu => "device(type='cpu')".into(),
            Device::Gpu(i) => format!("device(type='gpu', index={i})"),
        }
    }
    fn __str__(&self) -> String {
        self.0.to_string()
    }
}

pub fn dtype_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DType>> {
    let Some(obj) = obj else { return Ok(None) };
    if obj.is_none() {
        return Ok(None);
    }
    if let Ok(d) = obj.cast::<PyDType>() {
        return Ok(Some(d.get().0));
    }
    // A dtype's name is not a dtype: PyTorch refuses `dtype="float32"` with a TypeError, and
    // accepting it would let code run here that fails under torch.
    if obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(format!(
            "argument 'dtype' must be ember.dtype, not str ({}; use ember.{})",
            obj.repr()?,
            obj.extract::<String>()?
        )));
    }
    // Python's own float/int/bool types, as torch accepts.
    let py = obj.py();
    if obj.is(py.get_type::<pyo3::types::PyFloat>()) {
        return Ok(Some(DType::F64));
    }
    if obj.is(py.get_type::<pyo3::types::PyBool>()) {
        return Ok(Some(DType::Bool));
    }
    if obj.is(py.get_type::<pyo3::types::PyInt>()) {
        return Ok(Some(DType::I64));
    }
    Err(PyTypeError::new_err(format!(
        "expected an ember dtype (e.g. ember.float32), got {}",
        obj.repr()?
    )))
}

pub fn device_arg(obj: &Bound<'_, PyAny>) -> PyResult<Device> {
    if let Ok(d) = obj.cast::<PyDevice>() {
        return Ok(d.get().0);
    }
    if let Ok(s) = obj.extract::<String>() {
        return Device::parse(&s).py();
    }
    if let Ok(i) = obj.extract::<usize>() {
        return Ok(Device::Gpu(i));
    }
    Err(PyTypeError::new_err(format!(
        "expected a device (e.g. 'cpu' or 'gpu'), got {}",
        obj.repr()?
    )))
}

pub fn opt_device(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Device> {
    match obj {
        Some(o) if !o.is_none() => device_arg(o),
        _ => Ok(Device::Cpu),
    }
}

/// A Python number as an op operand (bool before int: bool is an int subclass).
pub fn scalar_arg(obj: &Bound<'_, PyAny>) -> Option<Scalar> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return obj.extract::<bool>().ok().map(Scalar::Bool);
    }
    if obj.is_instance_of::<pyo3::types::PyInt>() {
        return obj.extract::<i64>().ok().map(Scalar::Int);
    }
    if obj.is_instance_of::<pyo3::types::PyFloat>() {
        return obj.extract::<f64>().ok().map(Scalar::Float);
    }
    // NumPy scalars and 0-d arrays.
    if obj.hasattr("dtype").unwrap_or(false)
        && obj.hasattr("item").unwrap_or(false)
        && !obj.hasattr("_ember_tensor").unwrap_or(false)
    {
        if let Ok(ndim) = obj.getattr("ndim").and_then(|n| n.extract::<usize>()) {
            if ndim == 0 {
                return obj.call_method0("item").ok().and_then(|v| scalar_arg(&v));
            }
        }
    }
    None
}

/// Sizes given as `f(2, 3)`, `f((2, 3))` or `f([2, 3])`.
pub fn shape_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<isize>> {
    if args.len() == 1 {
        let a = args.get_item(0)?;
        if let Ok(v) = a.extract::<Vec<isize>>() {
            return Ok(v);
        }
        if let Ok(i) = a.extract::<isize>() {
            return Ok(vec![i]);
        }
        return Err(PyTypeError::new_err(format!(
            "expected a sequence of ints for a size, got {}",
            a.repr()?
        )));
    }
    args.iter().map(|a| a.extract::<isize>()).collect()
}

pub fn sizes(v: &[isize]) -> PyResult<Shape> {
    v.iter()
        .map(|&d| {
            if d < 0 {
                Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "Trying to create tensor with negative dimension {d}: {v:?}"
                )))
            } else {
                Ok(d as usize)
            }
        })
        .collect()
}

/// A count argument taken as a Python int (negative ones included, so a negative value gets
/// PyTorch's RuntimeError `message` instead of pyo3's "can't convert negative int to unsigned").
pub fn count(v: i64, message: impl FnOnce() -> String) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| pyo3::exceptions::PyRuntimeError::new_err(message()))
}

/// Dims given as None, an int, or a sequence of ints.
pub fn dims_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<isize>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => {
            if let Ok(i) = o.extract::<isize>() {
                Ok(Some(vec![i]))
            } else {
                Ok(Some(o.extract::<Vec<isize>>()?))
            }
        }
    }
}

fn numpy_typestr(d: DType) -> &'static str {
    match d {
        DType::Bool => "|b1",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::BF16 => "<V2",
    }
}

/// `__array_interface__` of a CPU tensor: NumPy views its memory without a copy.
pub fn array_interface<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyDict>> {
    if t.device() != Device::Cpu {
        return Err(PyTypeError::new_err(format!(
            "can't convert {} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.",
            t.device()
        )));
    }
    if t.dtype() == DType::BF16 {
        return Err(PyTypeError::new_err(
            "Got unsupported ScalarType BFloat16: NumPy has no bfloat16; call .float() first",
        ));
    }
    let d = PyDict::new(py);
    let size = t.dtype().size();
    let ptr = t.storage().data_ptr() as usize + t.layout().offset * size;
    d.set_item("shape", PyTuple::new(py, t.shape())?)?;
    d.set_item("typestr", numpy_typestr(t.dtype()))?;
    d.set_item("data", (ptr, false))?;
    let strides: Vec<usize> = t.layout().strides.iter().map(|s| s * size).collect();
    d.set_item("strides", PyTuple::new(py, strides)?)?;
    d.set_item("version", 3)?;
    Ok(d)
}

/// A tensor over a NumPy array's memory (zero-copy) when its dtype and strides allow.
pub fn from_numpy(arr: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    from_numpy_impl(arr, true)
}

/// `ember.from_numpy`: refuses negative strides, as PyTorch does, instead of copying.
pub fn from_numpy_strict(arr: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    if !arr.is_instance(&arr.py().import("numpy")?.getattr("ndarray")?)? {
        return Err(PyTypeError::new_err(format!(
            "expected np.ndarray (got {})",
            arr.get_type().name()?
        )));
    }
    from_numpy_impl(arr, false)
}

/// The ember dtype of a NumPy type string (`dtype.str`), and whether it is a widening (NumPy's
/// narrower and unsigned integers have no ember dtype of their own).
fn numpy_kind(kind: &str) -> Option<(DType, bool)> {
    Some(match kind {
        "<f4" => (DType::F32, false),
        "<f8" => (DType::F64, false),
        "<i8" => (DType::I64, false),
        "<i4" => (DType::I32, false),
        "|b1" => (DType::Bool, false),
        "<f2" => (DType::F16, false),
        "|u1" | "|i1" | "<i2" | "<u2" => (DType::I32, true),
        "<u4" | "<u8" => (DType::I64, true),
        _ => return None,
    })
}

fn from_numpy_impl(arr: &Bound<'_, PyAny>, allow_copy: bool) -> PyResult<Tensor> {
    let py = arr.py();
    let np = py.import("numpy")?;
    let kind: String = arr.getattr("dtype")?.getattr("str")?.extract()?;
    let dtype = match numpy_kind(&kind) {
        Some((dtype, false)) => dtype,
        // Narrower integers have no ember dtype: widen them (a copy).
        Some((DType::I32, true)) => return from_numpy(&arr.call_method1("astype", (np.getattr("int32")?,))?),
        Some(_) => return from_numpy(&arr.call_method1("astype", (np.getattr("int64")?,))?),
        None => return Err(PyTypeError::new_err(format!("can't convert np.ndarray of type {kind}. The only supported types are: float64, float32, float16, int64, int32, bool (and narrower ints, which are widened)."))),
    };
    let iface = arr.getattr("__array_interface__")?;
    let shape: Vec<usize> = iface.get_item("shape")?.extract()?;
    let (ptr, _readonly): (usize, bool) = iface.get_item("data")?.extract()?;
    let size = dtype.size();
    let strides_obj = iface.get_item("strides")?;
    let byte_strides: Option<Vec<isize>> = if strides_obj.is_none() {
        None
    } else {
        Some(strides_obj.extract()?)
    };
    let strides: Vec<usize> = match byte_strides {
        None => crate::shape::contiguous_strides(&shape),
        Some(bs) => {
            if !allow_copy && bs.iter().any(|&s| s < 0) {
                return Err(PyValueError::new_err("At least one stride in the given numpy array is negative, and tensors with negative strides are not currently supported. (You can probably work around this by making a copy of your array with array.copy().)"));
            }
            if bs.iter().any(|&s| s < 0 || s as usize % size != 0) {
                // Negative or unaligned strides: take a contiguous copy first.
                return from_numpy(&np.call_method1("ascontiguousarray", (arr,))?);
            }
            bs.iter().map(|&s| s as usize / size).collect()
        }
    };
    let layout = Layout {
        shape,
        strides,
        offset: 0,
    };
    let len = layout.span();
    let owner: Py<PyAny> = arr.clone().unbind();
    // SAFETY: NumPy guarantees `ptr` spans the array's elements; `owner` keeps the array alive.
    let buf = unsafe { CpuBuffer::external(ptr as *mut u8, Box::new(owner)) };
    Ok(Tensor::from_parts(
        Storage::from_buffer(buf, dtype, len),
        layout,
    ))
}

/// Values gathered from nested Python sequences, with the dtype their leaves promote to.
struct Nested {
    values: Vec<f64>,
    ints: Vec<i64>,
    shape: Vec<usize>,
    has_float: bool,
    dtype: Option<DType>,
}

impl Nested {
    fn push(&mut self, value: f64, int: i64, dtype: DType) {
        self.has_float |= dtype.is_float();
        self.dtype = Some(self.dtype.map_or(dtype, |d| DType::promote(d, dtype)));
        self.values.push(value);
        self.ints.push(int);
    }
}

/// The dtype PyTorch infers for one number: Python's bool, int and float by their kind, a NumPy
/// scalar by its own dtype (so `[np.float64(0.5)]` is float64 and `[np.int32(1)]` int32, as in
/// PyTorch; np.float64 subclasses float, hence the exact-type checks).
fn leaf_dtype(obj: &Bound<'_, PyAny>, s: Scalar) -> DType {
    let builtin = obj.is_exact_instance_of::<pyo3::types::PyBool>()
        || obj.is_exact_instance_of::<pyo3::types::PyInt>()
        || obj.is_exact_instance_of::<pyo3::types::PyFloat>();
    let numpy = || {
        let kind: String = obj
            .getattr("dtype")
            .ok()?
            .getattr("str")
            .ok()?
            .extract()
            .ok()?;
        numpy_kind(&kind).map(|(d, _)| d)
    };
    if let Some(d) = (!builtin).then(numpy).flatten() {
        return d;
    }
    match s {
        Scalar::Bool(_) => DType::Bool,
        Scalar::Int(_) => DType::I64,
        Scalar::Float(_) => crate::dtype::default_float(),
    }
}

/// The deepest nesting `ember.tensor` takes (NumPy's limit on dimensions), so hostile input
/// cannot exhaust the stack.
const MAX_NESTING: usize = 64;

fn walk(obj: &Bound<'_, PyAny>, depth: usize, acc: &mut Nested) -> PyResult<()> {
    if let Some(s) = scalar_arg(obj) {
        if depth != acc.shape.len() {
            return Err(PyValueError::new_err(format!(
                "expected sequence of length {} at dim {depth} (got a scalar)",
                acc.shape[depth]
            )));
        }
        let dtype = leaf_dtype(obj, s);
        match s {
            Scalar::Float(f) => acc.push(f, f as i64, dtype),
            Scalar::Int(i) => acc.push(i as f64, i, dtype),
            Scalar::Bool(b) => acc.push(b as i64 as f64, b as i64, dtype),
        }
        return Ok(());
    }
    if let Ok(t) = obj.extract::<PyRef<'_, super::PyTensor>>() {
        let t = &t.t;
        if t.ndim() == 0 {
            let value = t.to_vec::<f64>()[0];
            let int = if t.dtype().is_float() {
                value as i64
            } else {
                t.to_vec::<i64>()[0]
            };
            acc.push(value, int, t.dtype());
            return Ok(());
        }
    }
    if obj.is_instance_of::<pyo3::types::PyInt>() {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "Overflow when unpacking long: a Python int outside int64's range",
        ));
    }
    // Strings and bytes are sequences of themselves (endless recursion); mappings and sets
    // have no order: PyTorch refuses them all.
    if obj.is_instance_of::<pyo3::types::PyString>()
        || obj.is_instance_of::<pyo3::types::PyBytes>()
        || obj.is_instance_of::<pyo3::types::PyByteArray>()
        || obj.is_instance_of::<PyDict>()
        || obj.is_instance_of::<pyo3::types::PySet>()
        || obj.is_instance_of::<pyo3::types::PyFrozenSet>()
    {
        return Err(PyTypeError::new_err(format!(
            "new(): invalid data type '{}'",
            obj.get_type().name()?
        )));
    }
    if depth >= MAX_NESTING {
        return Err(PyValueError::new_err(format!(
            "too many dimensions '{}': data nested deeper than {MAX_NESTING} levels",
            obj.get_type().name()?
        )));
    }
    let seq: Vec<Bound<'_, PyAny>> = if obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.hasattr("__len__")?
    {
        obj.try_iter()?.collect::<PyResult<_>>()?
    } else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "Could not infer dtype of {}",
            obj.get_type().name()?
        )));
    };
    if depth == acc.shape.len() {
        if !acc.values.is_empty() {
            return Err(PyValueError::new_err(format!(
                "expected a number at dim {depth} but found a sequence"
            )));
        }
        acc.shape.push(seq.len());
    } else if acc.shape[depth] != seq.len() {
        return Err(PyValueError::new_err(format!(
            "expected sequence of length {} at dim {depth} (got {})",
            acc.shape[depth],
            seq.len()
        )));
    }
    for item in &seq {
        walk(item, depth + 1, acc)?;
    }
    Ok(())
}

/// `ember.tensor(data)`: nested lists, numbers, NumPy arrays or tensors, always copied.
pub fn tensor_from_data(data: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Tensor> {
    if let Ok(t) = data.extract::<PyRef<'_, super::PyTensor>>() {
        let src = t.t.detach();
        return crate::ops::elementwise::copy(
            &crate::ops::elementwise::to_dtype(&src, dtype.unwrap_or(src.dtype())).py()?,
        )
        .py();
    }
    if data.hasattr("__array_interface__")? && !data.is_instance_of::<PyList>() {
        let np = data.py().import("numpy")?;
        // asarray keeps 0-d arrays and NumPy scalars 0-d (ascontiguousarray would make them 1-d).
        let arr = np.call_method1("asarray", (data,))?;
        let t = from_numpy(&arr)?;
        let t = crate::ops::elementwise::copy(&t).py()?;
        return match dtype {
            Some(d) => crate::ops::elementwise::to_dtype(&t, d).py(),
            None => Ok(t),
        };
    }
    let mut acc = Nested {
        values: Vec::new(),
        ints: Vec::new(),
        shape: Vec::new(),
        has_float: false,
        dtype: None,
    };
    walk(data, 0, &mut acc)?;
    let dtype = dtype
        .or(acc.dtype)
        .unwrap_or_else(crate::dtype::default_float);
    if dtype == DType::I64 && !acc.has_float {
        return Tensor::from_vec(acc.ints, &acc.shape).py();
    }
    let t = Tensor::from_vec(acc.values, &acc.shape).py()?;
    crate::ops::elementwise::to_dtype(&t, dtype).py()
}
