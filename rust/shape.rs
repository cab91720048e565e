//! Shapes: broadcasting and dimension normalisation, with PyTorch's error messages.

use crate::bail;
use crate::error::Result;

pub type Shape = Vec<usize>;

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The element count of `shape`, or PyTorch's overflow error when it does not fit in an i64
/// (a wrapped count would make an empty-looking view that reads out of bounds).
pub fn checked_numel(shape: &[usize]) -> Result<usize> {
    match shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
    {
        Some(n) => Ok(n),
        None => bail!(
            Shape,
            "numel: integer multiplication overflow: the shape {shape:?} has more than 2^63 elements"
        ),
    }
}

/// Row-major strides of a contiguous tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1].max(1);
    }
    strides
}

/// The shape two operands broadcast to, as numpy and PyTorch define it.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            bail!(
                Shape,
                "The size of tensor a ({da}) must match the size of tensor b ({db}) at non-singleton dimension {i}: shapes {a:?} and {b:?}"
            )
        };
    }
    Ok(out)
}

/// Wraps a possibly negative `dim` into `0..ndim`.
pub fn normalize_dim(dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as isize;
    if dim < -n || dim >= n {
        bail!(
            Index,
            "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
            -n,
            n - 1
        )
    }
    Ok(if dim < 0 {
        (dim + n) as usize
    } else {
        dim as usize
    })
}

/// Normalises a list of reduction dims; an empty list means all dims.
pub fn normalize_dims(dims: &[isize], ndim: usize) -> Result<Vec<usize>> {
    if dims.is_empty() {
        return Ok((0..ndim).collect());
    }
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let d = normalize_dim(d, ndim)?;
        if out.contains(&d) {
            bail!(
                Runtime,
                "dim {d} appears multiple times in the list of dims"
            );
        }
        if ndim > 0 {
            out.push(d);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Resolves a `-1` in a requested view shape against `numel`.
pub fn infer_shape(requested: &[isize], numel: usize) -> Result<Shape> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in requested.iter().enumerate() {
        if d == -1 {
            if infer.is_some() {
                bail!(Runtime, "only one dimension can be inferred");
            }
            infer = Some(i);
        } else if d < 0 {
            bail!(Runtime, "invalid shape dimension {d}");
        } else {
            known = match known.checked_mul(d as usize) {
                Some(k) if k <= isize::MAX as usize => k,
                _ => bail!(
                    Shape,
                    "shape '{requested:?}' is invalid for input of size {numel}: its size overflows"
                ),
            };
        }
    }
    let mut shape: Shape = requested.iter().map(|&d| d.max(0) as usize).collect();
    match infer {
        Some(i) if known != 0 && numel % known == 0 => shape[i] = numel / known,
        None if known == numel => {}
        _ => bail!(
            Shape,
            "shape '{requested:?}' is invalid for input of size {numel}"
        ),
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[], &[2, 2]).unwrap(), vec![2, 2]);
        assert!(broadcast_shapes(&[3], &[4]).is_err());
    }
    #[test]
    fn inference() {
        assert_eq!(infer_shape(&[-1, 4], 12).unwrap(), vec![3, 4]);
        assert!(infer_shape(&[-1, 5], 12).is_err());
    }
}
