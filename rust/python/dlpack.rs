//! DLPack: `Tensor.__dlpack__` / `__dlpack_device__` and `ember.from_dlpack`, zero-copy both ways
//! (NumPy, PyTorch and JAX speak it). Only CPU memory is exchanged in this build.

use super::tensor::PyTensor;
use crate::dtype::DType;
use crate::layout::Layout;
use crate::storage::{CpuBuffer, Device, Storage};
use crate::tensor::Tensor;
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_void, CStr};
use std::os::raw::c_char;

const K_DL_CPU: i32 = 1;
const NAME: &CStr = c"dltensor";
const USED_NAME: &CStr = c"used_dltensor";

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// What an exported capsule keeps alive: the tensor and the shape/stride arrays it points to.
struct Export {
    managed: DLManagedTensor,
    _tensor: Tensor,
    _shape: Vec<i64>,
    _strides: Vec<i64>,
}

fn dl_dtype(d: DType) -> DLDataType {
    let (code, bits) = match d {
        DType::Bool => (6, 8),
        DType::I32 => (0, 32),
        DType::I64 => (0, 64),
        DType::F16 => (2, 16),
        DType::BF16 => (4, 16),
        DType::F32 => (2, 32),
        DType::F64 => (2, 64),
    };
    DLDataType {
        code,
        bits,
        lanes: 1,
    }
}

fn from_dl_dtype(t: DLDataType) -> Option<DType> {
    if t.lanes != 1 {
        return None;
    }
    Some(match (t.code, t.bits) {
        (6, 8) | (1, 1) => DType::Bool,
        (0, 32) => DType::I32,
        (0, 64) => DType::I64,
        (2, 16) => DType::F16,
        (4, 16) => DType::BF16,
        (2, 32) => DType::F32,
        (2, 64) => DType::F64,
        _ => return None,
    })
}

unsafe extern "C" fn delete_export(m: *mut DLManagedTensor) {
    if !m.is_null() {
        drop(Box::from_raw((*m).manager_ctx as *mut Export));
    }
}

unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // A consumer renames the capsule once it owns the tensor; only unconsumed ones are freed here.
    if ffi::PyCapsule_IsValid(capsule, NAME.as_ptr()) == 1 {
        let m = ffi::PyCapsule_GetPointer(capsule, NAME.as_ptr()) as *mut DLManagedTensor;
        if let Some(del) = (*m).deleter {
            del(m);
        }
    }
}

pub fn to_capsule(py: Python<'_>, t: &Tensor) -> PyResult<Py<PyAny>> {
    if t.device() != Device::Cpu {
        return Err(PyBufferError::new_err(format!(
            "__dlpack__: only CPU tensors can be exported in this build, got {}",
            t.device()
        )));
    }
    let t = t.detach();
    let shape: Vec<i64> = t.shape().iter().map(|&s| s as i64).collect();
    let strides: Vec<i64> = t.layout().strides.iter().map(|&s| s as i64).collect();
    let size = t.dtype().size();
    let mut export = Box::new(Export {
        managed: DLManagedTensor {
            dl_tensor: DLTensor {
                data: t.storage().data_ptr() as *mut c_void,
                device: DLDevice {
                    device_type: K_DL_CPU,
                    device_id: 0,
                },
                ndim: shape.len() as i32,
                dtype: dl_dtype(t.dtype()),
                shape: std::ptr::null_mut(),
                strides: std::ptr::null_mut(),
                byte_offset: (t.layout().offset * size) as u64,
            },
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(delete_export),
        },
        _tensor: t,
        _shape: shape,
        _strides: strides,
    });
    export.managed.dl_tensor.shape = export._shape.as_mut_ptr();
    export.managed.dl_tensor.strides = export._strides.as_mut_ptr();
    let raw = Box::into_raw(export);
    // SAFETY: `raw` stays valid until the deleter runs; the capsule hands out the managed tensor.
    unsafe {
        (*raw).managed.manager_ctx = raw as *mut c_void;
        let cap = ffi::PyCapsule_New(
            &mut (*raw).managed as *mut DLManagedTensor as *mut c_void,
            NAME.as_ptr(),
            Some(capsule_destructor),
        );
        if cap.is_null() {
            drop(Box::from_raw(raw));
            return Err(PyErr::fetch(py));
        }
        Ok(Bound::from_owned_ptr(py, cap).unbind())
    }
}

/// Calls the producer's deleter when ember's storage over its memory is dropped.
struct Imported(*mut DLManagedTensor);
// SAFETY: DLPack deleters may be called from any thread that holds no locks of the producer's;
// NumPy's and PyTorch's are.
unsafe impl Send for Imported {}
unsafe impl Sync for Imported {}

impl Drop for Imported {
    fn drop(&mut self) {
        // SAFETY: the producer gave us ownership of this managed tensor.
        unsafe {
            if let Some(del) = (*self.0).deleter {
                // Producers' deleters may touch Python objects: hold the GIL.
                Python::attach(|_| del(self.0));
            }
        }
    }
}

pub fn from_capsule(obj: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let capsule = if obj.hasattr("__dlpack__")? {
        obj.call_method0("__dlpack__")?
    } else {
        obj.clone()
    };
    let ptr = capsule.as_ptr();
    // SAFETY: checked to be a DLPack capsule before reading; renamed once we own it.
    unsafe {
        if ffi::PyCapsule_IsValid(ptr, NAME.as_ptr()) != 1 {
            return Err(PyTypeError::new_err(
                "from_dlpack expects an object with __dlpack__ or an unused 'dltensor' capsule",
            ));
        }
        let m = ffi::PyCapsule_GetPointer(ptr, NAME.as_ptr()) as *mut DLManagedTensor;
        let dl = &(*m).dl_tensor;
        if dl.device.device_type != K_DL_CPU {
            return Err(PyBufferError::new_err(format!(
                "from_dlpack: only CPU memory can be imported in this build (device type {})",
                dl.device.device_type
            )));
        }
        let dtype = from_dl_dtype(dl.dtype).ok_or_else(|| {
            PyTypeError::new_err(format!(
                "from_dlpack: unsupported dtype code {} with {} bits",
                dl.dtype.code, dl.dtype.bits
            ))
        })?;
        let n = dl.ndim as usize;
        let shape: Vec<usize> = (0..n).map(|i| *dl.shape.add(i) as usize).collect();
        let strides: Vec<usize> = if dl.strides.is_null() {
            crate::shape::contiguous_strides(&shape)
        } else {
            let s: Vec<i64> = (0..n).map(|i| *dl.strides.add(i)).collect();
            if s.iter().any(|&v| v < 0) {
                return Err(PyBufferError::new_err(
                    "from_dlpack: negative strides are not supported",
                ));
            }
            s.into_iter().map(|v| v as usize).collect()
        };
        let layout = Layout {
            shape,
            strides,
            offset: 0,
        };
        let data = (dl.data as *mut u8).add(dl.byte_offset as usize);
        if ffi::PyCapsule_SetName(ptr, USED_NAME.as_ptr() as *const c_char) != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        let buf = CpuBuffer::external(data, Box::new(Imported(m)));
        Ok(Tensor::from_parts(
            Storage::from_buffer(buf, dtype, layout.span()),
            layout,
        ))
    }
}

#[pymethods]
impl PyTensor {
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__(
        &self,
        py: Python<'_>,
        stream: Option<&Bound<'_, PyAny>>,
        max_version: Option<&Bound<'_, PyAny>>,
        dl_device: Option<&Bound<'_, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let _ = (stream, max_version, dl_device);
        let t = if copy == Some(true) {
            crate::ops::elementwise::copy(&self.t.detach()).map_err(super::to_py)?
        } else {
            self.t.clone()
        };
        to_capsule(py, &t)
    }
    fn __dlpack_device__(&self) -> (i32, i32) {
        match self.t.device() {
            Device::Cpu => (K_DL_CPU, 0),
            // kDLVulkan: the memory is a Vulkan (or other wgpu) buffer, not exportable.
            Device::Gpu(i) => (7, i as i32),
        }
    }
}

#[pyfunction]
pub fn from_dlpack(ext_tensor: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    Ok(PyTensor::new(from_capsule(ext_tensor)?))
}
