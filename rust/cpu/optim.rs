//! Fused optimizer updates on the CPU: one pass over each parameter's elements, all state at once.

use super::scalar::Float;
use super::strided::PARALLEL_THRESHOLD;
use rayon::prelude::*;

/// Hyper-parameters of one SGD step.
#[derive(Clone, Copy, Debug)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub maximize: bool,
    /// The momentum buffer is empty before the first step (PyTorch seeds it with the gradient).
    pub first: bool,
}

/// Hyper-parameters of one Adam / AdamW step.
#[derive(Clone, Copy, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    /// AdamW: decay the weights directly instead of adding `wd * p` to the gradient.
    pub decoupled: bool,
    pub step: u64,
}

fn chunked(n: usize, f: impl Fn(usize, usize) + Sync + Send) {
    if n < PARALLEL_THRESHOLD {
        f(0, n);
    } else {
        let step = PARALLEL_THRESHOLD;
        (0..n.div_ceil(step))
            .into_par_iter()
            .for_each(|c| f(c * step, ((c + 1) * step).min(n)));
    }
}

/// # Safety
/// All slices have `n` elements; `p` and `buf` are written by disjoint chunks only.
pub unsafe fn sgd<T: Float>(p: *mut T, g: *const T, buf: *mut T, n: usize, c: &Sgd) {
    let (p, g, buf) = (p as usize, g as usize, buf as usize);
    chunked(n, |a, b| {
        let (p, g, buf) = (p as *mut T, g as *const T, buf as *mut T);
        let (lr, mom, damp, wd) = (
            T::from_f64(c.lr),
            T::from_f64(c.momentum),
            T::from_f64(1.0 - c.dampening),
            T::from_f64(c.weight_decay),
        );
        for i in a..b {
            let mut d = *g.add(i);
            if c.maximize {
                d = d.neg();
            }
            if c.weight_decay != 0.0 {
                d = d + wd * *p.add(i);
            }
            if c.momentum != 0.0 {
                let bv = if c.first {
                    d
                } else {
                    mom * *buf.add(i) + damp * d
                };
                *buf.add(i) = bv;
                d = if c.nesterov { d + mom * bv } else { bv };
            }
            *p.add(i) = *p.add(i) - lr * d;
        }
    });
}

/// # Safety
/// All slices have `n` elements (`vmax` only read when `amsgrad`); chunks write disjoint ranges.
pub unsafe fn adam<T: Float>(
    p: *mut T,
    g: *const T,
    m: *mut T,
    v: *mut T,
    vmax: *mut T,
    n: usize,
    c: &Adam,
) {
    let (p, g, m, v, vmax) = (
        p as usize,
        g as usize,
        m as usize,
        v as usize,
        vmax as usize,
    );
    let bc1 = 1.0 - c.beta1.powi(c.step as i32);
    let bc2 = 1.0 - c.beta2.powi(c.step as i32);
    chunked(n, |a, b| {
        let (p, g, m, v, vmax) = (
            p as *mut T,
            g as *const T,
            m as *mut T,
            v as *mut T,
            vmax as *mut T,
        );
        let (b1, b2) = (T::from_f64(c.beta1), T::from_f64(c.beta2));
        let (ob1, ob2) = (T::from_f64(1.0 - c.beta1), T::from_f64(1.0 - c.beta2));
        let step_size = T::from_f64(c.lr / bc1);
        let sqrt_bc2 = T::from_f64(bc2.sqrt());
        let eps = T::from_f64(c.eps);
        let wd = T::from_f64(c.weight_decay);
        let decay = T::from_f64(1.0 - c.lr * c.weight_decay);
        for i in a..b {
            let mut d = *g.add(i);
            if c.maximize {
                d = d.neg();
            }
            let mut w = *p.add(i);
            if c.weight_decay != 0.0 {
                if c.decoupled {
                    w = w * decay;
                } else {
                    d = d + wd * w;
                }
            }
            let mi = b1 * *m.add(i) + ob1 * d;
            let vi = b2 * *v.add(i) + ob2 * d * d;
            *m.add(i) = mi;
            *v.add(i) = vi;
            let second = if c.amsgrad {
                let mx = (*vmax.add(i)).max_(vi);
                *vmax.add(i) = mx;
                mx
            } else {
                vi
            };
            *p.add(i) = w - step_size * mi.div(second.sqrt().div(sqrt_bc2) + eps);
        }
    });
}
