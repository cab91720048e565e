//! Layout: shape, strides (in elements) and offset of a view into storage, and the view transforms.

use crate::bail;
use crate::error::Result;
use crate::shape::{self, Shape};

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub shape: Shape,
    pub strides: Vec<usize>,
    pub offset: usize,
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout {
            shape: shape.to_vec(),
            strides: shape::contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        shape::numel(&self.shape)
    }

    /// Row-major contiguous, ignoring strides of size-1 dims as PyTorch does.
    pub fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            // No element to misplace: any empty view can be re-shaped freely.
            return true;
        }
        let mut expected = 1;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// Number of storage elements a view spans from its offset (0 when empty).
    pub fn span(&self) -> usize {
        if self.numel() == 0 {
            return 0;
        }
        1 + self
            .shape
            .iter()
            .zip(&self.strides)
            .map(|(&d, &s)| (d - 1) * s)
            .sum::<usize>()
    }

    pub fn permute(&self, dims: &[usize]) -> Result<Layout> {
        let n = self.ndim();
        let mut seen = vec![false; n];
        if dims.len() != n {
            bail!(
                Shape,
                "permute: number of dims don't match: got {} for a tensor of {n} dims",
                dims.len()
            );
        }
        for &d in dims {
            if d >= n || seen[d] {
                bail!(
                    Shape,
                    "permute: dims {dims:?} are not a permutation of 0..{n}"
                );
            }
            seen[d] = true;
        }
        Ok(Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        })
    }

    pub fn transpose(&self, a: usize, b: usize) -> Layout {
        let mut l = self.clone();
        l.shape.swap(a, b);
        l.strides.swap(a, b);
        l
    }

    /// The elements `start, start+step, ...` (`len` of them) along `dim`.
    pub fn slice(&self, dim: usize, start: usize, len: usize, step: usize) -> Layout {
        let mut l = self.clone();
        if len > 0 {
            l.offset += start * self.strides[dim];
        }
        l.shape[dim] = len;
        l.strides[dim] *= step;
        l
    }

    /// Removes `dim` by selecting index `i` along it.
    pub fn select(&self, dim: usize, i: usize) -> Layout {
        let mut l = self.clone();
        l.offset += i * self.strides[dim];
        l.shape.remove(dim);
        l.strides.remove(dim);
        l
    }

    pub fn unsqueeze(&self, dim: usize) -> Layout {
        let mut l = self.clone();
        let stride = if dim < self.ndim() {
            self.strides[dim] * self.shape[dim]
        } else {
            1
        };
        l.shape.insert(dim, 1);
        l.strides.insert(dim, stride);
        l
    }

    pub fn squeeze(&self, dims: &[usize]) -> Layout {
        let mut l = Layout {
            shape: vec![],
            strides: vec![],
            offset: self.offset,
        };
        for i in 0..self.ndim() {
            if !(dims.contains(&i) && self.shape[i] == 1) {
                l.shape.push(self.shape[i]);
                l.strides.push(self.strides[i]);
            }
        }
        l
    }

    /// Broadcasts to `shape` with zero strides, as `Tensor.expand`.
    pub fn expand(&self, shape: &[usize]) -> Result<Layout> {
        if shape.len() < self.ndim() {
            bail!(
                Shape,
                "expand: the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({})",
                shape.len(),
                self.ndim()
            );
        }
        shape::checked_numel(shape)?;
        let lead = shape.len() - self.ndim();
        let mut strides = vec![0; shape.len()];
        for i in 0..shape.len() {
            if i < lead {
                continue;
            }
            let (d, s) = (self.shape[i - lead], self.strides[i - lead]);
            if d == shape[i] {
                strides[i] = s;
            } else if d != 1 {
                bail!(
                    Shape,
                    "The expanded size of the tensor ({}) must match the existing size ({d}) at non-singleton dimension {i}. Target sizes: {shape:?}. Tensor sizes: {:?}",
                    shape[i],
                    self.shape
                );
            }
        }
        Ok(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// A view with a new shape over the same elements when strides allow it, else None (then copy).
    pub fn reshape_view(&self, shape: &[usize]) -> Option<Layout> {
        if self.is_contiguous() {
            return Some(Layout {
                shape: shape.to_vec(),
                strides: shape::contiguous_strides(shape),
                offset: self.offset,
            });
        }
        // Merge the old dims into chunks that are contiguous among themselves, then split
        // each chunk into the new dims that cover exactly its elements.
        let old: Vec<(usize, usize)> = self
            .shape
            .iter()
            .zip(&self.strides)
            .filter(|(&d, _)| d != 1)
            .map(|(&d, &s)| (d, s))
            .collect();
        let mut strides = vec![0; shape.len()];
        let (mut oi, mut ni) = (0, 0);
        while oi < old.len() {
            let mut chunk = old[oi].0;
            let mut inner_stride = old[oi].1;
            while oi + 1 < old.len() && old[oi].1 == old[oi + 1].0 * old[oi + 1].1 {
                oi += 1;
                chunk *= old[oi].0;
                inner_stride = old[oi].1;
            }
            oi += 1;
            // Assign new dims to this chunk, innermost last.
            let start = ni;
            let mut covered = 1;
            while ni < shape.len() && (covered < chunk || shape[ni] == 1) {
                if covered * shape[ni] > chunk {
                    return None;
                }
                covered *= shape[ni];
                ni += 1;
            }
            if covered != chunk {
                return None;
            }
            let mut s = inner_stride;
            for j in (start..ni).rev() {
                strides[j] = s;
                s *= shape[j];
            }
        }
        while ni < shape.len() {
            if shape[ni] != 1 {
                return None;
            }
            strides[ni] = 1;
            ni += 1;
        }
        Some(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Storage index of every element in row-major order.
    pub fn indices(&self) -> StridedIter {
        StridedIter::new(self)
    }
}

/// Walks the storage offsets of a layout in row-major element order.
pub struct StridedIter {
    shape: Vec<usize>,
    strides: Vec<usize>,
    index: Vec<usize>,
    next: usize,
    remaining: usize,
}

impl StridedIter {
    pub fn new(l: &Layout) -> StridedIter {
        StridedIter {
            shape: l.shape.clone(),
            strides: l.strides.clone(),
            index: vec![0; l.ndim()],
            next: l.offset,
            remaining: l.numel(),
        }
    }
}

impl Iterator for StridedIter {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cur = self.next;
        for d in (0..self.shape.len()).rev() {
            self.index[d] += 1;
            self.next += self.strides[d];
            if self.index[d] < self.shape[d] {
                break;
            }
            self.next -= self.strides[d] * self.shape[d];
            self.index[d] = 0;
        }
        Some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn reshape_views() {
        let l = Layout::contiguous(&[2, 3, 4]);
        let t = l.transpose(0, 1);
        assert!(t.reshape_view(&[6, 4]).is_none());
        let p = l.permute(&[0, 1, 2]).unwrap();
        assert_eq!(p.reshape_view(&[6, 4]).unwrap().strides, vec![4, 1]);
        let s = l.slice(2, 0, 2, 1); // [2,3,2] strides [12,4,1]
        assert_eq!(s.reshape_view(&[6, 2]).unwrap().strides, vec![4, 1]);
        assert!(s.reshape_view(&[12]).is_none());
    }
    #[test]
    fn iteration_order() {
        let l = Layout::contiguous(&[2, 3]).transpose(0, 1);
        assert_eq!(l.indices().collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
    }
}
