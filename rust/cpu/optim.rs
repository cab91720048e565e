//! Fused optimizer updates on the CPU: one pass over each parameter's elements, all state at once.

use super::scalar::Float;
use super::strided::PARALLEL_THRESHOLD;
use super::threads::Limited;
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

/// Hyper-parameters of one RMSprop step. The step count does not enter the update.
#[derive(Clone, Copy, Debug)]
pub struct Rmsprop {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    /// Subtract the squared running mean of the gradient from the second moment.
    pub centered: bool,
    pub maximize: bool,
}

/// Hyper-parameters of one Adagrad step (the initial accumulator value only seeds the state).
#[derive(Clone, Copy, Debug)]
pub struct Adagrad {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub eps: f64,
    pub maximize: bool,
    pub step: u64,
}

/// Hyper-parameters of one Adamax step.
#[derive(Clone, Copy, Debug)]
pub struct Adamax {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
    pub step: u64,
}

fn chunked(n: usize, f: impl Fn(usize, usize) + Sync + Send) {
    if n < PARALLEL_THRESHOLD {
        f(0, n);
    } else {
        let step = PARALLEL_THRESHOLD;
        (0..n.div_ceil(step))
            .into_par_iter()
            .within_limit()
            .for_each(|c| f(c * step, ((c + 1) * step).min(n)));
    }
}

/// `torch.lerp` with a scalar weight `w`: PyTorch's running means (RMSprop's `grad_avg`,
/// Adamax's `exp_avg`) are `lerp_`s, and its two-sided formula rounds differently from
/// `(1 - w) * s + w * e`, so the same branch is taken here. `w` and `1 - w` are made once per
/// step by [`LerpWeight::new`], in the element type as PyTorch does.
#[derive(Clone, Copy)]
struct LerpWeight<T> {
    w: T,
    one_minus_w: T,
    small: bool,
}

impl<T: Float> LerpWeight<T> {
    fn new(w: f64) -> Self {
        let w = T::from_value(w);
        LerpWeight {
            w,
            one_minus_w: T::ONE - w,
            small: w.abs() < T::from_value(0.5),
        }
    }

    #[inline(always)]
    fn apply(self, s: T, e: T) -> T {
        if self.small {
            s + self.w * (e - s)
        } else {
            e - (e - s) * self.one_minus_w
        }
    }
}

/// # Safety
/// All slices have `n` elements; `p` and `buf` are written by disjoint chunks only.
pub unsafe fn sgd<T: Float>(p: *mut T, g: *const T, buf: *mut T, n: usize, c: &Sgd) {
    let (p, g, buf) = (p as usize, g as usize, buf as usize);
    chunked(n, |a, b| {
        let (p, g, buf) = (p as *mut T, g as *const T, buf as *mut T);
        let (lr, mom, damp, wd) = (
            T::from_value(c.lr),
            T::from_value(c.momentum),
            T::from_value(1.0 - c.dampening),
            T::from_value(c.weight_decay),
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
        let (b1, b2) = (T::from_value(c.beta1), T::from_value(c.beta2));
        let (ob1, ob2) = (T::from_value(1.0 - c.beta1), T::from_value(1.0 - c.beta2));
        let step_size = T::from_value(c.lr / bc1);
        let sqrt_bc2 = T::from_value(bc2.sqrt());
        let eps = T::from_value(c.eps);
        let wd = T::from_value(c.weight_decay);
        let decay = T::from_value(1.0 - c.lr * c.weight_decay);
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

// The three kernels below follow PyTorch's `_single_tensor_*` updates op by op: `addcmul`
// rounds as `s + (v * a) * b` and `addcdiv` as `s + (v * a) / b`, so products and quotients
// keep that order, and hyper-parameters are converted to the element type as Python scalars
// are.

/// # Safety
/// All slices have `n` elements (`grad_avg` only read when `centered`, `buf` only when
/// `momentum > 0`), belong to distinct tensors, and chunks write disjoint ranges.
pub unsafe fn rmsprop<T: Float>(
    p: *mut T,
    g: *const T,
    square_avg: *mut T,
    grad_avg: *mut T,
    buf: *mut T,
    n: usize,
    c: &Rmsprop,
) {
    // One loop per state combination: a loop whose stores depend on a flag does not vectorize.
    let f = match (c.centered, c.momentum > 0.0) {
        (false, false) => rmsprop_chunk::<T, false, false>,
        (false, true) => rmsprop_chunk::<T, false, true>,
        (true, false) => rmsprop_chunk::<T, true, false>,
        (true, true) => rmsprop_chunk::<T, true, true>,
    };
    let (p, g, sq, ga, buf) = (
        p as usize,
        g as usize,
        square_avg as usize,
        grad_avg as usize,
        buf as usize,
    );
    chunked(n, |a, b| {
        // `wrapping_add`: the unused optional pointers are null, offset here but never read.
        let at = |q: usize| (q as *mut T).wrapping_add(a);
        f(at(p), at(g), at(sq), at(ga), at(buf), b - a, c)
    });
}

/// # Safety
/// As [`rmsprop`], for `n` elements from each pointer.
unsafe fn rmsprop_chunk<T: Float, const CENTERED: bool, const MOMENTUM: bool>(
    p: *mut T,
    g: *const T,
    sq: *mut T,
    ga: *mut T,
    buf: *mut T,
    n: usize,
    c: &Rmsprop,
) {
    // Slices, not raw pointers: `&mut` promises no aliasing, which the vectorizer needs.
    let (p, g, sq) = (
        std::slice::from_raw_parts_mut(p, n),
        std::slice::from_raw_parts(g, n),
        std::slice::from_raw_parts_mut(sq, n),
    );
    let mut empty_ga: [T; 0] = [];
    let mut empty_buf: [T; 0] = [];
    let ga: &mut [T] = if CENTERED {
        std::slice::from_raw_parts_mut(ga, n)
    } else {
        &mut empty_ga
    };
    let buf: &mut [T] = if MOMENTUM {
        std::slice::from_raw_parts_mut(buf, n)
    } else {
        &mut empty_buf
    };
    let (alpha, one_minus_alpha) = (T::from_value(c.alpha), T::from_value(1.0 - c.alpha));
    let avg_weight = LerpWeight::<T>::new(1.0 - c.alpha);
    let (lr, eps, wd, mom) = (
        T::from_value(c.lr),
        T::from_value(c.eps),
        T::from_value(c.weight_decay),
        T::from_value(c.momentum),
    );
    for i in 0..n {
        let mut d = g[i];
        if c.maximize {
            d = d.neg();
        }
        let w = p[i];
        if c.weight_decay != 0.0 {
            d = d + wd * w;
        }
        let s = alpha * sq[i] + one_minus_alpha * d * d;
        sq[i] = s;
        let root = if CENTERED {
            let m = avg_weight.apply(ga[i], d);
            ga[i] = m;
            (s - m * m).sqrt()
        } else {
            s.sqrt()
        };
        let avg = root + eps;
        p[i] = if MOMENTUM {
            let bv = mom * buf[i] + d.div(avg);
            buf[i] = bv;
            w - lr * bv
        } else {
            w - (lr * d).div(avg)
        };
    }
}

/// # Safety
/// All slices have `n` elements; chunks write disjoint ranges.
pub unsafe fn adagrad<T: Float>(p: *mut T, g: *const T, sum: *mut T, n: usize, c: &Adagrad) {
    let (p, g, sum) = (p as usize, g as usize, sum as usize);
    // In f64, as Python computes it from the float step count.
    let clr = c.lr / (1.0 + (c.step as f64 - 1.0) * c.lr_decay);
    chunked(n, |a, b| {
        let (p, g, sum) = (p as *mut T, g as *const T, sum as *mut T);
        let (clr, eps, wd) = (
            T::from_value(clr),
            T::from_value(c.eps),
            T::from_value(c.weight_decay),
        );
        for i in a..b {
            let mut d = *g.add(i);
            if c.maximize {
                d = d.neg();
            }
            let w = *p.add(i);
            if c.weight_decay != 0.0 {
                d = d + wd * w;
            }
            let s = *sum.add(i) + d * d;
            *sum.add(i) = s;
            *p.add(i) = w - (clr * d).div(s.sqrt() + eps);
        }
    });
}

/// # Safety
/// All slices have `n` elements; chunks write disjoint ranges.
pub unsafe fn adamax<T: Float>(
    p: *mut T,
    g: *const T,
    exp_avg: *mut T,
    exp_inf: *mut T,
    n: usize,
    c: &Adamax,
) {
    let (p, g, m, u) = (p as usize, g as usize, exp_avg as usize, exp_inf as usize);
    // `powf`, not `powi`: Python's `beta1 ** step` is libm's pow, and the bias correction
    // should round the same.
    let clr = c.lr / (1.0 - c.beta1.powf(c.step as f64));
    chunked(n, |a, b| {
        let (p, g, m, u) = (p as *mut T, g as *const T, m as *mut T, u as *mut T);
        let avg_weight = LerpWeight::<T>::new(1.0 - c.beta1);
        let (b2, clr, eps, wd) = (
            T::from_value(c.beta2),
            T::from_value(clr),
            T::from_value(c.eps),
            T::from_value(c.weight_decay),
        );
        for i in a..b {
            let mut d = *g.add(i);
            if c.maximize {
                d = d.neg();
            }
            let w = *p.add(i);
            if c.weight_decay != 0.0 {
                d = d + wd * w;
            }
            let mi = avg_weight.apply(*m.add(i), d);
            *m.add(i) = mi;
            // NaN-propagating, as torch.maximum: a NaN gradient is not silently dropped.
            let ui = (*u.add(i) * b2).max_(d.abs() + eps);
            *u.add(i) = ui;
            *p.add(i) = w - (clr * mi).div(ui);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::null_mut;

    fn close(got: f64, want: f64, rtol: f64) {
        assert!(
            (got - want).abs() <= rtol * want.abs().max(1e-30),
            "got {got}, want {want}"
        );
    }

    #[test]
    fn rmsprop_centered_momentum_matches_scalar_formula() {
        let c = Rmsprop {
            lr: 0.01,
            alpha: 0.9,
            eps: 1e-8,
            weight_decay: 0.1,
            momentum: 0.5,
            centered: true,
            maximize: true,
        };
        let (mut p, mut sq, mut ga, mut buf) = (
            vec![0.5f64, -1.5, 2.0],
            vec![0.0; 3],
            vec![0.0; 3],
            vec![0.0; 3],
        );
        let grads = [[0.3f64, -0.2, 1.0], [0.1, 0.4, -2.0]];
        let mut want = p.clone();
        let (mut wsq, mut wga, mut wbuf) = ([0.0f64; 3], [0.0f64; 3], [0.0f64; 3]);
        for g in &grads {
            unsafe {
                rmsprop(
                    p.as_mut_ptr(),
                    g.as_ptr(),
                    sq.as_mut_ptr(),
                    ga.as_mut_ptr(),
                    buf.as_mut_ptr(),
                    3,
                    &c,
                )
            };
            for i in 0..3 {
                let d = -g[i] + 0.1 * want[i];
                wsq[i] = 0.9 * wsq[i] + 0.1 * d * d;
                wga[i] = 0.9 * wga[i] + 0.1 * d;
                wbuf[i] = 0.5 * wbuf[i] + d / ((wsq[i] - wga[i] * wga[i]).sqrt() + 1e-8);
                want[i] -= 0.01 * wbuf[i];
            }
        }
        for i in 0..3 {
            close(p[i], want[i], 1e-14);
            close(sq[i], wsq[i], 1e-14);
            close(ga[i], wga[i], 1e-14);
            close(buf[i], wbuf[i], 1e-14);
        }
    }

    #[test]
    fn rmsprop_plain_leaves_optional_state_untouched() {
        // Null buffers: the kernel must not touch state it was not asked to keep.
        let c = Rmsprop {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        };
        let (mut p, g, mut sq) = (vec![1.0f32], vec![2.0f32], vec![0.0f32]);
        unsafe {
            rmsprop(
                p.as_mut_ptr(),
                g.as_ptr(),
                sq.as_mut_ptr(),
                null_mut(),
                null_mut(),
                1,
                &c,
            )
        };
        let s = 0.01 * 4.0;
        close(sq[0] as f64, s, 1e-6);
        close(p[0] as f64, 1.0 - 0.01 * 2.0 / (s.sqrt() + 1e-8), 1e-6);
    }

    #[test]
    fn adagrad_decays_the_learning_rate_by_step() {
        let c = Adagrad {
            lr: 0.1,
            lr_decay: 0.5,
            weight_decay: 0.2,
            eps: 1e-10,
            maximize: false,
            step: 3,
        };
        let (p0, g, s0) = ([1.0f64, -2.0], [0.5f64, 0.25], [0.25f64, 0.0]);
        let (mut p, mut sum) = (p0, s0);
        unsafe { adagrad(p.as_mut_ptr(), g.as_ptr(), sum.as_mut_ptr(), 2, &c) };
        let clr = 0.1 / (1.0 + 2.0 * 0.5);
        for i in 0..2 {
            let d = g[i] + 0.2 * p0[i];
            let s = s0[i] + d * d;
            close(sum[i], s, 1e-15);
            close(p[i], p0[i] - clr * d / (s.sqrt() + 1e-10), 1e-15);
        }
    }

    #[test]
    fn adamax_chunked_matches_scalar_formula() {
        // Above the parallel threshold, so several rayon chunks share the work.
        let n = PARALLEL_THRESHOLD * 2 + 17;
        let c = Adamax {
            lr: 0.002,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            maximize: false,
            step: 4,
        };
        let p0: Vec<f32> = (0..n).map(|i| ((i % 97) as f32 - 48.0) / 10.0).collect();
        let g: Vec<f32> = (0..n).map(|i| ((i % 31) as f32 - 15.0) / 7.0).collect();
        let (m0, u0): (Vec<f32>, Vec<f32>) = (0..n)
            .map(|i| (0.01 * (i % 5) as f32, 0.1 + 0.02 * (i % 3) as f32))
            .unzip();
        let (mut p, mut m, mut u) = (p0.clone(), m0.clone(), u0.clone());
        unsafe {
            adamax(
                p.as_mut_ptr(),
                g.as_ptr(),
                m.as_mut_ptr(),
                u.as_mut_ptr(),
                n,
                &c,
            )
        };
        let clr = 0.002 / (1.0 - 0.9f64.powi(4));
        for i in (0..n).step_by(4099).chain([n - 1]) {
            let d = g[i] as f64 + 0.01 * p0[i] as f64;
            let mi = 0.9 * m0[i] as f64 + 0.1 * d;
            let ui = (0.999 * u0[i] as f64).max(d.abs() + 1e-8);
            close(m[i] as f64, mi, 1e-5);
            close(u[i] as f64, ui, 1e-5);
            close(p[i] as f64, p0[i] as f64 - clr * mi / ui, 1e-5);
        }
    }
}
