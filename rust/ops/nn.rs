//! Neural-network ops that are one native kernel each: conv2d and max_pool2d (forward and
//! backward in `cpu/conv.rs`), recorded as single tape nodes. Half-precision inputs compute in
//! float32 and are rounded back, as PyTorch's kernels do.

use super::elementwise::{compute_dtype, to_dtype};
use super::same_device;
use super::view::contiguous;
use crate::autograd::tape::{is_grad_enabled, record};
use crate::backend;
use crate::bail;
use crate::cpu::conv::Conv2dGeom;
use crate::dtype::DType;
use crate::error::Result;
use crate::op::Op;
use crate::tensor::Tensor;

pub use crate::cpu::conv::Conv2dGeom as Geom;

fn geometry(
    x: &Tensor,
    kh: usize,
    kw: usize,
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
    what: &str,
) -> Result<Conv2dGeom> {
    if x.ndim() != 4 {
        bail!(
            Shape,
            "{what}: expected a 4-D input [N, C, H, W], got shape {:?}",
            x.shape()
        );
    }
    if stride.0 == 0 || stride.1 == 0 || dilation.0 == 0 || dilation.1 == 0 || kh == 0 || kw == 0 {
        bail!(Runtime, "{what}: kernel size, stride and dilation must be positive (kernel {kh}x{kw}, stride {stride:?}, dilation {dilation:?})");
    }
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let Some((oh, ow)) = Conv2dGeom::out_size(h, w, kh, kw, stride, padding, dilation) else {
        bail!(Shape, "{what}: calculated output size is too small (or overflows): input {:?}, kernel {kh}x{kw}, stride {stride:?}, padding {padding:?}, dilation {dilation:?}", x.shape());
    };
    Ok(Conv2dGeom {
        n,
        c,
        h,
        w,
        kh,
        kw,
        stride,
        padding,
        dilation,
        groups,
        oh,
        ow,
    })
}

/// `conv2d(x [N,C,H,W], w [O, C/groups, kh, kw])` without bias (the Python layer adds it).
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
) -> Result<Tensor> {
    same_device("conv2d", &[x, w])?;
    let compute = float_compute_dtype(x, "conv2d")?;
    if w.ndim() != 4 {
        bail!(
            Shape,
            "conv2d: expected a 4-D weight [O, C/groups, kh, kw], got shape {:?}",
            w.shape()
        );
    }
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    if groups == 0 || o % groups != 0 || x.ndim() == 4 && x.shape()[1] != cg * groups {
        bail!(
            Shape,
            "Given groups={groups}, weight of size {:?}, expected input{:?} to have {} channels, but got {} channels instead",
            w.shape(), x.shape(), cg * groups, x.shape().get(1).copied().unwrap_or(0)
        );
    }
    let g = geometry(x, kh, kw, stride, padding, dilation, groups, "conv2d")?;
    let (xc, wc) = (
        contiguous(&to_dtype(&x.detach(), compute)?)?,
        contiguous(&to_dtype(&w.detach(), compute)?)?,
    );
    let out = Tensor::for_overwrite(&[g.n, o, g.oh, g.ow], compute, x.device())?;
    backend::conv2d(&g, &xc, &wc, &out)?;
    let out = to_dtype(&out, x.dtype())?;
    Ok(record(Op::Conv2d { geom: g }, &[x, w], &[x, w], false, out))
}

/// The input and weight gradients of a conv2d node (native; no double backward).
pub fn conv2d_backward(
    g: &Conv2dGeom,
    x: &Tensor,
    w: &Tensor,
    gy: &Tensor,
    want_x: bool,
    want_w: bool,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    if is_grad_enabled() {
        bail!(
            Autograd,
            "double backward (create_graph=True) through conv2d is not supported yet"
        );
    }
    let dtype = float_compute_dtype(x, "conv2d")?;
    let (xc, wc, gc) = (
        contiguous(&to_dtype(x, dtype)?)?,
        contiguous(&to_dtype(w, dtype)?)?,
        contiguous(&to_dtype(gy, dtype)?)?,
    );
    let gx = if want_x {
        Some(Tensor::zeros(x.shape(), dtype, x.device())?)
    } else {
        None
    };
    let gw = if want_w {
        Some(Tensor::zeros(w.shape(), dtype, x.device())?)
    } else {
        None
    };
    backend::conv2d_backward(g, &xc, &wc, &gc, gx.as_ref(), gw.as_ref())?;
    let back = |t: Option<Tensor>, like: &Tensor| t.map(|t| to_dtype(&t, like.dtype())).transpose();
    Ok((back(gx, x)?, back(gw, w)?))
}

/// Max pooling over NCHW input with -inf padding: (values, flat h*W+w indices of the maxima).
pub fn max_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
) -> Result<(Tensor, Tensor)> {
    let compute = float_compute_dtype(x, "max_pool2d")?;
    if padding.0 * 2 > kernel.0 || padding.1 * 2 > kernel.1 {
        bail!(Runtime, "max_pool2d: pad should be at most half of effective kernel size, but got pad={padding:?}, kernel_size={kernel:?}");
    }
    let g = geometry(
        x,
        kernel.0,
        kernel.1,
        stride,
        padding,
        dilation,
        1,
        "max_pool2d",
    )?;
    let xc = contiguous(&to_dtype(&x.detach(), compute)?)?;
    let out = Tensor::for_overwrite(&[g.n, g.c, g.oh, g.ow], compute, x.device())?;
    let idx = Tensor::for_overwrite(&[g.n, g.c, g.oh, g.ow], DType::I64, x.device())?;
    backend::max_pool2d(&g, &xc, &out, &idx)?;
    // The maxima are input values, so rounding back to a half type is exact.
    let out = to_dtype(&out, x.dtype())?;
    // The values are a gather of the input at the indices: record it as one, so the gradient
    // is a scatter-add (differentiable, and shared with gather).
    let flat_idx = idx.with_layout(crate::layout::Layout::contiguous(&[g.n, g.c, g.oh * g.ow]));
    let out = record(
        Op::Gather { dim: 2 },
        &[&super::view::reshape(
            x,
            &[g.n as isize, g.c as isize, (g.h * g.w) as isize],
        )?],
        &[&flat_idx],
        false,
        out.with_layout(crate::layout::Layout::contiguous(&[g.n, g.c, g.oh * g.ow])),
    );
    Ok((
        super::view::reshape(
            &out,
            &[g.n as isize, g.c as isize, g.oh as isize, g.ow as isize],
        )?,
        idx,
    ))
}

pub use crate::op::Reduction;

/// The dtype a float op computes `x` in (float32 for halves); an error for other dtypes.
fn float_compute_dtype(x: &Tensor, what: &str) -> Result<DType> {
    if !x.dtype().is_float() {
        bail!(
            DType,
            "{what} expects a floating point input, got {}",
            x.dtype().name()
        );
    }
    Ok(compute_dtype(x.dtype()))
}

fn float_compute(x: &Tensor, what: &str) -> Result<Tensor> {
    to_dtype(x, float_compute_dtype(x, what)?)
}

/// Softmax cross entropy of `logits [n, c]` against class indices `target [n]` in one pass
/// (log-softmax, weights, ignore_index and label smoothing fused).
/// Class-index targets of an NLL loss within `0..classes` (or `ignore_index`): PyTorch's
/// IndexError naming the first bad target, at once on the CPU and at the next read on a GPU.
pub fn check_class_targets(target: &Tensor, classes: usize, ignore_index: i64) -> Result<()> {
    use super::elementwise::{binary, binary_scalar, Scalar};
    use crate::op::BinaryOp;
    let t = to_dtype(target, DType::I64)?;
    let kept = binary_scalar(BinaryOp::Ne, &t, Scalar::Int(ignore_index))?;
    let below = binary_scalar(BinaryOp::Lt, &t, Scalar::Int(0))?;
    let above = binary_scalar(BinaryOp::Ge, &t, Scalar::Int(classes as i64))?;
    let outside = binary(BinaryOp::LogicalOr, &below, &above)?;
    let bad = binary(BinaryOp::LogicalAnd, &kept, &outside)?;
    super::elementwise::assert_none(&bad, move || {
        let values = match t.device() {
            crate::Device::Cpu => Ok(t.to_vec::<i64>()),
            _ => crate::gpu::host::to_host(&t).map(|h| h.to_vec::<i64>()),
        };
        let first = values.ok().and_then(|v| {
            v.into_iter()
                .find(|&v| v != ignore_index && (v < 0 || v >= classes as i64))
        });
        match first {
            Some(v) => crate::error::Error::Index(format!(
                "Target {v} is out of bounds for {classes} classes."
            )),
            None => crate::error::Error::Index(format!(
                "a target is out of bounds for {classes} classes"
            )),
        }
    })
}

pub fn cross_entropy(
    logits: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    same_device("cross_entropy", &[logits, target])?;
    if logits.ndim() != 2 || target.ndim() != 1 || target.shape()[0] != logits.shape()[0] {
        bail!(Value, "Expected input batch_size ({}) to match target batch_size ({}): logits {:?}, target {:?}", logits.shape().first().copied().unwrap_or(0), target.shape().first().copied().unwrap_or(0), logits.shape(), target.shape());
    }
    if !matches!(target.dtype(), DType::I64 | DType::I32) {
        bail!(
            Runtime,
            "expected scalar type Long but found {} for the target",
            target.dtype().name()
        );
    }
    if !(0.0..=1.0).contains(&smoothing) {
        bail!(
            Runtime,
            "label_smoothing must be between 0.0 and 1.0. Got: {smoothing}"
        );
    }
    let (n, c) = (logits.shape()[0], logits.shape()[1]);
    if let Some(w) = weight {
        if w.shape() != [c] {
            bail!(Runtime, "weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {:?}", w.shape());
        }
    }
    let x = contiguous(&float_compute(&logits.detach(), "cross_entropy")?)?;
    let dtype = x.dtype();
    let t = contiguous(&to_dtype(target, DType::I64)?)?;
    let w = weight
        .map(|w| contiguous(&to_dtype(&w.detach(), dtype)?))
        .transpose()?;
    let loss = Tensor::for_overwrite(&[n], dtype, x.device())?;
    let denom = Tensor::for_overwrite(&[n], dtype, x.device())?;
    backend::cross_entropy(&x, &t, w.as_ref(), ignore_index, smoothing, &loss, &denom)?;
    // The mean's divisor stays on the device: no read back per step.
    let total = super::reduce::sum(&denom, &[], false)?;
    let out = match reduction {
        Reduction::None => loss,
        Reduction::Sum => super::reduce::sum(&loss, &[], false)?,
        Reduction::Mean => super::elementwise::binary(
            crate::op::BinaryOp::Div,
            &super::reduce::sum(&loss, &[], false)?,
            &total,
        )?,
    };
    let out = to_dtype(&out, logits.dtype())?;
    let op = Op::CrossEntropy {
        ignore_index,
        smoothing,
        reduction,
    };
    let mut saved: Vec<&Tensor> = vec![logits, &t, &total];
    if let Some(w) = &w {
        saved.push(w);
    }
    Ok(record(op, &[logits], &saved, false, out))
}

/// Gradient of a cross-entropy node with respect to its logits; `total` is the 0-d divisor of
/// the mean reduction.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_backward(
    logits: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    g: &Tensor,
    ignore_index: i64,
    smoothing: f64,
    reduction: Reduction,
    total: &Tensor,
) -> Result<Tensor> {
    if is_grad_enabled() {
        bail!(
            Autograd,
            "double backward (create_graph=True) through cross_entropy is not supported yet"
        );
    }
    let x = contiguous(&float_compute(logits, "cross_entropy")?)?;
    let dtype = x.dtype();
    let (n, c) = (x.shape()[0], x.shape()[1]);
    // Each row's factor, computed where the tensors live.
    let g = to_dtype(&g.detach(), dtype)?;
    let per_row = match reduction {
        Reduction::None => g,
        Reduction::Sum => super::view::expand(&g, &[n as isize])?,
        Reduction::Mean => super::view::expand(
            &super::elementwise::binary(crate::op::BinaryOp::Div, &g, &total.detach())?,
            &[n as isize],
        )?,
    };
    let scale = backend::cast(&per_row, dtype)?;
    let dx = Tensor::for_overwrite(&[n, c], dtype, x.device())?;
    backend::cross_entropy_backward(&x, target, weight, ignore_index, smoothing, &scale, &dx)?;
    to_dtype(&dx, logits.dtype())
}

/// Normalises over the last dim: `(x - mean) / sqrt(var + eps)` (or RMS-normalises when not
/// `center`). Returns the output with the per-row mean and 1/std (plain tensors, no graph).
pub fn norm_rows(x: &Tensor, eps: f64, center: bool) -> Result<(Tensor, Tensor, Tensor)> {
    if x.ndim() == 0 || x.shape()[x.ndim() - 1] == 0 {
        bail!(
            Shape,
            "normalisation needs at least one element per row, got shape {:?}",
            x.shape()
        );
    }
    let xc = contiguous(&float_compute(&x.detach(), "normalisation")?)?;
    let dtype = xc.dtype();
    let row_shape = &x.shape()[..x.ndim() - 1];
    let y = Tensor::for_overwrite(x.shape(), dtype, x.device())?;
    let mean = Tensor::for_overwrite(row_shape, dtype, x.device())?;
    let rstd = Tensor::for_overwrite(row_shape, dtype, x.device())?;
    backend::norm_rows(&xc, eps, center, &y, &mean, &rstd)?;
    let y = to_dtype(&y, x.dtype())?;
    let y = record(Op::NormRows { center }, &[x], &[x, &mean, &rstd], false, y);
    Ok((y, mean, rstd))
}

pub fn norm_rows_backward(
    x: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
    g: &Tensor,
    center: bool,
) -> Result<Tensor> {
    if is_grad_enabled() {
        bail!(Autograd, "double backward (create_graph=True) through layer/group/batch/RMS norm is not supported yet");
    }
    let xc = contiguous(&float_compute(x, "normalisation")?)?;
    let dtype = xc.dtype();
    let gc = contiguous(&to_dtype(g, dtype)?)?;
    let dx = Tensor::for_overwrite(x.shape(), dtype, x.device())?;
    backend::norm_rows_backward(&xc, &gc, center, mean, rstd, &dx)?;
    to_dtype(&dx, x.dtype())
}

/// Average pooling over NCHW input (zero padding, counted in the divisor when `include_pad`).
pub fn avg_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    include_pad: bool,
) -> Result<Tensor> {
    let compute = float_compute_dtype(x, "avg_pool2d")?;
    if padding.0 * 2 > kernel.0 || padding.1 * 2 > kernel.1 {
        bail!(Runtime, "avg_pool2d: pad should be at most half of kernel size, but got pad={padding:?}, kernel_size={kernel:?}");
    }
    let g = geometry(
        x,
        kernel.0,
        kernel.1,
        stride,
        padding,
        (1, 1),
        1,
        "avg_pool2d",
    )?;
    let xc = contiguous(&to_dtype(&x.detach(), compute)?)?;
    let out = Tensor::for_overwrite(&[g.n, g.c, g.oh, g.ow], compute, x.device())?;
    backend::avg_pool2d(&g, &xc, &out, include_pad)?;
    let out = to_dtype(&out, x.dtype())?;
    Ok(record(
        Op::AvgPool2d {
            geom: g,
            include_pad,
        },
        &[x],
        &[],
        false,
        out,
    ))
}

pub fn avg_pool2d_backward(
    g: &Conv2dGeom,
    include_pad: bool,
    gy: &Tensor,
    dtype: DType,
) -> Result<Tensor> {
    if is_grad_enabled() {
        bail!(
            Autograd,
            "double backward (create_graph=True) through avg_pool2d is not supported yet"
        );
    }
    let compute = compute_dtype(dtype);
    let gc = contiguous(&to_dtype(gy, compute)?)?;
    let dx = Tensor::for_overwrite(&[g.n, g.c, g.h, g.w], compute, gy.device())?;
    backend::avg_pool2d_backward(g, &gc, &dx, include_pad)?;
    to_dtype(&dx, dtype)
}

/// `softmax(q k^T * scale + mask) v` over the last two dims, batch dims shared by q, k, v.
/// `mask` is additive (broadcast to `[..., l, s]`); `causal` hides keys after each query.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f64,
    causal: bool,
) -> Result<Tensor> {
    same_device("scaled_dot_product_attention", &[q, k, v])?;
    let n = q.ndim();
    if n < 2
        || k.ndim() != n
        || v.ndim() != n
        || q.shape()[..n - 2] != k.shape()[..n - 2]
        || k.shape()[..n - 1] != v.shape()[..n - 1]
        || q.shape()[n - 1] != k.shape()[n - 1]
    {
        bail!(Shape, "scaled_dot_product_attention: expected query [..., L, E], key [..., S, E], value [..., S, Ev] with equal batch dims, got {:?}, {:?}, {:?}", q.shape(), k.shape(), v.shape());
    }
    let batch = &q.shape()[..n - 2];
    let b: usize = batch.iter().product();
    let (l, s, e, ev) = (
        q.shape()[n - 2],
        k.shape()[n - 2],
        q.shape()[n - 1],
        v.shape()[n - 1],
    );
    let dtype = DType::promote(DType::promote(q.dtype(), k.dtype()), v.dtype());
    let prep = |t: &Tensor| -> Result<Tensor> {
        let t = float_compute(
            &to_dtype(&t.detach(), dtype)?,
            "scaled_dot_product_attention",
        )?;
        // The GPU's float32 kernels read any strides (heads split out of a packed projection
        // are views); the CPU kernels want contiguous rows.
        if strided_ok(&t) {
            Ok(t)
        } else {
            contiguous(&t)
        }
    };
    let (qc, kc, vc) = (prep(q)?, prep(k)?, prep(v)?);
    let cdt = qc.dtype();
    let m = match mask {
        Some(m) => {
            let full: Vec<isize> = batch.iter().chain(&[l, s]).map(|&d| d as isize).collect();
            Some(contiguous(&super::elementwise::copy(
                &super::view::expand(&to_dtype(&m.detach(), cdt)?, &full)?,
            )?)?)
        }
        None => None,
    };
    if s == 0 && l > 0 {
        bail!(Shape, "scaled_dot_product_attention: key and value need at least one position (got key shape {:?})", k.shape());
    }
    let a = crate::cpu::attention::Attn {
        b,
        l,
        s,
        e,
        ev,
        scale,
        causal,
    };
    if b * l == 0 {
        // Nothing to attend from: an empty output (still in the graph, with empty gradients).
        let p = Tensor::zeros(&[b, l, s], cdt, q.device())?;
        let mut shape = batch.to_vec();
        shape.extend([l, ev]);
        let o = Tensor::zeros(&shape, dtype, q.device())?;
        return Ok(record(
            Op::Attention { attn: a },
            &[q, k, v],
            &[&qc, &kc, &vc, &p],
            false,
            o,
        ));
    }
    let p = Tensor::for_overwrite(&[b, l, s], cdt, q.device())?;
    let mut out_shape = batch.to_vec();
    out_shape.extend([l, ev]);
    let o = Tensor::for_overwrite(&out_shape, cdt, q.device())?;
    backend::attention(&a, &qc, &kc, &vc, m.as_ref(), &p, &o)?;
    let o = to_dtype(&o, dtype)?;
    Ok(record(
        Op::Attention { attn: a },
        &[q, k, v],
        &[&qc, &kc, &vc, &p],
        false,
        o,
    ))
}

/// Whether attention can take `t` with its strides as they are: float32 on a GPU.
fn strided_ok(t: &Tensor) -> bool {
    t.device() != crate::storage::Device::Cpu && t.dtype() == DType::F32
}

/// Gradients of an attention node for query, key and value.
pub fn attention_backward(
    a: &crate::cpu::attention::Attn,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    p: &Tensor,
    g: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    if is_grad_enabled() {
        bail!(Autograd, "double backward (create_graph=True) through scaled_dot_product_attention is not supported yet");
    }
    let dtype = q.dtype();
    let gc = to_dtype(g, dtype)?;
    let gc = if strided_ok(&gc) {
        gc
    } else {
        contiguous(&gc)?
    };
    let (dq, dk, dv) = (
        Tensor::for_overwrite(q.shape(), dtype, q.device())?,
        Tensor::for_overwrite(k.shape(), dtype, q.device())?,
        Tensor::for_overwrite(v.shape(), dtype, q.device())?,
    );
    backend::attention_backward(a, q, k, v, p, &gc, &dq, &dk, &dv)?;
    Ok((dq, dk, dv))
}
