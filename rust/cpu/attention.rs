//! Scaled dot-product attention on the CPU: per (batch, head) one gemm for the scores, a row
//! softmax with masks in place, one gemm for the output; the backward pass from the saved
//! probabilities. Parallel over batch-heads.

use super::conv::mm;
use super::scalar::Float;
use super::strided::OutPtr;
use super::threads::Limited;
use rayon::prelude::*;

/// Sizes of one attention call: `b` batch-heads, queries `[l, e]`, keys `[s, e]`, values `[s, ev]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attn {
    pub b: usize,
    pub l: usize,
    pub s: usize,
    pub e: usize,
    pub ev: usize,
    pub scale: f64,
    pub causal: bool,
}

/// Forward: probabilities `p [b, l, s]` (kept for the gradient) and output `o [b, l, ev]`.
/// `mask`, when given, is added to the scores (`[b, l, s]`, -inf where attention is forbidden).
pub fn forward<T: Float>(
    a: &Attn,
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Option<&[T]>,
    p: &mut [T],
    o: &mut [T],
) {
    let (l, s, e, ev) = (a.l, a.s, a.e, a.ev);
    let scale = T::from_value(a.scale);
    let op = OutPtr(o.as_mut_ptr());
    let heads = p.par_chunks_mut(l * s).enumerate().within_limit();
    heads.for_each(|(bi, pb)| {
        // SAFETY: batch-head `bi` owns rows bi*l .. (bi+1)*l of `o`; slices are in bounds.
        unsafe {
            mm(
                l,
                s,
                e,
                pb.as_mut_ptr(),
                false,
                q.as_ptr().add(bi * l * e),
                e as isize,
                1,
                k.as_ptr().add(bi * s * e),
                1,
                e as isize,
            );
        }
        for (i, row) in pb.chunks_mut(s).enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                *x = *x * scale;
                if let Some(m) = mask {
                    *x = *x + m[(bi * l + i) * s + j];
                }
                if a.causal && j > i {
                    *x = T::lowest();
                }
            }
            let mx = row.iter().fold(T::lowest(), |acc, &x| acc.max_(x));
            let mut sum = T::zero();
            for x in row.iter_mut() {
                *x = (*x - mx).exp();
                sum = sum + *x;
            }
            let inv = T::ONE.div(sum);
            row.iter_mut().for_each(|x| *x = *x * inv);
        }
        unsafe {
            mm(
                l,
                ev,
                s,
                op.get().add(bi * l * ev),
                false,
                pb.as_ptr(),
                s as isize,
                1,
                v.as_ptr().add(bi * s * ev),
                ev as isize,
                1,
            );
        }
    });
}

/// Backward from the saved probabilities: `dq [b,l,e]`, `dk [b,s,e]`, `dv [b,s,ev]`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(
    a: &Attn,
    q: &[T],
    k: &[T],
    v: &[T],
    p: &[T],
    go: &[T],
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
) {
    let (l, s, e, ev) = (a.l, a.s, a.e, a.ev);
    let scale = T::from_value(a.scale);
    let (pdk, pdv) = (OutPtr(dk.as_mut_ptr()), OutPtr(dv.as_mut_ptr()));
    let heads = dq.par_chunks_mut(l * e).enumerate().within_limit();
    heads.for_each(|(bi, dqb)| {
        let pb = &p[bi * l * s..][..l * s];
        let gob = go.as_ptr().wrapping_add(bi * l * ev);
        let mut ds = vec![T::zero(); l * s];
        // SAFETY: batch-head `bi` owns its blocks of dq/dk/dv; all slices are in bounds.
        unsafe {
            // dv = p^T @ go
            mm(
                s,
                ev,
                l,
                pdv.get().add(bi * s * ev),
                false,
                pb.as_ptr(),
                1,
                s as isize,
                gob,
                ev as isize,
                1,
            );
            // dp = go @ v^T
            mm(
                l,
                s,
                ev,
                ds.as_mut_ptr(),
                false,
                gob,
                ev as isize,
                1,
                v.as_ptr().add(bi * s * ev),
                1,
                ev as isize,
            );
        }
        // ds = p * (dp - rowsum(dp * p)) * scale
        for (drow, prow) in ds.chunks_mut(s).zip(pb.chunks(s)) {
            let dot = drow
                .iter()
                .zip(prow)
                .fold(T::zero(), |acc, (&d, &pv)| acc + d * pv);
            for (d, &pv) in drow.iter_mut().zip(prow) {
                *d = pv * (*d - dot) * scale;
            }
        }
        unsafe {
            // dq = ds @ k ; dk = ds^T @ q
            mm(
                l,
                e,
                s,
                dqb.as_mut_ptr(),
                false,
                ds.as_ptr(),
                s as isize,
                1,
                k.as_ptr().add(bi * s * e),
                e as isize,
                1,
            );
            mm(
                s,
                e,
                l,
                pdk.get().add(bi * s * e),
                false,
                ds.as_ptr(),
                1,
                s as isize,
                q.as_ptr().add(bi * l * e),
                e as isize,
                1,
            );
        }
    });
}
