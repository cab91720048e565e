//! 2-D convolution and max pooling on the CPU: im2col per image plus one gemm per group,
//! parallel over the batch; the backward passes (col2im, weight gradient) live here too.

use super::scalar::Float;
use super::strided::OutPtr;
use super::threads::Limited;
use gemm::Parallelism;
use rayon::prelude::*;

/// Geometry of one convolution (or pooling window) over NCHW input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Conv2dGeom {
    /// Output size, or None when the window does not fit.
    pub fn out_size(
        h: usize,
        w: usize,
        kh: usize,
        kw: usize,
        s: (usize, usize),
        p: (usize, usize),
        d: (usize, usize),
    ) -> Option<(usize, usize)> {
        // Checked throughout: huge paddings or dilations must not wrap into a small size.
        let span = |n: usize, k: usize, s: usize, p: usize, d: usize| {
            let padded = p.checked_mul(2)?.checked_add(n)?;
            let window = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
            let out = padded.checked_sub(window)? / s + 1;
            (out <= isize::MAX as usize).then_some(out)
        };
        Some((span(h, kh, s.0, p.0, d.0)?, span(w, kw, s.1, p.1, d.1)?))
    }
    fn k(&self) -> usize {
        self.kh * self.kw
    }
    /// The input coordinate (or None in the padding) read by window tap (i, j) at output (y, x).
    #[inline]
    fn src(&self, y: usize, x: usize, i: usize, j: usize) -> Option<(usize, usize)> {
        let iy = (y * self.stride.0 + i * self.dilation.0).checked_sub(self.padding.0)?;
        let ix = (x * self.stride.1 + j * self.dilation.1).checked_sub(self.padding.1)?;
        (iy < self.h && ix < self.w).then_some((iy, ix))
    }
}

/// For a unit-stride, undilated window tap `j`: the output columns `x0..x1` that read inside
/// the image, starting at input column `x0 + j - pw`.
#[inline]
fn valid_cols(g: &Conv2dGeom, j: usize) -> (usize, usize) {
    let x0 = g.padding.1.saturating_sub(j).min(g.ow);
    let x1 = (g.w + g.padding.1).saturating_sub(j).min(g.ow).max(x0);
    (x0, x1)
}

fn unit(g: &Conv2dGeom) -> bool {
    g.stride == (1, 1) && g.dilation == (1, 1)
}

/// cols[(c*kh + i)*kw + j][y*ow + x] = image[c][src(y, x, i, j)] for one image of `c` channels.
fn im2col<T: Float>(g: &Conv2dGeom, img: &[T], cols: &mut [T]) {
    let l = g.oh * g.ow;
    if unit(g) {
        // Unit stride: each output row reads one contiguous run of an input row.
        for c in 0..g.c {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let row = &mut cols[((c * g.kh + i) * g.kw + j) * l..][..l];
                    let (x0, x1) = valid_cols(g, j);
                    for y in 0..g.oh {
                        let out = &mut row[y * g.ow..][..g.ow];
                        match (y + i).checked_sub(g.padding.0).filter(|&iy| iy < g.h) {
                            Some(iy) => {
                                out[..x0].fill(T::zero());
                                let start = (c * g.h + iy) * g.w + x0 + j - g.padding.1;
                                out[x0..x1].copy_from_slice(&img[start..start + (x1 - x0)]);
                                out[x1..].fill(T::zero());
                            }
                            None => out.fill(T::zero()),
                        }
                    }
                }
            }
        }
        return;
    }
    for c in 0..g.c {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &mut cols[((c * g.kh + i) * g.kw + j) * l..][..l];
                for y in 0..g.oh {
                    for x in 0..g.ow {
                        row[y * g.ow + x] = match g.src(y, x, i, j) {
                            Some((iy, ix)) => img[(c * g.h + iy) * g.w + ix],
                            None => T::zero(),
                        };
                    }
                }
            }
        }
    }
}

/// The adjoint of im2col: adds every column entry back onto the pixel it was read from.
fn col2im<T: Float>(g: &Conv2dGeom, cols: &[T], img: &mut [T]) {
    let l = g.oh * g.ow;
    if unit(g) {
        for c in 0..g.c {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let row = &cols[((c * g.kh + i) * g.kw + j) * l..][..l];
                    let (x0, x1) = valid_cols(g, j);
                    for y in 0..g.oh {
                        if let Some(iy) = (y + i).checked_sub(g.padding.0).filter(|&iy| iy < g.h) {
                            let start = (c * g.h + iy) * g.w + x0 + j - g.padding.1;
                            let dst = &mut img[start..start + (x1 - x0)];
                            for (d, &v) in dst.iter_mut().zip(&row[y * g.ow + x0..y * g.ow + x1]) {
                                *d = *d + v;
                            }
                        }
                    }
                }
            }
        }
        return;
    }
    for c in 0..g.c {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &cols[((c * g.kh + i) * g.kw + j) * l..][..l];
                for y in 0..g.oh {
                    for x in 0..g.ow {
                        if let Some((iy, ix)) = g.src(y, x, i, j) {
                            let p = &mut img[(c * g.h + iy) * g.w + ix];
                            *p = *p + row[y * g.ow + x];
                        }
                    }
                }
            }
        }
    }
}

/// `dst (m x n) = alpha*dst + a (m x k, strides) @ b (k x n, strides)`, single-threaded.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn mm<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    accumulate: bool,
    a: *const T,
    a_rs: isize,
    a_cs: isize,
    b: *const T,
    b_rs: isize,
    b_cs: isize,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        n as isize,
        accumulate,
        a,
        a_cs,
        a_rs,
        b,
        b_cs,
        b_rs,
        T::ONE,
        T::ONE,
        false,
        false,
        false,
        Parallelism::None,
    );
}

/// Forward: `x [N,C,H,W]`, `w [O, C/groups, kh, kw]` (contiguous) into `out [N,O,oh,ow]`.
pub fn conv2d_forward<T: Float>(g: &Conv2dGeom, x: &[T], w: &[T], out: &mut [T]) {
    let (cg, og) = (
        g.c / g.groups,
        w.len() / (g.c / g.groups * g.k()) / g.groups,
    );
    let (l, ck) = (g.oh * g.ow, cg * g.k());
    let per_img = g.groups * og * l;
    let images = out.par_chunks_mut(per_img).enumerate().within_limit();
    images.for_each(|(n, o)| {
        let mut cols = vec![T::zero(); g.c * g.k() * l];
        im2col(g, &x[n * g.c * g.h * g.w..][..g.c * g.h * g.w], &mut cols);
        for grp in 0..g.groups {
            // SAFETY: in-bounds blocks of contiguous buffers; `o` is this image's output.
            unsafe {
                mm(
                    og,
                    l,
                    ck,
                    o.as_mut_ptr().add(grp * og * l),
                    false,
                    w.as_ptr().add(grp * og * ck),
                    ck as isize,
                    1,
                    cols.as_ptr().add(grp * ck * l),
                    l as isize,
                    1,
                );
            }
        }
    });
}

/// Backward: input gradient `gx [N,C,H,W]` and weight gradient `gw [O, C/groups, kh, kw]`.
pub fn conv2d_backward<T: Float>(
    g: &Conv2dGeom,
    x: &[T],
    w: &[T],
    gy: &[T],
    gx: Option<&mut [T]>,
    gw: Option<&mut [T]>,
) {
    let cg = g.c / g.groups;
    let og = w.len() / (cg * g.k()) / g.groups;
    let (l, ck, img) = (g.oh * g.ow, cg * g.k(), g.c * g.h * g.w);
    let per_out = g.groups * og * l;
    if let Some(gx) = gx {
        let images = gx.par_chunks_mut(img).enumerate().within_limit();
        images.for_each(|(n, gxi)| {
            let mut dcols = vec![T::zero(); g.c * g.k() * l];
            for grp in 0..g.groups {
                // dcols_g [ck, l] = W_g^T [ck, og] @ gy_g [og, l]
                unsafe {
                    mm(
                        ck,
                        l,
                        og,
                        dcols.as_mut_ptr().add(grp * ck * l),
                        false,
                        w.as_ptr().add(grp * og * ck),
                        1,
                        ck as isize,
                        gy.as_ptr().add(n * per_out + grp * og * l),
                        l as isize,
                        1,
                    );
                }
            }
            col2im(g, &dcols, gxi);
        });
    }
    if let Some(gw) = gw {
        let size = gw.len();
        let total = (0..g.n)
            .into_par_iter()
            .within_limit()
            .fold(
                || vec![T::zero(); size],
                |mut acc, n| {
                    let mut cols = vec![T::zero(); g.c * g.k() * l];
                    im2col(g, &x[n * img..][..img], &mut cols);
                    for grp in 0..g.groups {
                        // gw_g [og, ck] += gy_g [og, l] @ cols_g^T [l, ck]
                        unsafe {
                            mm(
                                og,
                                ck,
                                l,
                                acc.as_mut_ptr().add(grp * og * ck),
                                true,
                                gy.as_ptr().add(n * per_out + grp * og * l),
                                l as isize,
                                1,
                                cols.as_ptr().add(grp * ck * l),
                                1,
                                l as isize,
                            );
                        }
                    }
                    acc
                },
            )
            .reduce(
                || vec![T::zero(); size],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(a, b)| *a = *a + b);
                    a
                },
            );
        gw.copy_from_slice(&total);
    }
}

/// Max pooling: values into `out [N,C,oh,ow]`, and the flat `h*W + w` index of each maximum
/// (NaN wins, as in PyTorch; padding never does).
pub fn max_pool2d<T: Float>(g: &Conv2dGeom, x: &[T], out: &mut [T], idx: &mut [i64]) {
    let (plane, l) = (g.h * g.w, g.oh * g.ow);
    // Several planes per task: a plane is often only a few dozen outputs.
    let per_task = (4096 / l.max(1)).max(1);
    let ip = OutPtr(idx.as_mut_ptr());
    out.par_chunks_mut(l * per_task)
        .enumerate()
        .within_limit()
        .for_each(|(t, o)| {
            for (q, o) in o.chunks_mut(l).enumerate() {
                let p = t * per_task + q;
                let src = &x[p * plane..][..plane];
                // SAFETY: plane `p` owns indices p*l .. (p+1)*l.
                let id = unsafe { ip.range(p * l, l) };
                for y in 0..g.oh {
                    for xx in 0..g.ow {
                        let (mut best, mut at) = (T::lowest(), -1i64);
                        'window: for i in 0..g.kh {
                            let Some(iy) = (y * g.stride.0 + i * g.dilation.0)
                                .checked_sub(g.padding.0)
                                .filter(|&v| v < g.h)
                            else {
                                continue;
                            };
                            for j in 0..g.kw {
                                let Some(ix) = (xx * g.stride.1 + j * g.dilation.1)
                                    .checked_sub(g.padding.1)
                                    .filter(|&v| v < g.w)
                                else {
                                    continue;
                                };
                                let v = src[iy * g.w + ix];
                                if at < 0 || v > best || v.is_nan() {
                                    best = v;
                                    at = (iy * g.w + ix) as i64;
                                    if v.is_nan() {
                                        break 'window;
                                    }
                                }
                            }
                        }
                        o[y * g.ow + xx] = best;
                        id[y * g.ow + xx] = at.max(0);
                    }
                }
            }
        });
}

/// The divisor of output (y, x)'s window: its full size, or only the taps inside the image.
fn window_count(g: &Conv2dGeom, y: usize, x: usize, include_pad: bool) -> usize {
    if include_pad {
        // PyTorch counts padding but not taps beyond it (the window clipped to the padded image).
        let h_end = (y * g.stride.0 + g.kh).min(g.h + 2 * g.padding.0);
        let w_end = (x * g.stride.1 + g.kw).min(g.w + 2 * g.padding.1);
        return (h_end - y * g.stride.0) * (w_end - x * g.stride.1);
    }
    let mut n = 0;
    for i in 0..g.kh {
        for j in 0..g.kw {
            n += g.src(y, x, i, j).is_some() as usize;
        }
    }
    n
}

/// Average pooling over each `h x w` plane of `x` into `out [planes, oh*ow]`.
pub fn avg_pool2d<T: Float>(g: &Conv2dGeom, x: &[T], out: &mut [T], include_pad: bool) {
    let (plane, l) = (g.h * g.w, g.oh * g.ow);
    let per_task = (4096 / l.max(1)).max(1);
    out.par_chunks_mut(l * per_task)
        .enumerate()
        .within_limit()
        .for_each(|(t, o)| {
            for (q, o) in o.chunks_mut(l).enumerate() {
                let src = &x[(t * per_task + q) * plane..][..plane];
                for y in 0..g.oh {
                    for xx in 0..g.ow {
                        let mut s = T::zero();
                        for i in 0..g.kh {
                            for j in 0..g.kw {
                                if let Some((iy, ix)) = g.src(y, xx, i, j) {
                                    s = s + src[iy * g.w + ix];
                                }
                            }
                        }
                        o[y * g.ow + xx] =
                            s.div(T::from_value(window_count(g, y, xx, include_pad) as f64));
                    }
                }
            }
        });
}

/// The adjoint of `avg_pool2d`: each output gradient spread evenly over its window.
pub fn avg_pool2d_backward<T: Float>(g: &Conv2dGeom, gy: &[T], dx: &mut [T], include_pad: bool) {
    let (plane, l) = (g.h * g.w, g.oh * g.ow);
    let planes = dx.par_chunks_mut(plane).enumerate().within_limit();
    planes.for_each(|(p, d)| {
        d.fill(T::zero());
        let go = &gy[p * l..][..l];
        for y in 0..g.oh {
            for xx in 0..g.ow {
                let share = go[y * g.ow + xx]
                    .div(T::from_value(window_count(g, y, xx, include_pad) as f64));
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        if let Some((iy, ix)) = g.src(y, xx, i, j) {
                            d[iy * g.w + ix] = d[iy * g.w + ix] + share;
                        }
                    }
                }
            }
        }
    });
}
