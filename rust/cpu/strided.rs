//! The one strided walker every elementwise CPU kernel runs on: collapses dims, splits work across
//! threads for large outputs, and hands kernels contiguous output segments with input strides.

use super::threads::Limited;
use crate::layout::Layout;
use rayon::prelude::*;

/// Outputs smaller than this run on the calling thread: a rayon handoff costs about a microsecond.
pub const PARALLEL_THRESHOLD: usize = 1 << 17;

/// A raw output pointer that threads write disjoint ranges of.
#[derive(Clone, Copy)]
pub struct OutPtr<T>(pub *mut T);
// SAFETY: each thread writes only its own disjoint range.
unsafe impl<T> Send for OutPtr<T> {}
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The raw pointer (a method, so closures capture the Sync wrapper, not the pointer).
    pub fn get(&self) -> *mut T {
        self.0
    }

    /// # Safety
    /// `start..start+len` must be in bounds and written by one thread only.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, start: usize, len: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

/// A row-major walk over an output shape with N inputs broadcast (expanded) to it.
pub struct Walk<const N: usize> {
    shape: Vec<usize>,
    strides: [Vec<usize>; N],
    offsets: [usize; N],
}

impl<const N: usize> Walk<N> {
    /// `inputs` must already have the output's shape (use `Layout::expand`).
    pub fn new(shape: &[usize], inputs: [&Layout; N]) -> Walk<N> {
        // Merge dim i into i+1 when every input steps through them as one dim; drop size-1 dims.
        let mut dims: Vec<usize> = Vec::new();
        let mut strides: [Vec<usize>; N] = std::array::from_fn(|_| Vec::new());
        for d in 0..shape.len() {
            if shape[d] == 1 {
                continue;
            }
            let mergeable = !dims.is_empty()
                && (0..N)
                    .all(|k| strides[k].last().copied() == Some(inputs[k].strides[d] * shape[d]));
            if mergeable {
                *dims.last_mut().unwrap() *= shape[d];
                for k in 0..N {
                    *strides[k].last_mut().unwrap() = inputs[k].strides[d];
                }
            } else {
                dims.push(shape[d]);
                for k in 0..N {
                    strides[k].push(inputs[k].strides[d]);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            for s in strides.iter_mut() {
                s.push(0);
            }
        }
        Walk {
            shape: dims,
            strides,
            offsets: std::array::from_fn(|k| inputs[k].offset),
        }
    }

    pub fn inner_strides(&self) -> [usize; N] {
        std::array::from_fn(|k| *self.strides[k].last().unwrap())
    }

    fn row_offsets(&self, row: usize) -> [usize; N] {
        let mut offs = self.offsets;
        let mut r = row;
        for d in (0..self.shape.len() - 1).rev() {
            let i = r % self.shape[d];
            r /= self.shape[d];
            for k in 0..N {
                offs[k] += i * self.strides[k][d];
            }
        }
        offs
    }

    /// Calls `seg(out_start, input_starts, len)` for contiguous output segments covering
    /// `0..total`; inputs advance by `inner_strides()` per element within a segment.
    pub fn run(&self, seg: impl Fn(usize, [usize; N], usize) + Sync) {
        let inner = *self.shape.last().unwrap();
        let total: usize = self.shape.iter().product();
        let strides = self.inner_strides();
        let chunk = |start: usize, end: usize| {
            let mut i = start;
            while i < end {
                let (row, col) = (i / inner, i % inner);
                let len = (inner - col).min(end - i);
                let mut offs = self.row_offsets(row);
                for k in 0..N {
                    offs[k] += col * strides[k];
                }
                seg(i, offs, len);
                i += len;
            }
        };
        if total < PARALLEL_THRESHOLD {
            chunk(0, total);
        } else {
            let pieces = (total / PARALLEL_THRESHOLD)
                .min(super::threads::threads() * 4)
                .max(1);
            let step = total.div_ceil(pieces);
            (0..pieces)
                .into_par_iter()
                .within_limit()
                .for_each(|p| chunk(p * step, ((p + 1) * step).min(total)));
        }
    }
}
