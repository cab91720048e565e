//! The Python bindings: convert arguments, call the core, map errors. Nothing here decides.

mod convert;
mod dlpack;
mod functions;
mod gpu;
mod nn;
mod tensor;

use crate::error::Error;
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pub use tensor::PyTensor;

// `torch.OutOfMemoryError`: a RuntimeError, so `except RuntimeError` code catches it too.
pyo3::create_exception!(
    ember,
    OutOfMemoryError,
    PyRuntimeError,
    "Raised when a device (the CPU or a GPU) cannot allocate a tensor's memory."
);

/// Maps a core error to the Python exception PyTorch raises for the same misuse.
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::Shape(m)
        | Error::DType(m)
        | Error::Device(m)
        | Error::Autograd(m)
        | Error::Runtime(m) => PyRuntimeError::new_err(m),
        Error::Index(m) => PyIndexError::new_err(m),
        Error::Value(m) => PyValueError::new_err(m),
        Error::OutOfMemory(m) => OutOfMemoryError::new_err(m),
        Error::Foreign(f) => match f.payload.downcast_ref::<PyErr>() {
            Some(e) => Python::attach(|py| e.clone_ref(py)),
            None => PyRuntimeError::new_err(f.description),
        },
    }
}

pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for crate::error::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTensor>()?;
    m.add_class::<tensor::HookHandle>()?;
    m.add("OutOfMemoryError", m.py().get_type::<OutOfMemoryError>())?;
    m.add_class::<convert::PyDType>()?;
    m.add_class::<convert::PyDevice>()?;
    m.add_class::<functions::PyGenerator>()?;
    functions::register(m)?;
    nn::register(m)?;
    gpu::register(m)?;
    m.add_function(wrap_pyfunction!(dlpack::from_dlpack, m)?)?;
    Ok(())
}
