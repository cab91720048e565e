//! Matrix products as tensor ops: matmul with PyTorch's 1-D and batch-broadcast rules, mm, bmm, addmm.

use super::elementwise::{binary, binary_scalar, Scalar};
use super::same_device;
use super::view::{reshape, squeeze, unsqueeze};
use crate::autograd::tape::record;
use crate::backend;
use crate::bail;
use crate::dtype::DType;
use crate::error::Result;
use crate::op::{BinaryOp, Op};
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

/// The batched product of two tensors of rank >= 2 (recorded as one node).
fn matmul_nd(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (ra, rb) = (a.ndim(), b.ndim());
    let (k1, k2) = (a.shape()[ra - 1], b.shape()[rb - 2]);
    if k1 != k2 {
        bail!(
            Shape,
            "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{}) (shapes {:?} and {:?})",
            a.shape()[ra - 2],
            k1,
            k2,
            b.shape()[rb - 1],
            a.shape(),
            b.shape()
        );
    }
    // PyTorch multiplies matrices of one dtype only: a silent promotion would hide a float64
    // weight meeting float32 data (or an int64 index tensor used as a matrix).
    if a.dtype() != b.dtype() {
        bail!(
            Runtime,
            "expected m1 and m2 to have the same dtype, but got: {} != {} (shapes {:?} and {:?})",
            a.dtype().name(),
            b.dtype().name(),
            a.shape(),
            b.shape()
        );
    }
    let batch = broadcast_shapes(&a.shape()[..ra - 2], &b.shape()[..rb - 2])?;
    let dtype = a.dtype();
    let compute = if matches!(dtype, DType::F16 | DType::BF16) {
        DType::F32
    } else {
        dtype
    };
    let ca = if a.dtype() == compute {
        a.clone()
    } else {
        backend::cast(a, compute)?
    };
    let cb = if b.dtype() == compute {
        b.clone()
    } else {
        backend::cast(b, compute)?
    };
    let mut out = backend::matmul(&ca, &cb, &batch)?;
    if out.dtype() != dtype {
        out = backend::cast(&out, dtype)?;
    }
    if !dtype.is_float() {
        return Ok(out);
    }
    Ok(record(Op::Matmul, &[a, b], &[a, b], false, out))
}

pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_device("matmul", &[a, b])?;
    match (a.ndim(), b.ndim()) {
        (0, _) | (_, 0) => bail!(
            Shape,
            "both arguments to matmul need to be at least 1D, but they are {}D and {}D",
            a.ndim(),
            b.ndim()
        ),
        (1, 1) => {
            if a.shape() != b.shape() {
                bail!(Shape, "inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements", a.shape()[0], b.shape()[0]);
            }
            let r = matmul_nd(&unsqueeze(a, 0)?, &unsqueeze(b, 1)?)?;
            squeeze(&r, None)
        }
        (1, _) => squeeze(&matmul_nd(&unsqueeze(a, 0)?, b)?, Some(&[-2])),
        (_, 1) => squeeze(&matmul_nd(a, &unsqueeze(b, 1)?)?, Some(&[-1])),
        (na, 2) if na > 2 => {
            // A batch of rows times one matrix (`Linear` on [batch, seq, features]) is one
            // product over all the rows, as PyTorch folds it: one large matmul instead of a
            // batch of small ones, and a weight gradient that is one product too rather than
            // a batch of them summed.
            let k = a.shape()[na - 1] as isize;
            let rows = reshape(a, &[-1, k])?;
            let mut shape: Vec<isize> = a.shape()[..na - 1].iter().map(|&d| d as isize).collect();
            shape.push(b.shape()[1] as isize);
            reshape(&matmul_nd(&rows, b)?, &shape)
        }
        _ => matmul_nd(a, b),
    }
}

/// `x @ w.t() + b` over the last dim of x (PyTorch's `F.linear`). For float32 and float64 it
/// is one node: one product over all rows of x with the bias added as the product is stored
/// (on the GPU, in the matmul's epilogue). Other dtypes, or shapes that do not fit (their
/// errors are matmul's and add's), take the composed path.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let mut all = vec![x, w];
    all.extend(b);
    same_device("linear", &all)?;
    let dtype = x.dtype();
    let fits = w.ndim() == 2
        && x.ndim() >= 1
        && x.shape()[x.ndim() - 1] == w.shape()[1]
        && matches!(dtype, DType::F32 | DType::F64)
        && all.iter().all(|t| t.dtype() == dtype)
        && b.is_none_or(|b| b.shape() == [w.shape()[0]]);
    if !fits {
        let out = matmul(x, &super::view::transpose(w, 0, 1)?)?;
        return match b {
            Some(b) => binary(BinaryOp::Add, &out, b),
            None => Ok(out),
        };
    }
    let (k, n) = (w.shape()[1], w.shape()[0]);
    let lead = &x.shape()[..x.ndim() - 1];
    let rows: usize = lead.iter().product();
    let x2 = reshape(&x.detach(), &[rows as isize, k as isize])?;
    let out = backend::linear(&x2, &w.detach(), b.map(|b| b.detach()).as_ref())?;
    let shape: Vec<isize> = lead.iter().chain([&n]).map(|&d| d as isize).collect();
    let out = reshape(&out, &shape)?;
    Ok(record(Op::Linear, &all, &[x, w], false, out))
}

/// The gradients of `linear` for x, w and b (each only where `want`), given the output's `g`.
pub fn linear_backward(
    g: &Tensor,
    x: &Tensor,
    w: &Tensor,
    want: [bool; 3],
) -> Result<[Option<Tensor>; 3]> {
    let (k, n) = (w.shape()[1] as isize, w.shape()[0] as isize);
    let rows = x.shape()[..x.ndim() - 1].iter().product::<usize>() as isize;
    let g2 = reshape(g, &[rows, n])?;
    let gx = want[0]
        .then(|| {
            let shape: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
            reshape(&matmul(&g2, w)?, &shape)
        })
        .transpose()?;
    // [n, rows] · [rows, k] is w's own [n, k] layout: no copy to match it.
    let gw = want[1]
        .then(|| {
            matmul(
                &super::view::transpose(&g2, 0, 1)?,
                &reshape(x, &[rows, k])?,
            )
        })
        .transpose()?;
    let gb = want[2]
        .then(|| super::reduce::sum(&g2, &[0], false))
        .transpose()?;
    Ok([gx, gw, gb])
}

pub fn mm(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.ndim() != 2 || b.ndim() != 2 {
        bail!(
            Shape,
            "mm: expected 2-D tensors, got {}-D and {}-D (shapes {:?} and {:?})",
            a.ndim(),
            b.ndim(),
            a.shape(),
            b.shape()
        );
    }
    matmul(a, b)
}

pub fn bmm(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.ndim() != 3 || b.ndim() != 3 || a.shape()[0] != b.shape()[0] {
        bail!(
            Shape,
            "bmm: expected two 3-D tensors with the same batch size, got shapes {:?} and {:?}",
            a.shape(),
            b.shape()
        );
    }
    matmul(a, b)
}

/// `beta * input + alpha * (m1 @ m2)`.
pub fn addmm(input: &Tensor, m1: &Tensor, m2: &Tensor, beta: f64, alpha: f64) -> Result<Tensor> {
    let mut p = mm(m1, m2)?;
    if alpha != 1.0 {
        p = binary_scalar(BinaryOp::Mul, &p, Scalar::Float(alpha))?;
    }
    let i = if beta != 1.0 {
        binary_scalar(BinaryOp::Mul, input, Scalar::Float(beta))?
    } else {
        input.clone()
    };
    binary(BinaryOp::Add, &i, &p)
}
