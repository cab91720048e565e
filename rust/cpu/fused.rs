//! Tensor-level entry points of the fused CPU kernels (conv, pooling, cross entropy,
//! normalisation, attention, optimizer updates): f32/f64 dispatch over contiguous inputs into
//! outputs the caller allocated. `backend.rs` routes here; `ops/nn.rs` and `optim.rs` check first.

use super::attention::{self, Attn};
use super::conv::{self, Conv2dGeom};
use super::nn::{self as kernels, CrossEntropy};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Runs `$body` with `$T` bound to f32 or f64 (the fused kernels take only these).
macro_rules! float {
    ($dtype:expr, $T:ident, $body:block) => {
        match $dtype {
            DType::F32 => {
                type $T = f32;
                $body
            }
            _ => {
                type $T = f64;
                $body
            }
        }
    };
}

fn s<T: crate::dtype::Element>(t: &Tensor) -> &[T] {
    t.contiguous_slice::<T>()
        .expect("a contiguous input of the kernel's dtype")
}

fn m<T: crate::dtype::Element>(t: &Tensor) -> &mut [T] {
    let off = t.layout().offset;
    &mut t.storage().as_mut_slice::<T>()[off..off + t.numel()]
}

pub fn conv2d(g: &Conv2dGeom, x: &Tensor, w: &Tensor, out: &Tensor) {
    float!(x.dtype(), T, {
        conv::conv2d_forward::<T>(g, s(x), s(w), m(out))
    })
}

pub fn conv2d_backward(
    g: &Conv2dGeom,
    x: &Tensor,
    w: &Tensor,
    gy: &Tensor,
    gx: Option<&Tensor>,
    gw: Option<&Tensor>,
) {
    float!(x.dtype(), T, {
        conv::conv2d_backward::<T>(g, s(x), s(w), s(gy), gx.map(m::<T>), gw.map(m::<T>))
    })
}

pub fn max_pool2d(g: &Conv2dGeom, x: &Tensor, out: &Tensor, idx: &Tensor) {
    float!(x.dtype(), T, {
        conv::max_pool2d::<T>(g, s(x), m(out), m(idx))
    })
}

pub fn avg_pool2d(g: &Conv2dGeom, x: &Tensor, out: &Tensor, include_pad: bool) {
    float!(x.dtype(), T, {
        conv::avg_pool2d::<T>(g, s(x), m(out), include_pad)
    })
}

pub fn avg_pool2d_backward(g: &Conv2dGeom, gy: &Tensor, dx: &Tensor, include_pad: bool) {
    float!(gy.dtype(), T, {
        conv::avg_pool2d_backward::<T>(g, s(gy), m(dx), include_pad)
    })
}

/// Per-row losses and `mean` denominators of softmax cross entropy over `x [n, c]`.
pub fn cross_entropy(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    loss: &Tensor,
    denom: &Tensor,
) -> Result<()> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    float!(x.dtype(), T, {
        let ce = CrossEntropy::<T> {
            n,
            c,
            weight: weight.map(s::<T>),
            ignore_index,
            smoothing,
        };
        ce.forward(s(x), s(target), m(loss), m(denom))
            .map_err(Error::Index)
    })
}

pub fn cross_entropy_backward(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    scale: &[f64],
    dx: &Tensor,
) {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    float!(x.dtype(), T, {
        let ce = CrossEntropy::<T> {
            n,
            c,
            weight: weight.map(s::<T>),
            ignore_index,
            smoothing,
        };
        let scale: Vec<T> = scale
            .iter()
            .map(|&v| <T as crate::dtype::Element>::from_value(v))
            .collect();
        ce.backward(s(x), s(target), &scale, m(dx))
    })
}

pub fn norm_rows(x: &Tensor, eps: f64, center: bool, y: &Tensor, mean: &Tensor, rstd: &Tensor) {
    let k = *x.shape().last().unwrap();
    float!(x.dtype(), T, {
        kernels::norm_rows::<T>(s(x), k, eps, center, m(y), m(mean), m(rstd))
    })
}

pub fn norm_rows_backward(
    x: &Tensor,
    g: &Tensor,
    center: bool,
    mean: &Tensor,
    rstd: &Tensor,
    dx: &Tensor,
) {
    let k = *x.shape().last().unwrap();
    float!(x.dtype(), T, {
        kernels::norm_rows_backward::<T>(s(x), s(g), k, center, s(mean), s(rstd), m(dx))
    })
}

pub fn attention(
    a: &Attn,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    p: &Tensor,
    o: &Tensor,
) {
    float!(q.dtype(), T, {
        attention::forward::<T>(a, s(q), s(k), s(v), mask.map(s::<T>), m(p), m(o))
    })
}

#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    a: &Attn,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    p: &Tensor,
    go: &Tensor,
    dq: &Tensor,
    dk: &Tensor,
    dv: &Tensor,
) {
    float!(q.dtype(), T, {
        attention::backward::<T>(a, s(q), s(k), s(v), s(p), s(go), m(dq), m(dk), m(dv))
    })
}

// ---- fused optimizer updates ----
// Callers (rust/optim.rs) have checked every tensor: contiguous, float, of the parameter's
// shape and dtype, distinct from the others; optional state is None exactly when the
// configuration never reads it.

use super::optim::{self as updates, Adagrad, Adam, Adamax, Rmsprop, Sgd};

fn ptr<T>(t: &Tensor) -> *mut T {
    // SAFETY (of later use): the offset is within the storage of a contiguous tensor.
    unsafe { (t.storage().data_ptr() as *mut T).add(t.layout().offset) }
}

/// Null for state the configuration never reads; honours the storage offset like `ptr`.
fn opt_ptr<T>(t: Option<&Tensor>) -> *mut T {
    t.map(ptr).unwrap_or(std::ptr::null_mut())
}

pub fn sgd(p: &Tensor, g: &Tensor, buf: Option<&Tensor>, cfg: &Sgd) {
    // SAFETY: see the section comment.
    float!(p.dtype(), T, {
        unsafe { updates::sgd::<T>(ptr(p), ptr(g), opt_ptr(buf), p.numel(), cfg) }
    })
}

pub fn adam(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, vmax: Option<&Tensor>, cfg: &Adam) {
    // SAFETY: see the section comment.
    float!(p.dtype(), T, {
        unsafe {
            updates::adam::<T>(
                ptr(p),
                ptr(g),
                ptr(m),
                ptr(v),
                opt_ptr(vmax),
                p.numel(),
                cfg,
            )
        }
    })
}

pub fn rmsprop(
    p: &Tensor,
    g: &Tensor,
    square_avg: &Tensor,
    grad_avg: Option<&Tensor>,
    buf: Option<&Tensor>,
    cfg: &Rmsprop,
) {
    // SAFETY: see the section comment.
    float!(p.dtype(), T, {
        unsafe {
            updates::rmsprop::<T>(
                ptr(p),
                ptr(g),
                ptr(square_avg),
                opt_ptr(grad_avg),
                opt_ptr(buf),
                p.numel(),
                cfg,
            )
        }
    })
}

pub fn adagrad(p: &Tensor, g: &Tensor, sum: &Tensor, cfg: &Adagrad) {
    // SAFETY: see the section comment.
    float!(p.dtype(), T, {
        unsafe { updates::adagrad::<T>(ptr(p), ptr(g), ptr(sum), p.numel(), cfg) }
    })
}

pub fn adamax(p: &Tensor, g: &Tensor, exp_avg: &Tensor, exp_inf: &Tensor, cfg: &Adamax) {
    // SAFETY: see the section comment.
    float!(p.dtype(), T, {
        unsafe { updates::adamax::<T>(ptr(p), ptr(g), ptr(exp_avg), ptr(exp_inf), p.numel(), cfg) }
    })
}
