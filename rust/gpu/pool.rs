//! The buffer pool: GPU buffers come in size classes and go back to a free list when their
//! tensor dies, so a training loop reuses the same memory every step.
//!
//! Reuse is safe without waiting: all work runs in submission order on one queue, so a buffer
//! handed out again is only touched by work recorded after the last use of its old contents.

use super::device::Gpu;
use crate::bail;
use crate::error::Result;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct Pool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Bytes of live tensors (as asked for), their peak, and bytes held in free lists.
    pub allocated: u64,
    pub peak: u64,
    pub cached: u64,
}

/// Rounds a request up to its class: powers of two below 1 MiB, then quarter steps of the
/// octave, so at most a quarter of a large buffer is slack.
fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    if b <= 1 << 20 {
        return b.next_power_of_two();
    }
    let step = 1u64 << (63 - b.leading_zeros() - 2);
    b.div_ceil(step) * step
}

/// A GPU buffer owned by one storage; returns to its device's pool when dropped.
pub struct GpuBuffer {
    buffer: Option<wgpu::Buffer>,
    bytes: u64,
    pub gpu: Arc<Gpu>,
}

impl GpuBuffer {
    pub fn raw(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("live buffer")
    }
    /// The bytes the tensor asked for (the buffer may be larger).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            let mut pool = self.gpu.pool.lock().unwrap_or_else(|e| e.into_inner());
            pool.allocated -= self.bytes;
            pool.cached += buffer.size();
            pool.free.entry(buffer.size()).or_default().push(buffer);
        }
    }
}

/// A buffer of at least `bytes` bytes on `gpu`; zero-filled (in stream order) when `zero`.
pub fn alloc(gpu: &Arc<Gpu>, bytes: u64, zero: bool) -> Result<GpuBuffer> {
    let max = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size);
    if bytes > max {
        bail!(
            OutOfMemory,
            "a tensor of {bytes} bytes does not fit one storage buffer of {} (at most {max} bytes)",
            gpu.name()
        );
    }
    let class = size_class(bytes);
    let reused = {
        let mut pool = gpu.pool.lock().unwrap_or_else(|e| e.into_inner());
        let b = pool.free.get_mut(&class).and_then(|v| v.pop());
        if b.is_some() {
            pool.cached -= class;
        }
        b
    };
    let buffer = match reused {
        Some(b) => b,
        None => match create(gpu, class) {
            Ok(b) => b,
            Err(_) => {
                // Give the cached buffers back to the driver and try once more.
                empty_cache(gpu);
                create(gpu, class)?
            }
        },
    };
    {
        let mut pool = gpu.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.allocated += bytes;
        pool.peak = pool.peak.max(pool.allocated);
    }
    if zero {
        gpu.clear(&buffer, bytes.next_multiple_of(4));
    }
    Ok(GpuBuffer {
        buffer: Some(buffer),
        bytes,
        gpu: gpu.clone(),
    })
}

fn create(gpu: &Gpu, size: u64) -> Result<wgpu::Buffer> {
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    if let Some(e) = pollster::block_on(scope.pop()) {
        bail!(
            OutOfMemory,
            "GPU out of memory on {}: tried to allocate {size} bytes ({e})",
            gpu.name()
        );
    }
    Ok(buffer)
}

/// Frees every cached buffer (PyTorch's `empty_cache`).
pub fn empty_cache(gpu: &Gpu) {
    let mut pool = gpu.pool.lock().unwrap_or_else(|e| e.into_inner());
    pool.free.clear();
    pool.cached = 0;
}

/// (allocated, peak, cached) bytes.
pub fn stats(gpu: &Gpu) -> (u64, u64, u64) {
    let pool = gpu.pool.lock().unwrap_or_else(|e| e.into_inner());
    (pool.allocated, pool.peak, pool.cached)
}

pub fn reset_peak(gpu: &Gpu) {
    let mut pool = gpu.pool.lock().unwrap_or_else(|e| e.into_inner());
    pool.peak = pool.allocated;
}
