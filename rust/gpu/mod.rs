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

/// Bytes one element of `dtype` takes in a GPU buffer.
pub fn element_bytes(dtype: DType) -> usize {
    match dtype {
        DType::Bool => 4,
        d => d.size(),
    }
}
