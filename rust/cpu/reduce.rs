//! Reduction CPU kernels: sum/prod/max/min/arg*/all/any over dims, and row ops along one dim
//! (softmax, log_softmax, cumsum).

use super::elementwise::cast;
use super::scalar::{Float, Num};
use super::threads::Limited;
use crate::bail;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::op::ReduceOp;
use crate::storage::Device;
use crate::tensor::Tensor;
use rayon::prelude::*;

const SERIAL_LIMIT: usize = 1 << 15;

/// Sums with 64 independent accumulators: the compiler keeps them in four vector registers,
/// so four add chains run at once instead of one waiting on its own latency.
#[inline]
fn sum_lanes<T: Num>(s: &[T]) -> T {
    const LANES: usize = 64;
    let mut acc = [T::zero(); LANES];
    let mut chunks = s.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] = acc[l] + c[l];
        }
    }
    let mut tail = T::zero();
    for &v in chunks.remainder() {
        tail = tail + v;
    }
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] = acc[l] + acc[l + w];
        }
    }
    acc[0] + tail
}

fn fold_row<T: Num>(op: ReduceOp, s: &[T]) -> T {
    match op {
        ReduceOp::Sum => {
            // Floats: lane sums over blocks, blocks added in f64, so error does not grow with
            // the row length. Integers stay exact in their own type.
            if !T::DTYPE.is_float() {
                return sum_lanes(s);
            }
            let block = |c: &[T]| sum_lanes(c).to_f64();
            let total: f64 = if s.len() > SERIAL_LIMIT {
                // A few large pieces per thread: each streams memory without task switches.
                let per = s
                    .len()
                    .div_ceil(super::threads::threads() * 2)
                    .max(SERIAL_LIMIT);
                s.par_chunks(per)
                    .within_limit()
                    .map(|c| c.chunks(4096).map(block).sum::<f64>())
                    .sum()
            } else {
                s.chunks(4096).map(block).sum()
            };
            T::from_value(total)
        }
        ReduceOp::Prod => s.iter().fold(T::ONE, |a, &b| a * b),
        ReduceOp::Max => s.iter().fold(T::lowest(), |a, &b| a.max_(b)),
        ReduceOp::Min => s.iter().fold(T::highest(), |a, &b| a.min_(b)),
        _ => unreachable!(),
    }
}

fn arg_row<T: Num>(op: ReduceOp, s: &[T]) -> i64 {
    let mut best = 0;
    for (i, &v) in s.iter().enumerate() {
        if s[best].is_nan() {
            break;
        }
        let better = if op == ReduceOp::ArgMax {
            v > s[best]
        } else {
            v < s[best]
        };
        if better || v.is_nan() {
            best = i;
        }
    }
    best as i64
}

/// Moves `dims` to the end and returns a contiguous tensor viewed as `[rows, k]`.
fn as_rows(x: &Tensor, dims: &[usize]) -> Result<(Tensor, usize, usize)> {
    let mut perm: Vec<usize> = (0..x.ndim()).filter(|d| !dims.contains(d)).collect();
    perm.extend_from_slice(dims);
    let k: usize = dims.iter().map(|&d| x.shape()[d]).product();
    let rows = if k == 0 {
        x.shape()
            .iter()
            .enumerate()
            .filter(|(d, _)| !dims.contains(d))
            .map(|(_, &s)| s)
            .product()
    } else {
        x.numel() / k
    };
    let p = x.with_layout(x.layout().permute(&perm).expect("valid permutation"));
    let c = if p.is_contiguous() {
        p
    } else {
        cast(&p, x.dtype())?
    };
    Ok((c, rows, k))
}

fn reduce_num<T: Num>(
    op: ReduceOp,
    x: &Tensor,
    dims: &[usize],
    out_shape: &[usize],
) -> Result<Tensor> {
    let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    let out = Tensor::zeros(
        out_shape,
        if arg { DType::I64 } else { T::DTYPE },
        Device::Cpu,
    )?;
    let ndim = x.ndim();
    // Reducing leading dims of a contiguous tensor: fold whole rows into the output (vectorises).
    let leading = !arg
        && x.is_contiguous()
        && dims.iter().enumerate().all(|(i, &d)| i == d)
        && dims.len() < ndim;
    if leading {
        let k: usize = dims.iter().map(|&d| x.shape()[d]).product();
        let m = x.numel() / k.max(1);
        let src = x.contiguous_slice::<T>().expect("contiguous");
        let dst = out.storage().as_mut_slice::<T>();
        let init = match op {
            ReduceOp::Sum => T::zero(),
            ReduceOp::Prod => T::ONE,
            ReduceOp::Max => T::lowest(),
            _ => T::highest(),
        };
        dst.fill(init);
        let fold_cols = |d: &mut [T], col0: usize| {
            for i in 0..k {
                let row = &src[i * m + col0..i * m + col0 + d.len()];
                match op {
                    ReduceOp::Sum => d.iter_mut().zip(row).for_each(|(a, &b)| *a = *a + b),
                    ReduceOp::Prod => d.iter_mut().zip(row).for_each(|(a, &b)| *a = *a * b),
                    ReduceOp::Max => d.iter_mut().zip(row).for_each(|(a, &b)| *a = a.max_(b)),
                    _ => d.iter_mut().zip(row).for_each(|(a, &b)| *a = a.min_(b)),
                }
            }
        };
        if x.numel() > SERIAL_LIMIT && m >= 64 {
            let cols = m.div_ceil(super::threads::threads() * 2).max(64);
            dst.par_chunks_mut(cols)
                .enumerate()
                .within_limit()
                .for_each(|(c, d)| fold_cols(d, c * cols));
        } else {
            fold_cols(dst, 0);
        }
        return Ok(out);
    }
    let (c, rows, k) = as_rows(x, dims)?;
    if k == 0
        && matches!(
            op,
            ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin
        )
    {
        bail!(Runtime, "{}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.", op.name());
    }
    let src = c.contiguous_slice::<T>().expect("contiguous");
    if arg {
        let dst = out.storage().as_mut_slice::<i64>();
        let f = |(r, d): (usize, &mut i64)| *d = arg_row(op, &src[r * k..(r + 1) * k]);
        if rows * k > SERIAL_LIMIT && rows > 1 {
            dst.par_iter_mut().enumerate().within_limit().for_each(f)
        } else {
            dst.iter_mut().enumerate().for_each(f)
        }
    } else {
        let dst = out.storage().as_mut_slice::<T>();
        let f = |(r, d): (usize, &mut T)| *d = fold_row(op, &src[r * k..(r + 1) * k]);
        if rows * k > SERIAL_LIMIT && rows > 1 {
            dst.par_iter_mut().enumerate().within_limit().for_each(f)
        } else {
            dst.iter_mut().enumerate().for_each(f)
        }
    }
    Ok(out)
}

/// Reduces `x` over sorted `dims`; the result has `out_shape` (keepdim already applied).
/// Sum/prod expect i64 or float input (the tensor layer widens), all/any expect bool.
pub fn reduce(op: ReduceOp, x: &Tensor, dims: &[usize], out_shape: &[usize]) -> Result<Tensor> {
    match (op, x.dtype()) {
        (ReduceOp::All | ReduceOp::Any, DType::Bool) => {
            let (c, _, k) = as_rows(x, dims)?;
            let src = c.contiguous_slice::<bool>().expect("contiguous");
            let out = Tensor::zeros(out_shape, DType::Bool, Device::Cpu)?;
            for (r, d) in out.storage().as_mut_slice::<bool>().iter_mut().enumerate() {
                let row = &src[r * k..(r + 1) * k];
                *d = if op == ReduceOp::All {
                    row.iter().all(|&v| v)
                } else {
                    row.iter().any(|&v| v)
                };
            }
            Ok(out)
        }
        (_, DType::F32) => reduce_num::<f32>(op, x, dims, out_shape),
        (_, DType::F64) => reduce_num::<f64>(op, x, dims, out_shape),
        (_, DType::I64) => reduce_num::<i64>(op, x, dims, out_shape),
        (_, DType::I32) => reduce_num::<i32>(op, x, dims, out_shape),
        (_, d) => bail!(
            DType,
            "\"{}\" not implemented for '{}'",
            op.name(),
            d.name()
        ),
    }
}

/// Applies `f(row_in, row_out)` to every row along `dim`; the result has `x`'s shape.
fn along_dim<T: Element>(
    x: &Tensor,
    dim: usize,
    f: impl Fn(&[T], &mut [T]) + Sync,
) -> Result<Tensor> {
    if x.numel() == 0 {
        return Tensor::zeros(x.shape(), T::DTYPE, Device::Cpu);
    }
    let (c, rows, k) = as_rows(x, &[dim])?;
    let out = Tensor::for_overwrite(c.shape(), T::DTYPE, Device::Cpu)?;
    let src = c.contiguous_slice::<T>().expect("contiguous");
    let dst = out.storage().as_mut_slice::<T>();
    if k > 0 {
        if rows * k > SERIAL_LIMIT {
            dst.par_chunks_mut(k)
                .enumerate()
                .within_limit()
                .for_each(|(r, d)| f(&src[r * k..(r + 1) * k], d));
        } else {
            dst.chunks_mut(k)
                .enumerate()
                .for_each(|(r, d)| f(&src[r * k..(r + 1) * k], d));
        }
    }
    // Move the dim back to its place and lay the result out contiguously.
    let n = x.ndim();
    let mut inv: Vec<usize> = (0..n.saturating_sub(1)).collect();
    inv.insert(dim, n - 1);
    let back = out.with_layout(out.layout().permute(&inv).expect("valid permutation"));
    if back.is_contiguous() {
        Ok(back)
    } else {
        cast(&back, T::DTYPE)
    }
}

fn softmax_t<T: Float>(x: &Tensor, dim: usize, log: bool) -> Result<Tensor> {
    along_dim::<T>(x, dim, |s, d| {
        let m = s.iter().fold(T::lowest(), |a, &b| a.max_(b));
        let m = if m == T::lowest() { T::zero() } else { m };
        let mut sum = T::zero();
        for (d, &v) in d.iter_mut().zip(s) {
            *d = (v - m).exp();
            sum = sum + *d;
        }
        if log {
            // (v - m) - ln(sum) keeps precision when |v| is large and ln(sum) small.
            let ls = sum.ln();
            d.iter_mut().zip(s).for_each(|(d, &v)| *d = (v - m) - ls);
        } else {
            let inv = T::ONE.div(sum);
            d.iter_mut().for_each(|d| *d = *d * inv);
        }
    })
}

pub fn softmax(x: &Tensor, dim: usize, log: bool) -> Result<Tensor> {
    match x.dtype() {
        DType::F32 => softmax_t::<f32>(x, dim, log),
        DType::F64 => softmax_t::<f64>(x, dim, log),
        d => bail!(DType, "softmax is not implemented for '{}'", d.name()),
    }
}

pub fn cumsum(x: &Tensor, dim: usize) -> Result<Tensor> {
    fn go<T: Num>(x: &Tensor, dim: usize) -> Result<Tensor> {
        along_dim::<T>(x, dim, |s, d| {
            let mut acc = T::zero();
            for (d, &v) in d.iter_mut().zip(s) {
                acc = acc + v;
                *d = acc;
            }
        })
    }
    match x.dtype() {
        DType::F32 => go::<f32>(x, dim),
        DType::F64 => go::<f64>(x, dim),
        DType::I64 => go::<i64>(x, dim),
        DType::I32 => go::<i32>(x, dim),
        d => bail!(DType, "cumsum is not implemented for '{}'", d.name()),
    }
}
