//! Moving tensors between host and GPU, and host copies for kernels without a WGSL variant:
//! the CPU kernel runs on copies of the GPU storage and its results go back to the device.

use super::kernels;
use crate::dtype::DType;
use crate::error::Result;
use crate::storage::{Device, Storage};
use crate::tensor::Tensor;

/// The bytes a GPU buffer holds for these host bytes (bool widens to one u32 per element).
fn device_bytes(dtype: DType, host: &[u8]) -> Vec<u8> {
    match dtype {
        DType::Bool => host
            .iter()
            .flat_map(|&b| (b as u32).to_le_bytes())
            .collect(),
        _ => host.to_vec(),
    }
}

/// Writes `bytes` (device format) into a fresh CPU storage of `dtype`.
fn host_storage(dtype: DType, len: usize, bytes: &[u8]) -> Result<Storage> {
    let s = Storage::for_overwrite(dtype, len, Device::Cpu)?;
    // SAFETY: the storage holds len * size bytes; bool bytes are written as 0 or 1.
    let dst = unsafe { std::slice::from_raw_parts_mut(s.data_ptr(), len * dtype.size()) };
    match dtype {
        DType::Bool => {
            for (d, w) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
                *d = (w != [0, 0, 0, 0]) as u8;
            }
        }
        _ => dst.copy_from_slice(&bytes[..dst.len()]),
    }
    Ok(s)
}

/// The host bytes of a CPU storage.
fn host_bytes(s: &Storage) -> &[u8] {
    // SAFETY: the storage holds len initialised elements.
    unsafe { std::slice::from_raw_parts(s.data_ptr(), s.len() * s.dtype().size()) }
}

/// A CPU copy of all of a GPU storage.
fn download_storage(s: &Storage) -> Result<Storage> {
    let b = s.gpu_buffer().expect("GPU storage");
    let bytes = b
        .gpu
        .download(b.raw(), 0, s.len() * super::element_bytes(s.dtype()))?;
    host_storage(s.dtype(), s.len(), &bytes)
}

/// `t` as a CPU tensor over a copy of its storage (same view): what host code reads.
pub fn to_host(t: &Tensor) -> Result<Tensor> {
    Ok(Tensor::from_parts(
        download_storage(t.storage())?,
        t.layout().clone(),
    ))
}

/// Writes a host tensor's whole storage back over the GPU storage of `dst` (same length).
pub fn write_back(dst: &Tensor, host: &Tensor) {
    let b = dst.storage().gpu_buffer().expect("GPU storage");
    let data = device_bytes(host.dtype(), host_bytes(host.storage()));
    b.gpu.upload(b.raw(), 0, &data);
}

/// A contiguous copy of `x` on `device`.
pub fn transfer(x: &Tensor, device: Device) -> Result<Tensor> {
    match (x.device(), device) {
        (Device::Cpu, Device::Gpu(_)) => {
            let c = if x.is_contiguous() && x.layout().offset == 0 && x.storage().len() == x.numel()
            {
                x.clone()
            } else {
                crate::backend::cast(x, x.dtype())?
            };
            let out = Tensor::for_overwrite(x.shape(), x.dtype(), device)?;
            let b = out.storage().gpu_buffer().expect("GPU storage");
            let data = device_bytes(x.dtype(), host_bytes(c.storage()));
            b.gpu.upload(b.raw(), 0, &data);
            Ok(out)
        }
        (Device::Gpu(_), Device::Cpu) => {
            let c = if x.is_contiguous() {
                x.clone()
            } else {
                crate::backend::cast(x, x.dtype())?
            };
            let b = c.storage().gpu_buffer().expect("GPU storage");
            let size = super::element_bytes(x.dtype());
            let bytes =
                b.gpu
                    .download(b.raw(), (c.layout().offset * size) as u64, c.numel() * size)?;
            let storage = host_storage(x.dtype(), x.numel(), &bytes)?;
            Ok(Tensor::from_parts(
                storage,
                crate::layout::Layout::contiguous(x.shape()),
            ))
        }
        (Device::Gpu(_), Device::Gpu(_)) => transfer(&transfer(x, Device::Cpu)?, device),
        (Device::Cpu, Device::Cpu) => Ok(x.clone()),
    }
}

/// With `EMBER_GPU_TRACE_HOST=1`, every kernel that takes the host path says so on stderr
/// (dtypes and shapes), which is how the ops still lacking a WGSL variant are found.
fn trace(what: &str, inputs: &[&Tensor]) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("EMBER_GPU_TRACE_HOST").is_some_and(|v| v != "0")) {
        let args: Vec<_> = inputs
            .iter()
            .map(|t| (t.dtype().name(), t.shape().to_vec()))
            .collect();
        eprintln!("ember: host path ({what}) for {args:?}");
    }
}

/// Runs `f` on host copies of `inputs` (any device) and brings its result to `device`.
pub fn compute(
    what: &str,
    device: Device,
    inputs: &[&Tensor],
    f: impl FnOnce(&[Tensor]) -> Result<Tensor>,
) -> Result<Tensor> {
    trace(what, inputs);
    let host: Vec<Tensor> = inputs.iter().map(|t| host_view(t)).collect::<Result<_>>()?;
    let out = f(&host)?;
    transfer(&out, device)
}

/// Runs `f` on host copies of `inputs` and `outputs`, then writes the outputs back.
pub fn compute_into<R>(
    what: &str,
    inputs: &[&Tensor],
    outputs: &[&Tensor],
    f: impl FnOnce(&[Tensor], &[Tensor]) -> R,
) -> Result<R> {
    trace(what, inputs);
    let ins: Vec<Tensor> = inputs.iter().map(|t| host_view(t)).collect::<Result<_>>()?;
    let outs: Vec<Tensor> = outputs
        .iter()
        .map(|t| host_view(t))
        .collect::<Result<_>>()?;
    let r = f(&ins, &outs);
    for (dst, host) in outputs.iter().zip(&outs) {
        if dst.device() != Device::Cpu {
            write_back(dst, host);
        }
    }
    Ok(r)
}

fn host_view(t: &Tensor) -> Result<Tensor> {
    match t.device() {
        Device::Cpu => Ok(t.clone()),
        Device::Gpu(_) => to_host(t),
    }
}

/// The error a CPU kernel raises for the inputs a GPU kernel flagged as bad (run on host copies
/// of them), for a deferred check's message.
pub fn cpu_error(run: impl FnOnce() -> Result<()>) -> crate::error::Error {
    match run() {
        Err(e) => e,
        Ok(()) => crate::error::Error::Index("an index is out of range".into()),
    }
}

/// Fills the view `t` on its device (no autograd, no version bump).
pub fn fill(t: &Tensor, value: f64) -> Result<()> {
    if !kernels::fill(t, value)? {
        compute_into("fill", &[], &[t], |_, o| o[0].fill_raw(value))?;
    }
    Ok(())
}
