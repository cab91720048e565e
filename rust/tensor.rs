//! Tensor: an Arc'd handle to storage, a layout (view), and the autograd slot (grad, node, hooks).

use crate::autograd::tape::{Hook, Node, PostAccumulateHook};
use crate::bail;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::layout::Layout;
use crate::storage::{Device, Storage};
use std::sync::{Arc, Mutex, MutexGuard};

/// The autograd state of one tensor.
#[derive(Default)]
pub struct AutogradMeta {
    pub requires_grad: bool,
    pub grad: Option<Tensor>,
    /// The op that produced this tensor (None for leaves and tensors outside the graph).
    pub node: Option<Arc<Node>>,
    pub retains_grad: bool,
    /// Hooks of a leaf; a non-leaf's hooks live on its node.
    pub hooks: Vec<Hook>,
    /// Hooks of a leaf that run once its `.grad` holds the whole gradient of a backward.
    pub post_accumulate_hooks: Vec<PostAccumulateHook>,
    /// For a view made while autograd tracked its source: the tensor owning the memory, so an
    /// in-place write through the view can re-link that tensor's history.
    pub view_base: Option<Tensor>,
}

pub struct TensorInner {
    pub storage: Storage,
    pub layout: Layout,
    pub meta: Mutex<AutogradMeta>,
}

#[derive(Clone)]
pub struct Tensor(pub Arc<TensorInner>);

impl Tensor {
    pub fn from_parts(storage: Storage, layout: Layout) -> Tensor {
        Tensor(Arc::new(TensorInner {
            storage,
            layout,
            meta: Mutex::new(AutogradMeta::default()),
        }))
    }

    pub fn zeros(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        crate::shape::checked_numel(shape)?;
        let layout = Layout::contiguous(shape);
        Ok(Tensor::from_parts(
            Storage::zeros(dtype, layout.numel(), device)?,
            layout,
        ))
    }

    /// A contiguous tensor for a kernel that writes every element (contents start unspecified).
    pub fn for_overwrite(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        crate::shape::checked_numel(shape)?;
        let layout = Layout::contiguous(shape);
        Ok(Tensor::from_parts(
            Storage::for_overwrite(dtype, layout.numel(), device)?,
            layout,
        ))
    }

    pub fn full(shape: &[usize], value: f64, dtype: DType, device: Device) -> Result<Tensor> {
        let t = Tensor::zeros(shape, dtype, device)?;
        if value != 0.0 {
            t.fill_raw(value);
        }
        Ok(t)
    }

    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        if data.len() != crate::shape::numel(shape) {
            bail!(Shape, "{} values cannot fill shape {shape:?}", data.len());
        }
        Ok(Tensor::from_parts(
            Storage::from_vec(data),
            Layout::contiguous(shape),
        ))
    }

    pub fn scalar(value: f64, dtype: DType) -> Tensor {
        Tensor::full(&[], value, dtype, Device::Cpu).expect("scalar allocation")
    }

    // ---- metadata -------------------------------------------------------------------------

    pub fn shape(&self) -> &[usize] {
        &self.0.layout.shape
    }
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub fn storage(&self) -> &Storage {
        &self.0.storage
    }
    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }
    pub fn device(&self) -> Device {
        self.0.storage.device()
    }
    pub fn ndim(&self) -> usize {
        self.0.layout.ndim()
    }
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    pub fn same(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    // ---- autograd slot --------------------------------------------------------------------

    pub fn meta(&self) -> MutexGuard<'_, AutogradMeta> {
        self.0.meta.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn requires_grad(&self) -> bool {
        self.meta().requires_grad
    }
    pub fn set_requires_grad(&self, on: bool) -> Result<()> {
        let mut m = self.meta();
        if m.node.is_some() && !on {
            bail!(
                Autograd,
                "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
            );
        }
        if on && !self.dtype().is_float() {
            bail!(
                DType,
                "only Tensors of floating point dtype can require gradients (got {})",
                self.dtype().name()
            );
        }
        m.requires_grad = on;
        Ok(())
    }
    pub fn grad(&self) -> Option<Tensor> {
        self.meta().grad.clone()
    }
    pub fn set_grad(&self, g: Option<Tensor>) -> Result<()> {
        if let Some(g) = &g {
            if g.shape() != self.shape() {
                bail!(
                    Shape,
                    "assigned grad has data of a different size: {:?} vs tensor {:?}",
                    g.shape(),
                    self.shape()
                );
            }
            if g.dtype() != self.dtype() {
                bail!(
                    Runtime,
                    "assigned grad has data of a different type: {} vs tensor {}",
                    g.dtype().name(),
                    self.dtype().name()
                );
            }
            if g.device() != self.device() {
                bail!(
                    Device,
                    "assigned grad has data located on a different device: {} vs tensor {}",
                    g.device(),
                    self.device()
                );
            }
        }
        self.meta().grad = g;
        Ok(())
    }
    pub fn node(&self) -> Option<Arc<Node>> {
        self.meta().node.clone()
    }
    pub fn is_leaf(&self) -> bool {
        self.meta().node.is_none()
    }

    /// A tensor sharing this one's storage and view, outside the graph.
    pub fn detach(&self) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), self.0.layout.clone())
    }

    /// A tensor over the same storage with another view (no autograd; callers record).
    pub fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), layout)
    }

    // ---- raw data access (CPU) ------------------------------------------------------------

    /// This view over a host copy of its storage (the tensor itself when it is on the CPU).
    /// Reading a GPU tensor waits for the work that writes it.
    pub fn host_copy(&self) -> Tensor {
        match self.device() {
            Device::Cpu => self.clone(),
            _ => crate::gpu::host::to_host(self).expect("reading a GPU tensor"),
        }
    }

    /// The elements in row-major order, converted to `T`'s dtype on the way when it differs.
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        if self.device() != Device::Cpu {
            return self.host_copy().to_vec();
        }
        let l = &self.0.layout;
        with_dtype!(self.dtype(), S, {
            let data = self.0.storage.as_slice::<S>();
            if l.is_contiguous() {
                let s = &data[l.offset..l.offset + l.numel()];
                if T::DTYPE == S::DTYPE {
                    // SAFETY: same dtype means same Rust type.
                    return unsafe { std::slice::from_raw_parts(s.as_ptr() as *const T, s.len()) }
                        .to_vec();
                }
                return s.iter().map(|v| T::from_value(v.to_f64())).collect();
            }
            if T::DTYPE == S::DTYPE {
                // Same type: copy exactly (an f64 round trip would round int64 above 2^53).
                // SAFETY: same dtype means same Rust type.
                let same =
                    unsafe { std::slice::from_raw_parts(data.as_ptr() as *const T, data.len()) };
                return l.indices().map(|i| same[i]).collect();
            }
            l.indices()
                .map(|i| T::from_value(data[i].to_f64()))
                .collect()
        })
    }

    /// Contiguous elements as a borrowed slice when the view allows it.
    pub fn contiguous_slice<T: Element>(&self) -> Option<&[T]> {
        let l = &self.0.layout;
        if l.is_contiguous() && T::DTYPE == self.dtype() && self.device() == Device::Cpu {
            Some(&self.0.storage.as_slice::<T>()[l.offset..l.offset + l.numel()])
        } else {
            None
        }
    }

    pub fn item_f64(&self) -> Result<f64> {
        if self.numel() != 1 {
            bail!(
                Runtime,
                "a Tensor with {} elements cannot be converted to Scalar",
                self.numel()
            );
        }
        if self.device() != Device::Cpu {
            return crate::gpu::host::to_host(self)?.item_f64();
        }
        let l = &self.0.layout;
        with_dtype!(self.dtype(), S, {
            Ok(self.0.storage.as_slice::<S>()[l.offset].to_f64())
        })
    }

    /// Writes `value` to every element of this view (no autograd, no version bump).
    pub fn fill_raw(&self, value: f64) {
        if self.device() != Device::Cpu {
            crate::gpu::host::fill(self, value).expect("filling a GPU tensor");
            return;
        }
        let l = &self.0.layout;
        with_dtype!(self.dtype(), S, {
            let v = S::from_value(value);
            let data = self.0.storage.as_mut_slice::<S>();
            if l.is_contiguous() {
                data[l.offset..l.offset + l.numel()].fill(v);
            } else {
                for i in l.indices() {
                    data[i] = v;
                }
            }
        })
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor(shape={:?}, dtype={}, values={:?})",
            self.shape(),
            self.dtype().name(),
            self.to_vec::<f64>()
        )
    }
}
