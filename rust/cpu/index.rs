//! Indexing CPU kernels: gather, scatter(-add), flip and argsort; these move elements by index.

use super::elementwise::cast;
use crate::bail;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::storage::Device;
use crate::tensor::Tensor;

/// Calls `f(linear, index)` for every multi-index of `shape` in row-major order.
fn for_each_index(shape: &[usize], mut f: impl FnMut(usize, &[usize]) -> Result<()>) -> Result<()> {
    let total: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for lin in 0..total {
        f(lin, &idx)?;
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(())
}

fn offset(t: &Tensor, idx: &[usize], dim: usize, at: usize) -> usize {
    let l = t.layout();
    l.offset
        + idx
            .iter()
            .zip(&l.strides)
            .enumerate()
            .map(|(d, (&i, &s))| if d == dim { at * s } else { i * s })
            .sum::<usize>()
}

/// For gather/scatter along the last dim of contiguous tensors with matching leading dims:
/// (row length of x, row length of index), so both walk rows directly.
fn last_dim_rows(x: &Tensor, index: &Tensor, dim: usize) -> Option<(usize, usize)> {
    let n = x.ndim();
    let fits = n > 0
        && dim + 1 == n
        && x.is_contiguous()
        && x.layout().offset == 0
        && index.shape()[..dim] == x.shape()[..dim];
    fits.then(|| (x.shape()[dim], index.shape()[dim]))
}

/// gather/scatter's bounds check: a RuntimeError in PyTorch (only indexing syntax raises
/// IndexError).
fn checked(i: i64, size: usize, dim: usize) -> Result<usize> {
    if i < 0 || i as usize >= size {
        bail!(
            Runtime,
            "index {i} is out of bounds for dimension {dim} with size {size}"
        );
    }
    Ok(i as usize)
}

/// `out[p] = x[p with p[dim] = index[p]]`; `index` is int64 with x's rank.
pub fn gather(x: &Tensor, dim: usize, index: &Tensor) -> Result<Tensor> {
    let out = Tensor::for_overwrite(index.shape(), x.dtype(), Device::Cpu)?;
    let ix = index.to_vec::<i64>();
    for d in 0..x.ndim() {
        if d != dim && index.shape()[d] > x.shape()[d] {
            bail!(Shape, "Size does not match at dimension {d}: index {:?} vs input {:?} (gather along dim {dim})", index.shape(), x.shape());
        }
    }
    with_dtype!(x.dtype(), T, {
        let (src, dst) = (
            x.storage().as_slice::<T>(),
            out.storage().as_mut_slice::<T>(),
        );
        for_each_index(index.shape(), |lin, p| {
            let at = checked(ix[lin], x.shape()[dim], dim)?;
            dst[lin] = src[offset(x, p, dim, at)];
            Ok(())
        })?;
    });
    Ok(out)
}

/// A copy of `x` with `src[p]` written (or added, with `add`) at `p with p[dim] = index[p]`.
pub fn scatter(x: &Tensor, dim: usize, index: &Tensor, src: &Tensor, add: bool) -> Result<Tensor> {
    let out = cast(x, x.dtype())?;
    // A broadcast (stride-0) source, common in gradients, is laid out once for the row walk.
    let src = &if src.shape() == index.shape() && !src.is_contiguous() {
        cast(src, src.dtype())?
    } else {
        src.clone()
    };
    let ix = index.to_vec::<i64>();
    for d in 0..x.ndim() {
        if index.shape()[d] > src.shape()[d] || (d != dim && index.shape()[d] > x.shape()[d]) {
            bail!(Shape, "Expected index {:?} to be smaller than self {:?} apart from dimension {dim} and to be smaller size than src {:?}", index.shape(), x.shape(), src.shape());
        }
    }
    if let Some((kx, ki)) =
        last_dim_rows(x, index, dim).filter(|_| src.is_contiguous() && src.shape() == index.shape())
    {
        with_dtype!(x.dtype(), T, {
            let s = src.contiguous_slice::<T>().expect("contiguous");
            let dst = out.storage().as_mut_slice::<T>();
            for (r, (sv, ix)) in s.chunks(ki).zip(ix.chunks(ki)).enumerate() {
                for (&v, &i) in sv.iter().zip(ix) {
                    let o = r * kx + checked(i, kx, dim)?;
                    dst[o] = if add {
                        T::from_value(dst[o].to_f64() + v.to_f64())
                    } else {
                        v
                    };
                }
            }
        });
        return Ok(out);
    }
    with_dtype!(x.dtype(), T, {
        let s = src.storage().as_slice::<T>();
        let dst = out.storage().as_mut_slice::<T>();
        for_each_index(index.shape(), |lin, p| {
            let at = checked(ix[lin], x.shape()[dim], dim)?;
            let o = offset(&out, p, dim, at);
            let v = s[offset(src, p, usize::MAX, 0)];
            dst[o] = if add {
                T::from_value(dst[o].to_f64() + v.to_f64())
            } else {
                v
            };
            Ok(())
        })?;
    });
    Ok(out)
}

/// `x` reversed along `dims`, as a contiguous copy.
pub fn flip(x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    let out = Tensor::for_overwrite(x.shape(), x.dtype(), Device::Cpu)?;
    let shape = x.shape().to_vec();
    with_dtype!(x.dtype(), T, {
        let (src, dst) = (
            x.storage().as_slice::<T>(),
            out.storage().as_mut_slice::<T>(),
        );
        let l = x.layout();
        for_each_index(&shape, |lin, p| {
            let o = l.offset
                + p.iter()
                    .enumerate()
                    .map(|(d, &i)| {
                        if dims.contains(&d) {
                            (shape[d] - 1 - i) * l.strides[d]
                        } else {
                            i * l.strides[d]
                        }
                    })
                    .sum::<usize>();
            dst[lin] = src[o];
            Ok(())
        })?;
    });
    Ok(out)
}

/// Indices that sort `x` along `dim` (stable; NaN sorts as the largest value).
pub fn argsort(x: &Tensor, dim: usize, descending: bool) -> Result<Tensor> {
    let n = x.ndim();
    let mut perm: Vec<usize> = (0..n).filter(|&d| d != dim).collect();
    perm.push(dim);
    let moved = x.with_layout(x.layout().permute(&perm)?);
    let vals = moved.to_vec::<f64>();
    let k = x.shape().get(dim).copied().unwrap_or(1);
    let out = Tensor::zeros(moved.shape(), DType::I64, Device::Cpu)?;
    let dst = out.storage().as_mut_slice::<i64>();
    if k > 0 {
        for (r, d) in dst.chunks_mut(k).enumerate() {
            let row = &vals[r * k..(r + 1) * k];
            let mut idx: Vec<usize> = (0..k).collect();
            let key = |v: f64| if v.is_nan() { f64::INFINITY } else { v };
            idx.sort_by(|&a, &b| {
                let o = key(row[a])
                    .partial_cmp(&key(row[b]))
                    .unwrap_or(std::cmp::Ordering::Equal);
                let o = o.then((row[a].is_nan()).cmp(&row[b].is_nan()));
                if descending {
                    o.reverse()
                } else {
                    o
                }
            });
            for (d, i) in d.iter_mut().zip(idx) {
                *d = i as i64;
            }
        }
    }
    let mut inv: Vec<usize> = (0..n.saturating_sub(1)).collect();
    if n > 0 {
        inv.insert(dim, n - 1);
    }
    let back = out.with_layout(out.layout().permute(&inv)?);
    cast(&back, DType::I64)
}
