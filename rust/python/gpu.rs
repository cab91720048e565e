//! Bindings of `ember.gpu`: adapters, synchronisation and memory statistics.

use super::IntoPyResult;
use crate::gpu;
use pyo3::prelude::*;

#[pyfunction]
fn gpu_device_count() -> usize {
    gpu::adapter_count()
}

/// The adapter a bare "gpu" means (torch.cuda.current_device).
#[pyfunction]
fn gpu_current() -> usize {
    crate::storage::current_gpu()
}

/// Makes adapter `index` the one a bare "gpu" means; it must exist (PyTorch's "invalid device
/// ordinal" is a RuntimeError too).
#[pyfunction]
fn gpu_set_current(index: usize) -> PyResult<()> {
    let count = gpu::adapter_count();
    if index >= count {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "invalid device ordinal: gpu:{index} requested, {count} GPU adapter(s) found"
        )));
    }
    crate::storage::set_current_gpu(index);
    Ok(())
}

/// (name, backend, is_software) of adapter `index`, without opening it.
#[pyfunction]
fn gpu_adapter(index: usize) -> PyResult<(String, String, bool)> {
    gpu::adapter_summary(index).ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err(format!(
            "device 'gpu:{index}' is not available: {} GPU adapter(s) found",
            gpu::adapter_count()
        ))
    })
}

#[pyfunction]
fn gpu_synchronize(index: usize) -> PyResult<()> {
    gpu::context(index).py()?.synchronize().py()
}

/// (allocated, peak, cached) bytes of device `index`.
#[pyfunction]
fn gpu_memory_stats(index: usize) -> PyResult<(u64, u64, u64)> {
    Ok(gpu::pool::stats(&*gpu::context(index).py()?))
}

#[pyfunction]
fn gpu_empty_cache(index: usize) -> PyResult<()> {
    gpu::pool::empty_cache(&*gpu::context(index).py()?);
    Ok(())
}

#[pyfunction]
fn gpu_reset_peak(index: usize) -> PyResult<()> {
    gpu::pool::reset_peak(&*gpu::context(index).py()?);
    Ok(())
}

/// (dispatches, submits, waits) recorded by device `index`'s stream since it opened.
#[pyfunction]
fn gpu_stream_counts(index: usize) -> PyResult<(u64, u64, u64)> {
    let c = gpu::context(index).py()?.stream().counts;
    Ok((c.dispatches, c.submits, c.waits))
}

/// Per kernel (name, dispatches, milliseconds) timed under `EMBER_GPU_PROFILE=1`, longest
/// first; empty when profiling is off.
#[pyfunction]
#[pyo3(signature = (index, reset=false))]
fn gpu_profile(index: usize, reset: bool) -> PyResult<Vec<(String, u64, f64)>> {
    let g = gpu::context(index).py()?;
    g.flush();
    let mut s = g.stream();
    Ok(s.profiler
        .as_mut()
        .map(|p| p.report(reset))
        .unwrap_or_default())
}

/// (has shader-f16, has shader-f64, largest tensor in bytes) of device `index`.
#[pyfunction]
fn gpu_capabilities(index: usize) -> PyResult<(bool, bool, u64)> {
    let g = gpu::context(index).py()?;
    let max = g
        .limits
        .max_storage_buffer_binding_size
        .min(g.limits.max_buffer_size);
    Ok((g.has_f16, g.has_f64, max))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gpu_device_count, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_current, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_set_current, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_adapter, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_synchronize, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_memory_stats, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_empty_cache, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_reset_peak, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_capabilities, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_stream_counts, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_profile, m)?)?;
    Ok(())
}
