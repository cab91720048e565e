//! The GPU backend: wgpu devices, the buffer pool, the command stream, the shader table and
//! the kernels that backend.rs routes GPU tensors to.
//!
//! Every tensor on a GPU lives in one wgpu buffer holding the CPU's bytes for its dtype, except
//! bool, stored as one u32 per element (WGSL has no byte-sized storage). Work is recorded into
//! the device's stream and submitted in batches; only reads wait.

pub mod conv;
pub mod device;
pub mod half;
pub mod host;
pub mod index;
pub mod kernels;
pub mod nn;
pub mod pool;
pub mod profile;
pub mod shaders;
pub mod stream;

pub use device::{adapter_count, adapter_summary, context, Gpu};
pub use pool::GpuBuffer;

use crate::dtype::DType;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in a child made by fork(): the parent's Vulkan/Metal device is not usable there (the
/// driver's threads and mappings did not come along), and a new one cannot be opened safely.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Called in the child right after fork(): from here on the GPU refuses to be used.
pub fn after_fork_in_child() {
    FORKED.store(true, Ordering::Relaxed);
}

/// The error PyTorch gives for CUDA in a forked child, where ember is about to use a GPU.
pub fn check_not_forked() -> crate::error::Result<()> {
    if FORKED.load(Ordering::Relaxed) {
        crate::bail!(
            Runtime,
            "Cannot re-initialize the GPU in forked subprocess. To use the GPU with \
             multiprocessing, you must use the 'spawn' start method"
        );
    }
    Ok(())
}

/// Bytes one element of `dtype` takes in a GPU buffer.
pub fn element_bytes(dtype: DType) -> usize {
    match dtype {
        DType::Bool => 4,
        d => d.size(),
    }
}
