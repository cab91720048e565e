//! Elementwise tensor ops: promotion, broadcasting, recording; in-place writes and casts.

use super::same_device;
use crate::autograd::tape::{is_grad_enabled, record};
use crate::backend;
use crate::bail;
use crate::dtype::{Category, DType};
use crate::error::Result;
use crate::op::{BinaryOp, Op, UnaryOp};
use crate::shape::broadcast_shapes;
use crate::storage::Device;
use crate::tensor::Tensor;

/// A Python number taking part in an op: it joins a tensor's dtype unless its category is higher.
#[derive(Debug, Clone, Copy)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    pub fn value(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as i64 as f64,
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }
    fn category(self) -> Category {
        match self {
            Scalar::Bool(_) => Category::Bool,
            Scalar::Int(_) => Category::Int,
            Scalar::Float(_) => Category::Float,
        }
    }
    /// The dtype this scalar takes next to a tensor of `other` (PyTorch's wrapped-number rule).
    pub fn dtype_next_to(self, other: DType) -> DType {
        if self.category() <= other.category() {
            other
        } else {
            match self {
                Scalar::Bool(_) => DType::Bool,
                Scalar::Int(_) => DType::I64,
                Scalar::Float(_) => DType::F32,
            }
        }
    }
    /// A 0-d tensor holding this scalar, ready to meet `other` in an op.
    pub fn tensor_next_to(self, other: &Tensor) -> Result<Tensor> {
        let dtype = self.dtype_next_to(other.dtype());
        let t = Tensor::zeros(&[], dtype, Device::Cpu)?;
        match (self, dtype) {
            (Scalar::Int(i), DType::I64) => t.storage().as_mut_slice::<i64>()[0] = i,
            _ => t.fill_raw(self.value()),
        }
        to_device(&t, other.device())
    }
}

/// `x` converted to `dtype` (the same tensor when it already is), recorded for autograd.
pub fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    let out = backend::cast(x, dtype)?;
    if !dtype.is_float() {
        return Ok(out);
    }
    Ok(record(Op::Cast { from: x.dtype() }, &[x], &[], false, out))
}

/// Moves `x` to `device`. Only the CPU exists in this build, so other devices are refused.
pub fn to_device(x: &Tensor, device: Device) -> Result<Tensor> {
    if x.device() == device {
        return Ok(x.clone());
    }
    bail!(
        Device,
        "device '{device}' is not available: this build of ember has no GPU backend"
    )
}

/// Floats compute in float32 when stored as half (no f16 arithmetic on the CPU).
fn compute_dtype(d: DType) -> DType {
    match d {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let dtype = if op == UnaryOp::LogicalNot {
        DType::Bool
    } else if op.needs_float() && !x.dtype().is_float() {
        DType::F32
    } else {
        x.dtype()
    };
    let input = if op == UnaryOp::LogicalNot {
        x.clone()
    } else {
        backend_cast(x, compute_dtype(dtype))?
    };
    let mut out = backend::unary(op, &input)?;
    if out.dtype() != dtype {
        out = backend::cast(&out, dtype)?;
    }
    if !dtype.is_float() || op == UnaryOp::LogicalNot {
        return Ok(out);
    }
    let differentiable = !matches!(
        op,
        UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round
    );
    if !differentiable {
        return Ok(out);
    }
    Ok(record(Op::Unary(op), &[x], &[x], true, out))
}

/// A cast that does not record (for compute-dtype changes the op itself accounts for).
fn backend_cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        Ok(x.clone())
    } else {
        backend::cast(x, dtype)
    }
}

/// The dtype a binary op produces for inputs of `a` and `b`.
pub fn result_dtype(op: BinaryOp, a: DType, b: DType) -> DType {
    if op.is_comparison() || op.is_logical() {
        return DType::Bool;
    }
    let d = DType::promote(a, b);
    if matches!(op, BinaryOp::Div | BinaryOp::Atan2) && !d.is_float() {
        DType::F32
    } else {
        d
    }
}

pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_device(op.name(), &[a, b])?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let dtype = result_dtype(op, a.dtype(), b.dtype());
    let compute = if op.is_logical() {
        DType::Bool
    } else if op.is_comparison() {
        compute_dtype(DType::promote(a.dtype(), b.dtype()))
    } else {
        compute_dtype(dtype)
    };
    if compute == DType::Bool
        && matches!(
            op,
            BinaryOp::Sub
                | BinaryOp::Div
                | BinaryOp::Pow
                | BinaryOp::Remainder
                | BinaryOp::FloorDivide
        )
    {
        bail!(
            DType,
            "\"{}\" is not supported for two bool tensors; use logical ops or convert with .int()",
            op.name()
        );
    }
    let out = backend::binary(
        op,
        &backend_cast(a, compute)?,
        &backend_cast(b, compute)?,
        &shape,
    )?;
    let out = backend_cast(&out, dtype)?;
    let differentiable =
        dtype.is_float() && !op.is_comparison() && !op.is_logical() && op != BinaryOp::FloorDivide;
    if !differentiable {
        return Ok(out);
    }
    let save_out = matches!(op, BinaryOp::Pow | BinaryOp::Div);
    Ok(record(Op::Binary(op), &[a, b], &[a, b], save_out, out))
}

pub fn binary_scalar(op: BinaryOp, a: &Tensor, s: Scalar) -> Result<Tensor> {
    binary(op, a, &s.tensor_next_to(a)?)
}

/// `s op a` for reflected operators (`2 - x`).
pub fn scalar_binary(op: BinaryOp, s: Scalar, a: &Tensor) -> Result<Tensor> {
    binary(op, &s.tensor_next_to(a)?, a)
}

pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_device("where", &[cond, a, b])?;
    if cond.dtype() != DType::Bool {
        bail!(
            DType,
            "where expected condition to be a boolean tensor, but got a tensor with dtype {}",
            cond.dtype().name()
        );
    }
    let shape = broadcast_shapes(&broadcast_shapes(cond.shape(), a.shape())?, b.shape())?;
    let dtype = DType::promote(a.dtype(), b.dtype());
    let out = backend::where_(
        cond,
        &backend_cast(a, dtype)?,
        &backend_cast(b, dtype)?,
        &shape,
    )?;
    if !dtype.is_float() {
        return Ok(out);
    }
    Ok(record(Op::Where, &[a, b, cond], &[cond], false, out))
}

pub fn clamp(x: &Tensor, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
    if min.is_none() && max.is_none() {
        bail!(
            Value,
            "torch.clamp: At least one of 'min' or 'max' must not be None"
        );
    }
    let compute = compute_dtype(x.dtype());
    let out = backend_cast(
        &backend::clamp(&backend_cast(x, compute)?, min, max)?,
        x.dtype(),
    )?;
    if !x.dtype().is_float() {
        return Ok(out);
    }
    Ok(record(Op::Clamp { min, max }, &[x], &[x], false, out))
}

/// A contiguous copy that stays in the graph (`clone`, `contiguous`).
pub fn copy(x: &Tensor) -> Result<Tensor> {
    let out = backend::cast(x, x.dtype())?;
    if !x.dtype().is_float() {
        return Ok(out);
    }
    // Recorded as a same-dtype cast: its gradient passes straight through.
    Ok(record(Op::Cast { from: x.dtype() }, &[x], &[], false, out))
}

/// Writes `value` into the view `dst` as an in-place op: checks, version bump, graph rebase.
pub fn assign(dst: &Tensor, value: &Tensor) -> Result<()> {
    same_device("copy_", &[dst, value])?;
    if is_grad_enabled() {
        let m = dst.meta();
        if m.node.is_none() && m.requires_grad {
            bail!(
                Autograd,
                "a leaf Variable that requires grad is being used in an in-place operation."
            );
        }
    }
    if value.dtype() != dst.dtype() {
        let (from, to) = (value.dtype(), dst.dtype());
        if from.category() > to.category() {
            bail!(
                DType,
                "result type {} can't be cast to the desired output type {}",
                from.name(),
                to.name()
            );
        }
    }
    crate::shape::broadcast_shapes(value.shape(), dst.shape()).and_then(|s| {
        if s != dst.shape() {
            bail!(
                Shape,
                "output with shape {:?} doesn't match the broadcast shape {s:?}",
                dst.shape()
            );
        }
        Ok(())
    })?;
    let v = backend_cast(value, dst.dtype())?;
    backend::copy_into(dst, &v)?;
    dst.storage().bump_version();
    if is_grad_enabled() && value.requires_grad() {
        // The tensor now holds the op's result: its gradient flows through the op's node.
        // A partial write (a view) re-routes through a SliceAssign-style node made by the caller.
        let node = value.node();
        let mut m = dst.meta();
        m.requires_grad = true;
        m.node = node;
    }
    Ok(())
}
