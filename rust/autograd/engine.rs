//! The backward engine: walks the graph from the roots in dependency order, runs hooks,
//! accumulates into leaves (or captures for `autograd.grad`), and frees what it used.

use super::backward::{backward as rule, sum_to};
use super::tape::{Edge, FinalCallback, GradModeGuard, Node};
use crate::bail;
use crate::error::Result;
use crate::op::BinaryOp;
use crate::ops::elementwise::{binary, to_dtype};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

fn key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

fn leaf_key(t: &Tensor) -> usize {
    Arc::as_ptr(&t.0) as usize
}

thread_local! {
    /// One frame of queued callbacks per backward running on this thread (a hook may start a
    /// nested backward; its callbacks belong to it). Hooks run on the engine's own thread.
    static FINAL_CALLBACKS: RefCell<Vec<Vec<FinalCallback>>> = const { RefCell::new(Vec::new()) };
}

/// Queues `f` to run when the innermost backward running on this thread has delivered every
/// gradient (PyTorch's `queue_callback`: how data-parallel training waits for its reductions
/// before `backward()` returns). Outside a backward this is an error.
pub fn queue_callback(f: FinalCallback) -> Result<()> {
    FINAL_CALLBACKS.with(|c| match c.borrow_mut().last_mut() {
        Some(frame) => {
            frame.push(f);
            Ok(())
        }
        None => Err(crate::Error::Runtime(
            "queue_callback can only be called while a backward pass runs (from a hook)".into(),
        )),
    })
}

/// Pops this backward's callback frame when it ends, however it ends.
struct CallbackFrame;

impl CallbackFrame {
    fn push() -> CallbackFrame {
        FINAL_CALLBACKS.with(|c| c.borrow_mut().push(Vec::new()));
        CallbackFrame
    }
    /// Runs the queued callbacks in order, including any a callback queues itself.
    fn finish(self) -> Result<()> {
        loop {
            let next = FINAL_CALLBACKS.with(|c| {
                let mut c = c.borrow_mut();
                let frame = c.last_mut().expect("own frame");
                if frame.is_empty() {
                    None
                } else {
                    Some(frame.remove(0))
                }
            });
            match next {
                Some(f) => f()?,
                None => return Ok(()),
            }
        }
    }
}

impl Drop for CallbackFrame {
    fn drop(&mut self) {
        FINAL_CALLBACKS.with(|c| c.borrow_mut().pop());
    }
}

fn accumulate(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        Some(prev) => binary(BinaryOp::Add, &prev, &g)?,
        None => g,
    });
    Ok(())
}

/// What to do with gradients reaching the requested inputs of `autograd.grad`.
struct Capture {
    targets: Vec<Tensor>,
    grads: Vec<Option<Tensor>>,
}

impl Capture {
    fn leaf_slot(&mut self, leaf: &Tensor) -> Option<usize> {
        self.targets.iter().position(|t| t.same(leaf))
    }
    fn node_slot(&self, node: &Arc<Node>) -> Option<usize> {
        self.targets
            .iter()
            .position(|t| t.node().is_some_and(|n| Arc::ptr_eq(&n, node)))
    }
}

/// A gradient fit to be stored in `.grad`: contiguous and owned by no one else, so in-place
/// updates of one leaf's gradient never leak into another tensor (a copy only when needed).
fn owned(g: Tensor) -> Result<Tensor> {
    let unique = Arc::strong_count(&g.0) == 1 && Arc::strong_count(&g.storage().0) == 1;
    if unique && g.is_contiguous() && g.layout().offset == 0 && g.storage().len() == g.numel() {
        Ok(g)
    } else {
        crate::ops::elementwise::copy(&g)
    }
}

/// Runs a gradient's hooks in order; a replacement must keep the gradient's size, dtype and
/// device (PyTorch's checks: anything else would silently become a wrong `.grad`).
fn run_hooks(hooks: &[super::tape::Hook], mut g: Tensor) -> Result<Tensor> {
    for h in hooks {
        if let Some(new) = h(&g)? {
            if new.shape() != g.shape() {
                crate::bail!(
                    Runtime,
                    "hook has changed the size of value: the gradient has shape {:?}, the hook returned {:?}",
                    g.shape(),
                    new.shape()
                );
            }
            if new.dtype() != g.dtype() {
                crate::bail!(
                    Runtime,
                    "hook has changed the type of value (was {} got {})",
                    g.dtype().name(),
                    new.dtype().name()
                );
            }
            if new.device() != g.device() {
                crate::bail!(
                    Runtime,
                    "hook has changed the device of value (was {} got {})",
                    g.device(),
                    new.device()
                );
            }
            g = new;
        }
    }
    Ok(g)
}

fn deliver_leaf(leaf: &Tensor, g: Tensor, capture: &mut Option<Capture>) -> Result<()> {
    let hooks = leaf.meta().hooks.clone();
    let g = run_hooks(&hooks, g)?;
    if let Some(c) = capture {
        if let Some(i) = c.leaf_slot(leaf) {
            accumulate(&mut c.grads[i], g)?;
        }
        return Ok(());
    }
    // Gradients stored in `.grad` are outside the graph unless create_graph asked for it.
    let g = if super::tape::is_grad_enabled() {
        g
    } else {
        let plain = g.detach();
        drop(g);
        owned(plain)?
    };
    let posts = {
        let mut m = leaf.meta();
        accumulate(&mut m.grad, g)?;
        m.post_accumulate_hooks.clone()
    };
    // The lock is released first: a hook reads (and may replace) `.grad`.
    for h in posts {
        h(leaf)?;
    }
    Ok(())
}

/// What the walk of one backward waits on: how many edges still point at each node and leaf,
/// the gradients gathered so far, and the nodes ready to run.
#[derive(Default)]
struct Walk {
    deps: HashMap<usize, usize>,
    leaf_deps: HashMap<usize, usize>,
    pending: HashMap<usize, Tensor>,
    pending_leaves: HashMap<usize, Tensor>,
    ready: Vec<Arc<Node>>,
}

/// One gradient (or the news that none is coming) reaches an input along `edge`: a node runs
/// once every edge into it has arrived, a leaf takes its summed gradient then.
fn arrive(
    edge: &Edge,
    g: Option<Tensor>,
    w: &mut Walk,
    capture: &mut Option<Capture>,
) -> Result<()> {
    let (k, waiting, slot) = match edge {
        Edge::Node(child) => (key(child), &mut w.deps, &mut w.pending),
        Edge::Leaf(leaf) => (leaf_key(leaf), &mut w.leaf_deps, &mut w.pending_leaves),
    };
    if let Some(g) = g {
        let merged = match slot.remove(&k) {
            Some(prev) => binary(BinaryOp::Add, &prev, &g)?,
            None => g,
        };
        slot.insert(k, merged);
    }
    let d = waiting.get_mut(&k).expect("counted input");
    *d -= 1;
    if *d == 0 {
        match edge {
            Edge::Node(child) => w.ready.push(child.clone()),
            Edge::Leaf(leaf) => {
                if let Some(g) = slot.remove(&k) {
                    deliver_leaf(leaf, g, capture)?;
                }
            }
        }
    }
    Ok(())
}

fn run(
    roots: &[Tensor],
    grads: Vec<Option<Tensor>>,
    retain_graph: bool,
    create_graph: bool,
    mut capture: Option<Capture>,
) -> Result<Option<Capture>> {
    let _mode = GradModeGuard::new(create_graph);
    let callbacks = CallbackFrame::push();
    let mut walk = Walk::default();
    let mut start: Vec<Arc<Node>> = Vec::new();
    for (i, (root, g)) in roots.iter().zip(grads).enumerate() {
        if !root.requires_grad() {
            bail!(
                Autograd,
                "element {i} of tensors does not require grad and does not have a grad_fn"
            );
        }
        let g = match g {
            Some(g) => {
                if g.shape() != root.shape() {
                    bail!(Shape, "Mismatch in shape: grad_output[{i}] has a shape of {:?} and output[{i}] has a shape of {:?}.", g.shape(), root.shape());
                }
                g
            }
            None => {
                if root.numel() != 1 {
                    bail!(Autograd, "grad can be implicitly created only for scalar outputs (got an output of shape {:?})", root.shape());
                }
                Tensor::full(root.shape(), 1.0, root.dtype(), root.device())?
            }
        };
        match root.node() {
            Some(n) => {
                let k = key(&n);
                match walk.pending.remove(&k) {
                    Some(prev) => {
                        walk.pending.insert(k, binary(BinaryOp::Add, &prev, &g)?);
                    }
                    None => {
                        walk.pending.insert(k, g);
                        start.push(n);
                    }
                }
            }
            None => deliver_leaf(root, g, &mut capture)?,
        }
    }
    // Count, for every reachable node, how many graph edges point at it.
    // Leaves are counted too: a leaf reached along several edges (a tied weight) takes the sum
    // of its gradients once, so its hooks see the whole gradient, as in PyTorch.
    let mut seen: HashMap<usize, Arc<Node>> = HashMap::new();
    let mut stack: Vec<Arc<Node>> = start.clone();
    for n in &start {
        seen.insert(key(n), n.clone());
    }
    while let Some(n) = stack.pop() {
        for e in n.edges.iter().flatten() {
            match e {
                Edge::Node(child) => {
                    *walk.deps.entry(key(child)).or_insert(0) += 1;
                    if seen.insert(key(child), child.clone()).is_none() {
                        stack.push(child.clone());
                    }
                }
                Edge::Leaf(leaf) => *walk.leaf_deps.entry(leaf_key(leaf)).or_insert(0) += 1,
            }
        }
    }
    walk.ready = start
        .into_iter()
        .filter(|n| walk.deps.get(&key(n)).copied().unwrap_or(0) == 0)
        .collect();
    let mut done: Vec<Arc<Node>> = Vec::new();
    while let Some(node) = walk.ready.pop() {
        let k = key(&node);
        let Some(g) = walk.pending.remove(&k) else {
            // No gradient reached this node: its inputs still stop waiting for it.
            for edge in node.edges.iter().flatten() {
                arrive(edge, None, &mut walk, &mut capture)?;
            }
            continue;
        };
        let hooks = node.hooks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let g = run_hooks(&hooks, g)?;
        if let Some(c) = capture.as_mut() {
            if let Some(i) = c.node_slot(&node) {
                accumulate(&mut c.grads[i], g.clone())?;
            }
        } else if let Some(t) = node
            .retained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|w| w.upgrade())
        {
            let t = Tensor(t);
            let mut m = t.meta();
            accumulate(
                &mut m.grad,
                if create_graph {
                    g.clone()
                } else {
                    owned(g.detach())?
                },
            )?;
        }
        let input_grads = rule(&node, &g)?;
        for ((edge, meta), ig) in node.edges.iter().zip(&node.inputs).zip(input_grads) {
            let Some(edge) = edge else {
                continue;
            };
            let ig = match ig {
                Some(ig) => {
                    // Drop the unshaped gradient at once so a unique result can be stored uncopied.
                    let shaped = sum_to(&ig, &meta.shape)?;
                    drop(ig);
                    Some(to_dtype(&shaped, meta.dtype)?)
                }
                None => None,
            };
            arrive(edge, ig, &mut walk, &mut capture)?;
        }
        done.push(node);
    }
    if !retain_graph {
        for n in done {
            n.release();
        }
    }
    callbacks.finish()?;
    Ok(capture)
}

/// `Tensor.backward` / `autograd.backward`: accumulates into the leaves' `.grad`.
pub fn backward(
    roots: &[Tensor],
    grads: Vec<Option<Tensor>>,
    retain_graph: bool,
    create_graph: bool,
) -> Result<()> {
    run(
        roots,
        grads,
        retain_graph || create_graph,
        create_graph,
        None,
    )
    .map(|_| ())
}

/// `autograd.grad`: the gradients of `outputs` with respect to `inputs`, leaving `.grad` alone.
pub fn grad(
    outputs: &[Tensor],
    grad_outputs: Vec<Option<Tensor>>,
    inputs: &[Tensor],
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>> {
    for (i, t) in inputs.iter().enumerate() {
        if !t.requires_grad() {
            bail!(
                Autograd,
                "One of the differentiated Tensors (input {i}) does not require grad"
            );
        }
    }
    let capture = Capture {
        targets: inputs.to_vec(),
        grads: vec![None; inputs.len()],
    };
    let c = run(
        outputs,
        grad_outputs,
        retain_graph || create_graph,
        create_graph,
        Some(capture),
    )?
    .expect("capture");
    if !allow_unused {
        if let Some(i) = c.grads.iter().position(|g| g.is_none()) {
            bail!(Autograd, "One of the differentiated Tensors (input {i}) appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior.");
        }
    }
    Ok(c.grads)
}
