//! Storage: the memory behind tensors (owned or borrowed from NumPy), its device, and the version counter.

use crate::bail;
use crate::dtype::{DType, Element};
use crate::error::Result;
use std::alloc::{self, Layout as AllocLayout};
use std::any::Any;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Where a tensor lives. `Gpu(i)` is the i-th wgpu adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Gpu(usize),
}

/// The adapter a bare "gpu" names: `ember.gpu.set_device(i)` (torch.cuda.set_device) moves it,
/// so that one process per GPU can say "gpu" and mean its own.
static CURRENT_GPU: AtomicUsize = AtomicUsize::new(0);

pub fn current_gpu() -> usize {
    CURRENT_GPU.load(Ordering::Relaxed)
}

pub fn set_current_gpu(index: usize) {
    CURRENT_GPU.store(index, Ordering::Relaxed)
}

impl Device {
    /// Parses PyTorch-style device strings; "cuda" is an alias of "gpu" so ported code runs.
    pub fn parse(s: &str) -> Result<Device> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => match i.parse::<usize>() {
                Ok(i) => (k, Some(i)),
                Err(_) => bail!(Device, "Invalid device string: '{s}'"),
            },
            None => (s, None),
        };
        match kind {
            "cpu" if index.unwrap_or(0) == 0 => Ok(Device::Cpu),
            "gpu" | "cuda" => Ok(Device::Gpu(index.unwrap_or_else(current_gpu))),
            _ => bail!(
                Device,
                "Expected one of cpu, gpu, cuda device type at start of device string: '{s}'"
            ),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Gpu(i) => write!(f, "gpu:{i}"),
        }
    }
}

/// Who frees the bytes: our allocator, or a foreign owner (a NumPy array) kept alive here.
enum Owner {
    Allocated(AllocLayout),
    External(#[allow(dead_code)] Box<dyn Any + Send + Sync>),
}

/// Large buffers get transparent huge pages, as NumPy asks for its arrays: kernels touch fewer
/// TLB entries, and MPI moves a buffer between processes (CMA) page by page, which on 4 KB
/// pages made an all-reduce of an ember tensor 1.3-1.5x slower than of a NumPy array.
const HUGE_PAGE_FROM: usize = 4 << 20; // NumPy's threshold for the same advice

#[cfg(target_os = "linux")]
fn ask_for_huge_pages(ptr: *mut u8, bytes: usize) {
    const HUGE: usize = 2 << 20;
    // Only whole 2 MB pages inside the block: the advice never reaches a neighbour's memory.
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + bytes) & !(HUGE - 1);
    if end > start {
        // SAFETY: [start, end) lies inside the block just allocated; the advice changes how
        // pages are backed, never their contents. Refusal (an old kernel, THP off) is harmless.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn ask_for_huge_pages(_ptr: *mut u8, _bytes: usize) {}

/// A block of host memory. 64-byte aligned when we allocate it, so kernels can use wide loads.
pub struct CpuBuffer {
    ptr: NonNull<u8>,
    owner: Owner,
}

// SAFETY: the buffer is plain memory; concurrent writers are ruled out by the tensor layer
// (ops write only to fresh outputs, in-place ops write through one call at a time under the GIL).
unsafe impl Send for CpuBuffer {}
unsafe impl Sync for CpuBuffer {}

impl CpuBuffer {
    /// Zeroed memory of `bytes` bytes (calloc-backed: large blocks come as fresh zero pages).
    pub fn zeroed(bytes: usize) -> Result<CpuBuffer> {
        CpuBuffer::allocate(bytes, true)
    }

    /// Memory whose contents the caller overwrites completely before anyone reads it: skips
    /// the zeroing pass, which costs as much as a small op itself.
    pub fn for_overwrite(bytes: usize) -> Result<CpuBuffer> {
        CpuBuffer::allocate(bytes, false)
    }

    fn allocate(bytes: usize, zero: bool) -> Result<CpuBuffer> {
        let layout = AllocLayout::from_size_align(bytes.max(1), 64).map_err(|_| {
            crate::error::Error::OutOfMemory(format!("cannot allocate {bytes} bytes"))
        })?;
        // Large blocks take their huge-page advice before anything touches them (zeroing
        // included), since pages already faulted in stay small.
        let advised = bytes >= HUGE_PAGE_FROM;
        // SAFETY: layout has non-zero size.
        let ptr = unsafe {
            if zero && !advised {
                alloc::alloc_zeroed(layout)
            } else {
                alloc::alloc(layout)
            }
        };
        match NonNull::new(ptr) {
            Some(ptr) => {
                if advised {
                    ask_for_huge_pages(ptr.as_ptr(), bytes);
                    if zero {
                        // SAFETY: the block is `bytes` long and ours alone.
                        unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0, bytes) };
                    }
                }
                Ok(CpuBuffer {
                    ptr,
                    owner: Owner::Allocated(layout),
                })
            }
            None => bail!(
                OutOfMemory,
                "CPU out of memory: tried to allocate {bytes} bytes"
            ),
        }
    }

    /// Wraps foreign memory; `owner` keeps it alive for as long as the buffer lives.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of the storage's bytes while `owner` lives, and aligned
    /// for the dtype it will be read as.
    pub unsafe fn external(ptr: *mut u8, owner: Box<dyn Any + Send + Sync>) -> CpuBuffer {
        let ptr = NonNull::new(ptr).unwrap_or(NonNull::dangling());
        CpuBuffer {
            ptr,
            owner: Owner::External(owner),
        }
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for CpuBuffer {
    fn drop(&mut self) {
        if let Owner::Allocated(layout) = self.owner {
            // SAFETY: allocated in `zeroed` with this layout.
            unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) }
        }
    }
}

/// The device-specific memory.
pub enum Memory {
    Cpu(CpuBuffer),
    Gpu(crate::gpu::GpuBuffer),
}

/// The size in bytes of `len` elements, refusing sizes no allocator can serve.
fn byte_size(dtype: DType, len: usize) -> Result<usize> {
    match len
        .checked_mul(dtype.size())
        .filter(|&b| b <= isize::MAX as usize)
    {
        Some(b) => Ok(b),
        None => bail!(
            OutOfMemory,
            "cannot allocate {len} elements of {}: the size overflows",
            dtype.name()
        ),
    }
}

/// Shared storage of one dtype: views alias it; in-place writes bump its version.
pub struct StorageInner {
    pub memory: Memory,
    pub dtype: DType,
    pub len: usize,
    version: AtomicU64,
}

#[derive(Clone)]
pub struct Storage(pub Arc<StorageInner>);

impl Storage {
    pub fn zeros(dtype: DType, len: usize, device: Device) -> Result<Storage> {
        byte_size(dtype, len)?;
        match device {
            Device::Cpu => Ok(Storage::from_buffer(
                CpuBuffer::zeroed(len * dtype.size())?,
                dtype,
                len,
            )),
            Device::Gpu(i) => Storage::on_gpu(dtype, len, i, true),
        }
    }

    fn on_gpu(dtype: DType, len: usize, index: usize, zero: bool) -> Result<Storage> {
        let gpu = crate::gpu::context(index)?;
        if dtype == DType::F64 && !gpu.has_f64 {
            bail!(
                DType,
                "float64 is not supported on device 'gpu:{index}' ({}): the adapter has no \
                 shader-f64; use float32",
                gpu.name()
            );
        }
        let bytes = byte_size(dtype, len)?.max(len * crate::gpu::element_bytes(dtype));
        let buf = crate::gpu::pool::alloc(&gpu, bytes as u64, zero)?;
        Ok(Storage(Arc::new(StorageInner {
            memory: Memory::Gpu(buf),
            dtype,
            len,
            version: AtomicU64::new(0),
        })))
    }

    /// Storage that an op fills completely (every element written before any read). Bool
    /// storage is still zeroed: not every byte is a valid bool.
    pub fn for_overwrite(dtype: DType, len: usize, device: Device) -> Result<Storage> {
        byte_size(dtype, len)?;
        match device {
            Device::Cpu if dtype != DType::Bool => Ok(Storage::from_buffer(
                CpuBuffer::for_overwrite(len * dtype.size())?,
                dtype,
                len,
            )),
            Device::Gpu(i) => Storage::on_gpu(dtype, len, i, false),
            _ => Storage::zeros(dtype, len, device),
        }
    }

    pub fn from_buffer(buf: CpuBuffer, dtype: DType, len: usize) -> Storage {
        Storage(Arc::new(StorageInner {
            memory: Memory::Cpu(buf),
            dtype,
            len,
            version: AtomicU64::new(0),
        }))
    }

    pub fn from_vec<T: Element>(v: Vec<T>) -> Storage {
        let s = Storage::zeros(T::DTYPE, v.len(), Device::Cpu).expect("allocation");
        s.as_mut_slice::<T>().copy_from_slice(&v);
        s
    }

    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    pub fn len(&self) -> usize {
        self.0.len
    }

    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    pub fn device(&self) -> Device {
        match &self.0.memory {
            Memory::Cpu(_) => Device::Cpu,
            Memory::Gpu(b) => Device::Gpu(b.gpu.index),
        }
    }

    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Relaxed)
    }

    pub fn bump_version(&self) {
        self.0.version.fetch_add(1, Ordering::Relaxed);
    }

    pub fn same(&self, other: &Storage) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The host address of the elements. Panics for GPU storage (a core bug: host code reads
    /// GPU tensors through `host.rs` copies).
    pub fn data_ptr(&self) -> *mut u8 {
        match &self.0.memory {
            Memory::Cpu(b) => b.as_ptr(),
            Memory::Gpu(_) => panic!("host access to GPU storage"),
        }
    }

    pub fn gpu_buffer(&self) -> Option<&crate::gpu::GpuBuffer> {
        match &self.0.memory {
            Memory::Gpu(b) => Some(b),
            Memory::Cpu(_) => None,
        }
    }

    /// The elements as a typed slice. Panics if `T` is not the storage's dtype (a core bug).
    pub fn as_slice<T: Element>(&self) -> &[T] {
        assert_eq!(T::DTYPE, self.0.dtype, "storage dtype mismatch");
        // SAFETY: the buffer holds `len` initialised elements of T (zeroed or written by ops).
        unsafe { std::slice::from_raw_parts(self.data_ptr() as *const T, self.0.len) }
    }

    /// The elements as a mutable slice. Callers write only fresh outputs or, for in-place
    /// ops, one tensor's own elements; see `CpuBuffer`'s Sync note.
    #[allow(clippy::mut_from_ref)]
    pub fn as_mut_slice<T: Element>(&self) -> &mut [T] {
        assert_eq!(T::DTYPE, self.0.dtype, "storage dtype mismatch");
        // SAFETY: as above; aliasing is excluded by the tensor layer's write discipline.
        unsafe { std::slice::from_raw_parts_mut(self.data_ptr() as *mut T, self.0.len) }
    }
}
