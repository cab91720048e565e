//! The tape: grad mode, graph nodes with their saved tensors, and recording an op's output.

use crate::bail;
use crate::dtype::DType;
use crate::error::Result;
use crate::op::Op;
use crate::shape::Shape;
use crate::storage::Device;
use crate::tensor::{Tensor, TensorInner};
use std::cell::Cell;
use std::sync::{Arc, Mutex, Weak};

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

pub fn set_grad_enabled(on: bool) {
    GRAD_ENABLED.with(|g| g.set(on));
}

/// Sets grad mode for a scope and restores the previous mode when dropped.
pub struct GradModeGuard(bool);

impl GradModeGuard {
    pub fn new(on: bool) -> GradModeGuard {
        let prev = is_grad_enabled();
        set_grad_enabled(on);
        GradModeGuard(prev)
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.0);
    }
}

/// A gradient hook: sees the gradient and may return a replacement.
pub type Hook = Arc<dyn Fn(&Tensor) -> Result<Option<Tensor>> + Send + Sync>;

/// Runs after a leaf's `.grad` has taken this backward's whole gradient (PyTorch's
/// post-accumulate-grad hook): given the leaf itself, it reads `.grad` and returns nothing.
pub type PostAccumulateHook = Arc<dyn Fn(&Tensor) -> Result<()> + Send + Sync>;

/// Work queued while a backward runs, done once that backward has delivered every gradient.
pub type FinalCallback = Box<dyn FnOnce() -> Result<()> + Send>;

/// Where an input's gradient goes: into the node that produced it, or into a leaf's `.grad`.
#[derive(Clone)]
pub enum Edge {
    Node(Arc<Node>),
    Leaf(Tensor),
}

/// A tensor kept for the backward pass, with the storage version it had when saved.
struct Saved {
    tensor: Tensor,
    version: u64,
    /// Saved outputs are kept without their node (that would be a cycle) and re-linked on unpack.
    is_output: bool,
}

/// What every input looked like, so gradients can be shaped and cast back to it.
#[derive(Clone, Debug)]
pub struct InputMeta {
    pub shape: Shape,
    pub dtype: DType,
    pub device: Device,
}

pub struct Node {
    pub op: Op,
    pub edges: Vec<Option<Edge>>,
    pub inputs: Vec<InputMeta>,
    saved: Mutex<Option<Vec<Saved>>>,
    pub hooks: Mutex<Vec<Hook>>,
    /// The output tensor when it asked for `retain_grad`.
    pub retained: Mutex<Option<Weak<TensorInner>>>,
}

impl Node {
    /// The tensors saved for backward, checked against in-place modification.
    /// `this` re-links saved outputs to this node so that double backward flows through them.
    pub fn unpack(this: &Arc<Node>) -> Result<Vec<Tensor>> {
        let saved = this.saved.lock().unwrap_or_else(|e| e.into_inner());
        let Some(saved) = saved.as_ref() else {
            bail!(
                Autograd,
                "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward."
            );
        };
        let mut out = Vec::with_capacity(saved.len());
        for (i, s) in saved.iter().enumerate() {
            if s.tensor.storage().version() != s.version {
                bail!(
                    Autograd,
                    "one of the variables needed for gradient computation has been modified by an inplace operation: [{}{:?}] (saved tensor {i} of {}) is at version {}; expected version {} instead.",
                    s.tensor.dtype().name(),
                    s.tensor.shape(),
                    this.op.name(),
                    s.tensor.storage().version(),
                    s.version
                );
            }
            if s.is_output && is_grad_enabled() {
                let t = s.tensor.detach();
                {
                    let mut m = t.meta();
                    m.requires_grad = true;
                    m.node = Some(this.clone());
                }
                out.push(t);
            } else {
                out.push(s.tensor.clone());
            }
        }
        Ok(out)
    }

    /// Frees the saved tensors (after a backward without retain_graph).
    pub fn release(&self) {
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The edge a gradient for `t` should flow into, if `t` takes part in autograd.
pub fn edge_of(t: &Tensor) -> Option<Edge> {
    let m = t.meta();
    if let Some(n) = &m.node {
        Some(Edge::Node(n.clone()))
    } else if m.requires_grad {
        Some(Edge::Leaf(t.clone()))
    } else {
        None
    }
}

/// True when an op over `inputs` must be recorded.
pub fn needs_grad(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

/// Attaches a node for `op` to `out` when grad mode is on and an input requires grad.
/// `saved_inputs` are kept as they are; `saved_output` saves `out` itself (without a cycle).
pub fn record(
    op: Op,
    inputs: &[&Tensor],
    saved_inputs: &[&Tensor],
    save_output: bool,
    out: Tensor,
) -> Tensor {
    if !needs_grad(inputs) {
        return out;
    }
    let mut saved: Vec<Saved> = saved_inputs
        .iter()
        .map(|t| Saved {
            tensor: (*t).clone(),
            version: t.storage().version(),
            is_output: false,
        })
        .collect();
    if save_output {
        saved.push(Saved {
            tensor: out.detach(),
            version: out.storage().version(),
            is_output: true,
        });
    }
    let node = Arc::new(Node {
        op,
        edges: inputs.iter().map(|t| edge_of(t)).collect(),
        inputs: inputs
            .iter()
            .map(|t| InputMeta {
                shape: t.shape().to_vec(),
                dtype: t.dtype(),
                device: t.device(),
            })
            .collect(),
        saved: Mutex::new(Some(saved)),
        hooks: Mutex::new(Vec::new()),
        retained: Mutex::new(None),
    });
    {
        let mut m = out.meta();
        m.requires_grad = true;
        m.node = Some(node);
    }
    out
}
