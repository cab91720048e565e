//! Reductions and row ops as tensor ops: sum, mean, prod, max/min (with indices), var/std,
//! norm, logsumexp, softmax, log_softmax, cumsum, all/any.

use super::elementwise::{binary, binary_scalar, to_dtype, unary, Scalar};
use super::index::gather;
use super::view::{squeeze, unsqueeze};
use crate::autograd::tape::record;
use crate::backend;
use crate::bail;
use crate::dtype::DType;
use crate::error::Result;
use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use crate::shape::{normalize_dim, normalize_dims};
use crate::tensor::Tensor;

pub fn reduced_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    let mut out = Vec::new();
    for (d, &s) in shape.iter().enumerate() {
        if dims.contains(&d) {
            if keepdim {
                out.push(1);
            }
        } else {
            out.push(s);
        }
    }
    out
}

/// Sum, prod, amax, amin, all, any over `dims` (empty = all dims).
pub fn reduce(op: ReduceOp, x: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    let d = normalize_dims(dims, x.ndim())?;
    let out_shape = reduced_shape(x.shape(), &d, keepdim);
    let input = match op {
        // Integer sums widen to int64, as in PyTorch; halves accumulate in float32.
        ReduceOp::Sum | ReduceOp::Prod if !x.dtype().is_float() => to_dtype(x, DType::I64)?,
        ReduceOp::All | ReduceOp::Any => to_dtype(x, DType::Bool)?,
        _ if matches!(x.dtype(), DType::F16 | DType::BF16) => backend::cast(x, DType::F32)?,
        _ if x.dtype() == DType::Bool => backend::cast(x, DType::I64)?,
        _ => x.clone(),
    };
    let mut out = backend::reduce(op, &input, &d, &out_shape)?;
    let want = match op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
        ReduceOp::All | ReduceOp::Any => DType::Bool,
        _ => input.dtype().max_with(x.dtype()),
    };
    if out.dtype() != want {
        out = backend::cast(&out, want)?;
    }
    if !out.dtype().is_float() {
        return Ok(out);
    }
    let save = matches!(op, ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min);
    let saved: Vec<&Tensor> = if save { vec![x] } else { vec![] };
    Ok(record(
        Op::Reduce {
            op,
            dims: d,
            keepdim,
        },
        &[x],
        &saved,
        save,
        out,
    ))
}

impl DType {
    /// The stored dtype for a reduction result: halves go back to half, ints stay widened.
    fn max_with(self, original: DType) -> DType {
        if matches!(original, DType::F16 | DType::BF16) {
            original
        } else {
            self
        }
    }
}

pub fn sum(x: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    reduce(ReduceOp::Sum, x, dims, keepdim)
}

pub fn mean(x: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    if !x.dtype().is_float() {
        bail!(DType, "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}", x.dtype().name());
    }
    if let Some(r) = in_float32(x, |x| mean(x, dims, keepdim)) {
        return r;
    }
    let d = normalize_dims(dims, x.ndim())?;
    let n: usize = d.iter().map(|&i| x.shape()[i]).product();
    let s = sum(x, dims, keepdim)?;
    binary_scalar(BinaryOp::Div, &s, Scalar::Float(n as f64))
}

/// Half-precision statistics are computed in float32 and rounded once at the end, as PyTorch
/// accumulates them (the mean of [60000, 60000] in float16 is 60000, not inf); None for other
/// dtypes.
fn in_float32(x: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Option<Result<Tensor>> {
    if !matches!(x.dtype(), DType::F16 | DType::BF16) {
        return None;
    }
    Some(
        to_dtype(x, DType::F32)
            .and_then(|w| f(&w))
            .and_then(|r| to_dtype(&r, x.dtype())),
    )
}

/// Variance with Bessel's `correction` (1 by default, as torch.var).
pub fn var(x: &Tensor, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor> {
    if let Some(r) = in_float32(x, |x| var(x, dims, correction, keepdim)) {
        return r;
    }
    let d = normalize_dims(dims, x.ndim())?;
    let n: usize = d.iter().map(|&i| x.shape()[i]).product();
    let mu = mean(x, dims, true)?;
    let dev = binary(BinaryOp::Sub, x, &mu)?;
    let sq = binary(BinaryOp::Mul, &dev, &dev)?;
    let s = sum(&sq, dims, keepdim)?;
    binary_scalar(
        BinaryOp::Div,
        &s,
        Scalar::Float((n as f64 - correction).max(0.0)),
    )
}

pub fn std(x: &Tensor, dims: &[isize], correction: f64, keepdim: bool) -> Result<Tensor> {
    unary(UnaryOp::Sqrt, &var(x, dims, correction, keepdim)?)
}

/// The p-norm over `dims` (p = 2 by default; inf and -inf take amax/amin of |x|).
pub fn norm(x: &Tensor, p: f64, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    let a = unary(UnaryOp::Abs, x)?;
    if p.is_infinite() {
        return reduce(
            if p > 0.0 {
                ReduceOp::Max
            } else {
                ReduceOp::Min
            },
            &a,
            dims,
            keepdim,
        );
    }
    if p == 1.0 {
        return sum(&a, dims, keepdim);
    }
    if p == 2.0 {
        // sqrt has an infinite slope at 0: route zero norms through a constant branch so the
        // gradient there is 0 (as PyTorch's norm gives), not NaN.
        let s = sum(&binary(BinaryOp::Mul, x, x)?, dims, keepdim)?;
        let zero = binary_scalar(BinaryOp::Eq, &s, Scalar::Float(0.0))?;
        let one = Scalar::Float(1.0).tensor_next_to(&s)?;
        let root = unary(UnaryOp::Sqrt, &super::elementwise::where_(&zero, &one, &s)?)?;
        return super::elementwise::where_(&zero, &Scalar::Float(0.0).tensor_next_to(&s)?, &root);
    }
    let powed = binary_scalar(BinaryOp::Pow, &a, Scalar::Float(p))?;
    binary_scalar(
        BinaryOp::Pow,
        &sum(&powed, dims, keepdim)?,
        Scalar::Float(1.0 / p),
    )
}

pub fn logsumexp(x: &Tensor, dims: &[isize], keepdim: bool) -> Result<Tensor> {
    let x = if x.dtype().is_float() {
        x.clone()
    } else {
        to_dtype(x, DType::F32)?
    };
    let m = reduce(ReduceOp::Max, &x.detach(), dims, true)?;
    // Rows that are all -inf would give nan from inf - inf; shift them by zero instead.
    let finite = binary_scalar(
        BinaryOp::Eq,
        &unary(UnaryOp::Abs, &m)?,
        Scalar::Float(f64::INFINITY),
    )?;
    let m = super::elementwise::where_(&finite, &Scalar::Float(0.0).tensor_next_to(&m)?, &m)?;
    let e = unary(UnaryOp::Exp, &binary(BinaryOp::Sub, &x, &m)?)?;
    let s = unary(UnaryOp::Log, &sum(&e, dims, true)?)?;
    let out = binary(BinaryOp::Add, &s, &m)?;
    if keepdim {
        Ok(out)
    } else {
        let d: Vec<isize> = normalize_dims(dims, x.ndim())?
            .iter()
            .map(|&v| v as isize)
            .collect();
        squeeze(&out, Some(&d))
    }
}

/// A max/min/argmax/argmin dim must hold something to pick (PyTorch's IndexError).
fn nonempty_reduction_dim(name: &str, x: &Tensor, dim: isize) -> Result<isize> {
    let d = normalize_dim(dim, x.ndim().max(1))?;
    if x.ndim() > 0 && x.shape()[d] == 0 {
        bail!(
            Index,
            "{name}(): Expected reduction dim {dim} to have non-zero size."
        );
    }
    Ok(dim)
}

/// Max or min along one dim: (values, indices).
pub fn max_dim(x: &Tensor, dim: isize, keepdim: bool, largest: bool) -> Result<(Tensor, Tensor)> {
    let op = if largest {
        ReduceOp::ArgMax
    } else {
        ReduceOp::ArgMin
    };
    let idx = reduce(
        op,
        x,
        &[nonempty_reduction_dim(
            if largest { "max" } else { "min" },
            x,
            dim,
        )?],
        true,
    )?;
    let values = gather(x, dim, &idx)?;
    if keepdim {
        Ok((values, idx))
    } else {
        Ok((
            squeeze(&values, Some(&[dim]))?,
            squeeze(&idx, Some(&[dim]))?,
        ))
    }
}

pub fn argmax(x: &Tensor, dim: Option<isize>, keepdim: bool, largest: bool) -> Result<Tensor> {
    let op = if largest {
        ReduceOp::ArgMax
    } else {
        ReduceOp::ArgMin
    };
    match dim {
        Some(d) => reduce(op, x, &[nonempty_reduction_dim(op.name(), x, d)?], keepdim),
        None => {
            let flat = super::view::reshape(x, &[-1])?;
            let r = reduce(op, &flat, &[0], false)?;
            if keepdim {
                super::view::reshape(&r, &vec![1; x.ndim()])
            } else {
                Ok(r)
            }
        }
    }
}

pub fn softmax(x: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let x = if x.dtype().is_float() {
        x.clone()
    } else {
        to_dtype(x, DType::F32)?
    };
    if x.ndim() == 0 {
        let z = unsqueeze(&x, 0)?;
        return squeeze(&softmax(&z, 0, log)?, Some(&[0]));
    }
    let d = normalize_dim(dim, x.ndim())?;
    let compute = if matches!(x.dtype(), DType::F16 | DType::BF16) {
        backend::cast(&x, DType::F32)?
    } else {
        x.clone()
    };
    let mut out = backend::softmax(&compute, d, log)?;
    if out.dtype() != x.dtype() {
        out = backend::cast(&out, x.dtype())?;
    }
    let op = if log {
        Op::LogSoftmax { dim: d }
    } else {
        Op::Softmax { dim: d }
    };
    Ok(record(op, &[&x], &[], true, out))
}

pub fn cumsum(x: &Tensor, dim: isize) -> Result<Tensor> {
    let d = normalize_dim(dim, x.ndim().max(1))?;
    // Halves accumulate in float32 and store the running sums as half, as PyTorch's do.
    let half = matches!(x.dtype(), DType::F16 | DType::BF16);
    let input = if half {
        backend::cast(x, DType::F32)?
    } else if x.dtype().is_float() {
        x.clone()
    } else {
        to_dtype(x, DType::I64)?
    };
    if input.ndim() == 0 {
        return Ok(input);
    }
    let mut out = backend::cumsum(&input, d)?;
    if !out.dtype().is_float() {
        return Ok(out);
    }
    if half {
        out = backend::cast(&out, x.dtype())?;
    }
    Ok(record(Op::CumSum { dim: d }, &[x], &[], false, out))
}
