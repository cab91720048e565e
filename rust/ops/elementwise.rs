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
                Scalar::Float(_) => crate::dtype::default_float(),
            }
        }
    }
    /// A 0-d tensor holding this scalar, ready to meet `other` in an op.
    pub fn tensor_next_to(self, other: &Tensor) -> Result<Tensor> {
        let dtype = self.dtype_next_to(other.dtype());
        let exact = !matches!(self, Scalar::Int(i) if i.unsigned_abs() > 1 << 53);
        if other.device() != Device::Cpu && exact {
            return gpu_scalar(dtype, self.value(), other.device());
        }
        let t = Tensor::zeros(&[], dtype, Device::Cpu)?;
        match (self, dtype) {
            (Scalar::Int(i), DType::I64) => t.storage().as_mut_slice::<i64>()[0] = i,
            _ => t.fill_raw(self.value()),
        }
        to_device(&t, other.device())
    }
}

/// A 0-d GPU tensor holding `value`, shared by every op that uses the same number: the
/// operand tensors of Python scalars are never exposed or written, so one queued fill serves
/// them all (a training loop's `* 0.5` costs one dispatch, not two).
fn gpu_scalar(dtype: DType, value: f64, device: Device) -> Result<Tensor> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Cache = HashMap<(Device, DType, u64), Tensor>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let key = (device, dtype, value.to_bits());
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(t) = cache.get(&key) {
        return Ok(t.clone());
    }
    if cache.len() >= 1024 {
        cache.clear(); // a loop over ever-new numbers: keep the cache small
    }
    let t = Tensor::for_overwrite(&[], dtype, device)?;
    t.fill_raw(value);
    cache.insert(key, t.clone());
    Ok(t)
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

/// A copy of `x` on `device` (the tensor itself when it is there already), recorded so the
/// gradient flows back to the source device.
pub fn to_device(x: &Tensor, device: Device) -> Result<Tensor> {
    if x.device() == device {
        return Ok(x.clone());
    }
    let out = crate::gpu::host::transfer(x, device)?;
    if !x.dtype().is_float() {
        return Ok(out);
    }
    Ok(record(
        Op::ToDevice { from: x.device() },
        &[x],
        &[],
        false,
        out,
    ))
}

/// Floats compute in float32 when stored as half (no f16 arithmetic on the CPU).
pub(crate) fn compute_dtype(d: DType) -> DType {
    match d {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let dtype = if op == UnaryOp::LogicalNot {
        DType::Bool
    } else if op.needs_float() && !x.dtype().is_float() {
        crate::dtype::default_float()
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
    // Piecewise-constant ops are recorded too (zero gradient), as PyTorch does.
    let saved: &[&Tensor] = if op.grad_needs_input() { &[x] } else { &[] };
    Ok(record(Op::Unary(op), &[x], saved, true, out))
}

/// A cast that does not record (for compute-dtype changes the op itself accounts for).
fn backend_cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype {
        Ok(x.clone())
    } else {
        backend::cast(x, dtype)
    }
}

/// The dtype two operands promote to: a 0-d tensor takes a dimensioned operand's dtype unless
/// its category is higher (PyTorch's rule; Python numbers arrive here as 0-d tensors).
pub fn promote_operands(a: &Tensor, b: &Tensor) -> DType {
    let (da, db) = (a.dtype(), b.dtype());
    match (a.ndim() == 0, b.ndim() == 0) {
        (true, false) if da.category() <= db.category() => db,
        (false, true) if db.category() <= da.category() => da,
        _ => DType::promote(da, db),
    }
}

/// The dtype a binary op produces from operands that promote to `promoted`.
pub fn result_dtype(op: BinaryOp, promoted: DType) -> DType {
    if op.is_comparison() || op.is_logical() {
        return DType::Bool;
    }
    if matches!(op, BinaryOp::Div | BinaryOp::Atan2) && !promoted.is_float() {
        crate::dtype::default_float()
    } else {
        promoted
    }
}

/// Integer pow with a negative exponent and integer division by zero raise, as in PyTorch. On
/// a GPU the test runs there and raises at the next read (as CUDA's device-side asserts),
/// so `//` and `%` do not wait for the device.
fn check_integer_domain(op: BinaryOp, b: &Tensor) -> Result<()> {
    if b.device() != crate::storage::Device::Cpu {
        let (bad, message) = match op {
            BinaryOp::Pow => (
                binary_scalar(BinaryOp::Lt, b, Scalar::Int(0))?,
                "Integers to negative integer powers are not allowed.".to_string(),
            ),
            BinaryOp::FloorDivide | BinaryOp::Remainder => (
                binary_scalar(BinaryOp::Eq, b, Scalar::Int(0))?,
                format!("ZeroDivisionError: integer {} by zero", op.name()),
            ),
            _ => return Ok(()),
        };
        return assert_none(&bad, move || crate::error::Error::Runtime(message));
    }
    match op {
        BinaryOp::Pow if b.to_vec::<i64>().iter().any(|&v| v < 0) => {
            bail!(
                Runtime,
                "Integers to negative integer powers are not allowed."
            )
        }
        BinaryOp::FloorDivide | BinaryOp::Remainder if b.to_vec::<i64>().contains(&0) => {
            bail!(Runtime, "ZeroDivisionError: integer {} by zero", op.name())
        }
        _ => Ok(()),
    }
}

/// The error `describe` makes if any element of the bool tensor `bad` is true. On the CPU it
/// raises now; on a GPU the test stays on the device and raises at the next read (as CUDA's
/// device-side asserts), so an input check costs no wait. `describe` may read tensors.
pub fn assert_none(
    bad: &Tensor,
    describe: impl FnOnce() -> crate::error::Error + Send + 'static,
) -> Result<()> {
    let any = super::reduce::reduce(crate::op::ReduceOp::Any, bad, &[], false)?;
    match any.device() {
        crate::storage::Device::Cpu => match any.to_vec::<i64>()[0] {
            0 => Ok(()),
            _ => Err(describe()),
        },
        crate::storage::Device::Gpu(index) => {
            crate::gpu::context(index)?.defer_check(any, 0, describe)
        }
    }
}

pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary_known(op, a, b, None)
}

/// `binary`, where `b` may be a Python scalar's tensor whose value `known` the integer domain
/// check reads directly (so `x // 0` raises at once on every device).
fn binary_known(op: BinaryOp, a: &Tensor, b: &Tensor, known: Option<Scalar>) -> Result<Tensor> {
    let (a, b) = if a.device() != b.device() {
        let moved = super::with_cpu_scalars_moved(&[a, b])?;
        same_device(op.name(), &[&moved[0], &moved[1]])?;
        (moved[0].clone(), moved[1].clone())
    } else {
        (a.clone(), b.clone())
    };
    let (a, b) = (&a, &b);
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let promoted = promote_operands(a, b);
    let dtype = result_dtype(op, promoted);
    let compute = if op.is_logical() {
        DType::Bool
    } else if op.is_comparison() {
        compute_dtype(promoted)
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
            Runtime,
            "\"{}\" is not supported for two bool tensors; use logical ops or convert with .int()",
            op.name()
        );
    }
    if matches!(compute, DType::I64 | DType::I32) {
        match known {
            Some(s) => check_integer_domain(op, &Tensor::scalar(s.value(), DType::I64))?,
            None => check_integer_domain(op, b)?,
        }
    }
    let out = backend::binary(
        op,
        &backend_cast(a, compute)?,
        &backend_cast(b, compute)?,
        &shape,
    )?;
    let out = backend_cast(&out, dtype)?;
    let differentiable = dtype.is_float()
        && !op.is_comparison()
        && !op.is_logical()
        && !op.is_bitwise()
        && op != BinaryOp::FloorDivide;
    if !differentiable {
        return Ok(out);
    }
    let saved: &[&Tensor] = if matches!(op, BinaryOp::Add | BinaryOp::Sub) {
        &[]
    } else {
        &[a, b]
    };
    let save_out = matches!(op, BinaryOp::Pow | BinaryOp::Div);
    Ok(record(Op::Binary(op), &[a, b], saved, save_out, out))
}

pub fn binary_scalar(op: BinaryOp, a: &Tensor, s: Scalar) -> Result<Tensor> {
    binary_known(op, a, &s.tensor_next_to(a)?, Some(s))
}

/// `s op a` for reflected operators (`2 - x`).
pub fn scalar_binary(op: BinaryOp, s: Scalar, a: &Tensor) -> Result<Tensor> {
    binary(op, &s.tensor_next_to(a)?, a)
}

pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let moved = super::with_cpu_scalars_moved(&[cond, a, b])?;
    let (cond, a, b) = (&moved[0], &moved[1], &moved[2]);
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
            Runtime,
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

/// Copies `value` (broadcast; cast when `cast`, else only to a dtype of the same or a higher
/// category, as in-place arithmetic allows) into the view `dst` and bumps its version. Data only:
/// `in_place` and the setitem binding own the autograd side.
pub fn write(dst: &Tensor, value: &Tensor, cast: bool) -> Result<()> {
    // copy_ crosses devices, as PyTorch's does.
    let value = &to_device(value, dst.device())?;
    let (from, to) = (value.dtype(), dst.dtype());
    if !cast && from.category() > to.category() {
        bail!(
            Runtime,
            "result type {} can't be cast to the desired output type {}",
            from.name(),
            to.name()
        );
    }
    // Extra leading size-1 dims of the value are dropped, as PyTorch does for assignment.
    let mut value = value.clone();
    while value.ndim() > dst.ndim() && value.shape()[0] == 1 {
        value = value.with_layout(value.layout().select(0, 0));
    }
    let s = crate::shape::broadcast_shapes(value.shape(), dst.shape())?;
    if s != dst.shape() {
        bail!(
            Shape,
            "output with shape {:?} doesn't match the broadcast shape {s:?}",
            dst.shape()
        );
    }
    let v = backend_cast(&value, dst.dtype())?;
    backend::copy_into(dst, &v)?;
    dst.storage().bump_version();
    Ok(())
}

fn is_view_op(op: &Op) -> bool {
    matches!(
        op,
        Op::Slice { .. }
            | Op::Reshape { .. }
            | Op::Permute { .. }
            | Op::Expand { .. }
            | Op::AsStrided { .. }
    )
}

/// How autograd must record an in-place write.
pub enum Tracking {
    /// Not at all (grad mode off, or nothing requires grad).
    Untracked,
    /// The written tensor owns its memory: it is re-linked to the op's node.
    Whole,
    /// The written tensor is a view: its base gets a node for the write into `region`.
    View {
        base: Tensor,
        region: crate::layout::Layout,
    },
}

pub fn check_in_place(dst: &Tensor) -> Result<Tracking> {
    if !is_grad_enabled() || !dst.requires_grad() {
        return Ok(Tracking::Untracked);
    }
    let (node, base) = {
        let m = dst.meta();
        (m.node.clone(), m.view_base.clone())
    };
    let Some(node) = node else {
        bail!(
            Autograd,
            "a leaf Variable that requires grad is being used in an in-place operation."
        );
    };
    if !is_view_op(&node.op) {
        return Ok(Tracking::Whole);
    }
    let Some(base) = base else {
        bail!(Autograd, "in-place operation on a view (shape {:?}) whose base is unknown to autograd; compute the result out of place instead", dst.shape());
    };
    if base.is_leaf() {
        bail!(
            Autograd,
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        );
    }
    let l = dst.layout();
    if !base.is_contiguous() || l.offset < base.layout().offset {
        bail!(Autograd, "in-place operation on a view of a non-contiguous tensor that requires grad is not supported by ember's autograd yet (base strides {:?}); compute the result out of place instead", base.layout().strides);
    }
    if l.shape
        .iter()
        .zip(&l.strides)
        .any(|(&d, &s)| s == 0 && d > 1)
    {
        bail!(Runtime, "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.");
    }
    let region = crate::layout::Layout {
        shape: l.shape.clone(),
        strides: l.strides.clone(),
        offset: l.offset - base.layout().offset,
    };
    Ok(Tracking::View { base, region })
}

/// Makes `dst` the output of `value`'s node (after its data was written into `dst`). A value
/// outside the graph still links `dst` to its old history, with zero gradient, through a where.
pub fn rebase(dst: &Tensor, old: &Tensor, value: &Tensor) -> Result<()> {
    let value = if value.requires_grad() {
        value.clone()
    } else {
        let never = Tensor::zeros(dst.shape(), DType::Bool, dst.device())?;
        where_(&never, old, &value.detach())?
    };
    let node = value.node();
    let mut m = dst.meta();
    m.requires_grad = true;
    m.node = node;
    Ok(())
}

pub fn in_place(dst: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>, cast: bool) -> Result<()> {
    let tracking = check_in_place(dst)?;
    let tracked = !matches!(tracking, Tracking::Untracked);
    let src = if tracked { copy(dst)? } else { dst.clone() };
    let value = f(&src)?;
    write(dst, &value, cast)?;
    match tracking {
        Tracking::Untracked => Ok(()),
        Tracking::Whole => rebase(dst, &src, &value),
        Tracking::View { base, region } => rebase_view(dst, &base, region, &value),
    }
}

/// After a write through the view `dst` into `region` of `base`: `base` becomes the output of a
/// ViewAssign node (its old history outside the region, `value` inside), and `dst` a view of it.
fn rebase_view(
    dst: &Tensor,
    base: &Tensor,
    region: crate::layout::Layout,
    value: &Tensor,
) -> Result<()> {
    let value = if value.requires_grad() {
        value.clone()
    } else {
        value.detach()
    };
    let new_base = record(
        Op::ViewAssign {
            view: region.clone(),
        },
        &[base, &value],
        &[],
        false,
        base.detach(),
    );
    {
        let mut m = base.meta();
        m.node = new_base.node();
        m.requires_grad = true;
    }
    let new_view = record(
        Op::AsStrided { view: region },
        &[base],
        &[],
        false,
        dst.detach(),
    );
    let mut m = dst.meta();
    m.node = new_view.node();
    m.requires_grad = true;
    Ok(())
}

/// `op(a, b)` written into `out` (PyTorch's `out=`): no graph, shape and dtype must match.
/// Contiguous outputs of the result dtype are filled directly, with no temporary.
pub fn binary_out(op: BinaryOp, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    if super::super::autograd::tape::needs_grad(&[a, b])
        || (is_grad_enabled() && out.requires_grad())
    {
        bail!(Runtime, "{}(): functions with out=... arguments don't support automatic differentiation, but one of the arguments requires grad.", op.name());
    }
    same_device(op.name(), &[a, b, out])?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    if out.shape() != shape.as_slice() {
        bail!(
            Runtime,
            "{}(): out has shape {:?} but the result has shape {shape:?}",
            op.name(),
            out.shape()
        );
    }
    let dtype = result_dtype(op, promote_operands(a, b));
    let compute = compute_dtype(DType::promote(a.dtype(), b.dtype()));
    let aliased = out.storage().same(a.storage()) || out.storage().same(b.storage());
    let direct = out.is_contiguous()
        && out.dtype() == dtype
        && dtype == compute
        && !aliased
        && !op.is_logical();
    if direct && !matches!(compute, DType::I64 | DType::I32) {
        let (ca, cb) = (backend_cast(a, compute)?, backend_cast(b, compute)?);
        backend::binary_into(op, &ca, &cb, out)?;
        out.storage().bump_version();
        return Ok(());
    }
    let r = binary(op, a, b)?;
    write(out, &r, dtype.category() <= out.dtype().category())
}
