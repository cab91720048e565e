//! Device dispatch: every kernel family once, routed to the backend that holds the tensors.
//! The tensor layer (ops/) has already checked devices and dtypes and promoted the inputs.
//!
//! GPU tensors go to a WGSL kernel where one exists for their dtypes; otherwise the CPU kernel
//! runs on host copies (`gpu/host.rs`) and the result goes back to the device.

use crate::cpu;
use crate::dtype::DType;
use crate::error::Result;
use crate::gpu::{conv as gc, half, host, index as gi, kernels as gk};
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use crate::storage::Device;
use crate::tensor::Tensor;

/// A kernel producing a fresh tensor: on the CPU directly, on a GPU through `gpu` when it
/// handles the dtypes (on float32 stand-ins for packed 16-bit inputs, `gpu/half.rs`), else
/// through `cpu` on host copies. Both take the inputs in the order given.
fn routed<C: FnOnce(&[&Tensor]) -> Result<Tensor>>(
    inputs: &[&Tensor],
    gpu: impl Fn(&[&Tensor]) -> Result<Option<Tensor>>,
    cpu: C,
) -> Result<Tensor> {
    let device = inputs[0].device();
    if device == Device::Cpu {
        return cpu(inputs);
    }
    // In a forked child the parent's device is gone: refuse before recording (an in-place op
    // would otherwise only fail at the next read).
    crate::gpu::check_not_forked()?;
    if let Some(t) = gpu(inputs)? {
        return Ok(t);
    }
    if let Some(t) = half::compute(inputs, gpu)? {
        return Ok(t);
    }
    host::compute(caller::<C>(), device, inputs, |h| {
        cpu(&h.iter().collect::<Vec<_>>())
    })
}

/// A kernel writing into caller-allocated `outputs`; `gpu` answers false where it has no
/// variant for the dtypes.
fn routed_into<R, C: FnOnce(&[&Tensor], &[&Tensor]) -> R>(
    inputs: &[&Tensor],
    outputs: &[&Tensor],
    gpu: impl FnOnce() -> Result<Option<R>>,
    cpu: C,
) -> Result<R> {
    if outputs
        .iter()
        .chain(inputs)
        .all(|t| t.device() == Device::Cpu)
    {
        return Ok(cpu(inputs, outputs));
    }
    crate::gpu::check_not_forked()?;
    if let Some(r) = gpu()? {
        return Ok(r);
    }
    host::compute_into(caller::<C>(), inputs, outputs, |i, o| {
        cpu(&i.iter().collect::<Vec<_>>(), &o.iter().collect::<Vec<_>>())
    })
}

/// The backend function a routing closure was written in (`ember::backend::unary`), for the
/// host-path trace.
fn caller<C>() -> &'static str {
    let name = std::any::type_name::<C>();
    name.split("::{{closure}}").next().unwrap_or(name)
}

fn done(ran: bool) -> Option<Result<()>> {
    ran.then_some(Ok(()))
}

pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    routed(
        &[x],
        |t| gk::unary(op, t[0]),
        |t| cpu::elementwise::unary(op, t[0]),
    )
}
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if a.device() == Device::Cpu {
        return cpu::elementwise::binary(op, a, b, shape);
    }
    let dtype = if op.is_comparison() || op.is_logical() {
        DType::Bool
    } else {
        a.dtype()
    };
    let out = Tensor::for_overwrite(shape, dtype, a.device())?;
    binary_into(op, a, b, &out)?;
    Ok(out)
}
pub fn binary_into(op: BinaryOp, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    routed_into(
        &[a, b],
        &[out],
        || Ok(done(gk::binary_into(op, a, b, out)?)),
        |i, o| cpu::elementwise::binary_into(op, i[0], i[1], o[0]),
    )?
}
pub fn where_(c: &Tensor, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    routed(
        &[a, c, b],
        |t| gk::where_(t[1], t[0], t[2], shape),
        |t| cpu::elementwise::where_(t[1], t[0], t[2], shape),
    )
}
pub fn clamp(x: &Tensor, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
    routed(
        &[x],
        |t| gk::clamp(t[0], min, max),
        |t| cpu::elementwise::clamp(t[0], min, max),
    )
}
/// A contiguous copy in `dtype` (also how views are made contiguous).
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    routed(
        &[x],
        |t| gk::cast(t[0], dtype),
        |t| cpu::elementwise::cast(t[0], dtype),
    )
}
pub fn copy_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    routed_into(
        &[src],
        &[dst],
        || Ok(done(gk::copy_into(dst, src)?)),
        |i, o| cpu::elementwise::copy_into(o[0], i[0]),
    )?
}
pub fn reduce(op: ReduceOp, x: &Tensor, dims: &[usize], out_shape: &[usize]) -> Result<Tensor> {
    routed(
        &[x],
        |t| gk::reduce(op, t[0], dims, out_shape),
        |t| cpu::reduce::reduce(op, t[0], dims, out_shape),
    )
}
pub fn softmax(x: &Tensor, dim: usize, log: bool) -> Result<Tensor> {
    routed(
        &[x],
        |t| gk::softmax(t[0], dim, log),
        |t| cpu::reduce::softmax(t[0], dim, log),
    )
}
pub fn cumsum(x: &Tensor, dim: usize) -> Result<Tensor> {
    routed(
        &[x],
        |t| gi::cumsum(t[0], dim),
        |t| cpu::reduce::cumsum(t[0], dim),
    )
}
pub fn matmul(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    routed(
        &[a, b],
        |t| gk::matmul(t[0], t[1], batch),
        |t| cpu::matmul::matmul(t[0], t[1], batch),
    )
}
/// `x @ w.t() + b` for a 2-D x (float32 or float64, one dtype): the bias in the GPU
/// product's epilogue, after the product on the CPU.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let mut inputs = vec![x, w];
    inputs.extend(b);
    routed(
        &inputs,
        |t| gk::linear(t[0], t[1], t.get(2).copied()),
        |t| cpu::matmul::linear(t[0], t[1], t.get(2).copied()),
    )
}
pub fn gather(x: &Tensor, dim: usize, index: &Tensor) -> Result<Tensor> {
    routed(
        &[x, index],
        |t| gi::gather(t[0], dim, t[1]),
        |t| cpu::index::gather(t[0], dim, t[1]),
    )
}
pub fn scatter(x: &Tensor, dim: usize, index: &Tensor, src: &Tensor, add: bool) -> Result<Tensor> {
    routed(
        &[x, index, src],
        |t| gi::scatter(t[0], dim, t[1], t[2], add, x.dtype()),
        |t| cpu::index::scatter(t[0], dim, t[1], t[2], add),
    )
}
pub fn flip(x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    routed(
        &[x],
        |t| gi::flip(t[0], dims),
        |t| cpu::index::flip(t[0], dims),
    )
}
pub fn argsort(x: &Tensor, dim: usize, descending: bool) -> Result<Tensor> {
    routed(
        &[x],
        |t| gi::argsort(t[0], dim, descending),
        |t| cpu::index::argsort(t[0], dim, descending),
    )
}

// ---- fused nn kernels: contiguous float inputs, outputs allocated by the caller ----
use crate::cpu::attention::Attn;
use crate::cpu::conv::Conv2dGeom;

/// Splits `opt` tensors off the end of a host slice, in the order they were pushed.
fn optional<'a>(present: &[bool], rest: &[&'a Tensor]) -> Vec<Option<&'a Tensor>> {
    let mut it = rest.iter();
    present
        .iter()
        .map(|&p| if p { it.next().copied() } else { None })
        .collect()
}

fn with_some<'a>(base: &[&'a Tensor], opts: &[Option<&'a Tensor>]) -> (Vec<&'a Tensor>, Vec<bool>) {
    let mut v = base.to_vec();
    v.extend(opts.iter().flatten());
    (v, opts.iter().map(|o| o.is_some()).collect())
}

pub fn conv2d(g: &Conv2dGeom, x: &Tensor, w: &Tensor, out: &Tensor) -> Result<()> {
    routed_into(
        &[x, w],
        &[out],
        || gc::conv2d(g, x, w, out),
        |i, o| cpu::fused::conv2d(g, i[0], i[1], o[0]),
    )
}
pub fn conv2d_backward(
    g: &Conv2dGeom,
    x: &Tensor,
    w: &Tensor,
    gy: &Tensor,
    gx: Option<&Tensor>,
    gw: Option<&Tensor>,
) -> Result<()> {
    let (outs, present) = with_some(&[], &[gx, gw]);
    routed_into(
        &[x, w, gy],
        &outs,
        || gc::conv2d_backward(g, x, w, gy, gx, gw),
        |i, o| {
            let o = optional(&present, o);
            cpu::fused::conv2d_backward(g, i[0], i[1], i[2], o[0], o[1])
        },
    )
}
pub fn max_pool2d(g: &Conv2dGeom, x: &Tensor, out: &Tensor, idx: &Tensor) -> Result<()> {
    routed_into(
        &[x],
        &[out, idx],
        || gc::max_pool2d(g, x, out, idx),
        |i, o| cpu::fused::max_pool2d(g, i[0], o[0], o[1]),
    )
}
pub fn avg_pool2d(g: &Conv2dGeom, x: &Tensor, out: &Tensor, include_pad: bool) -> Result<()> {
    routed_into(
        &[x],
        &[out],
        || gc::avg_pool2d(g, x, out, include_pad),
        |i, o| cpu::fused::avg_pool2d(g, i[0], o[0], include_pad),
    )
}
pub fn avg_pool2d_backward(
    g: &Conv2dGeom,
    gy: &Tensor,
    dx: &Tensor,
    include_pad: bool,
) -> Result<()> {
    routed_into(
        &[gy],
        &[dx],
        || gc::avg_pool2d_backward(g, gy, dx, include_pad),
        |i, o| cpu::fused::avg_pool2d_backward(g, i[0], o[0], include_pad),
    )
}
pub fn cross_entropy(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    loss: &Tensor,
    denom: &Tensor,
) -> Result<()> {
    let (ins, present) = with_some(&[x, target], &[weight]);
    routed_into(
        &ins,
        &[loss, denom],
        || crate::gpu::nn::cross_entropy(x, target, weight, ignore_index, smoothing, loss, denom),
        |i, o| {
            let w = optional(&present, &i[2..]);
            cpu::fused::cross_entropy(i[0], i[1], w[0], ignore_index, smoothing, o[0], o[1])
        },
    )?
}
pub fn cross_entropy_backward(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    scale: &Tensor,
    dx: &Tensor,
) -> Result<()> {
    let (ins, present) = with_some(&[x, target, scale], &[weight]);
    routed_into(
        &ins,
        &[dx],
        || {
            crate::gpu::nn::cross_entropy_backward(
                x,
                target,
                weight,
                ignore_index,
                smoothing,
                scale,
                dx,
            )
        },
        |i, o| {
            let w = optional(&present, &i[3..]);
            cpu::fused::cross_entropy_backward(
                i[0],
                i[1],
                w[0],
                ignore_index,
                smoothing,
                &i[2].to_vec::<f64>(),
                o[0],
            )
        },
    )
}
pub fn norm_rows(
    x: &Tensor,
    eps: f64,
    center: bool,
    y: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
) -> Result<()> {
    routed_into(
        &[x],
        &[y, mean, rstd],
        || crate::gpu::nn::norm_rows(x, eps, center, y, mean, rstd),
        |i, o| cpu::fused::norm_rows(i[0], eps, center, o[0], o[1], o[2]),
    )
}
pub fn norm_rows_backward(
    x: &Tensor,
    g: &Tensor,
    center: bool,
    mean: &Tensor,
    rstd: &Tensor,
    dx: &Tensor,
) -> Result<()> {
    routed_into(
        &[x, g, mean, rstd],
        &[dx],
        || crate::gpu::nn::norm_rows_backward(x, g, center, mean, rstd, dx),
        |i, o| cpu::fused::norm_rows_backward(i[0], i[1], center, i[2], i[3], o[0]),
    )
}
pub fn attention(
    a: &Attn,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    p: &Tensor,
    o: &Tensor,
) -> Result<()> {
    let (ins, present) = with_some(&[q, k, v], &[mask]);
    routed_into(
        &ins,
        &[p, o],
        || crate::gpu::nn::attention(a, q, k, v, mask, p, o),
        |i, out| {
            let m = optional(&present, &i[3..]);
            cpu::fused::attention(a, i[0], i[1], i[2], m[0], out[0], out[1])
        },
    )
}
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    a: &Attn,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    p: &Tensor,
    go: &Tensor,
    dq: &Tensor,
    dk: &Tensor,
    dv: &Tensor,
) -> Result<()> {
    routed_into(
        &[q, k, v, p, go],
        &[dq, dk, dv],
        || crate::gpu::nn::attention_backward(a, q, k, v, p, go, dq, dk, dv),
        |i, o| cpu::fused::attention_backward(a, i[0], i[1], i[2], i[3], i[4], o[0], o[1], o[2]),
    )
}

// ---- fused optimizer updates (tensors checked by rust/optim.rs) ----
use crate::cpu::optim::{Adagrad, Adam, Adamax, Rmsprop, Sgd};

pub fn sgd(p: &Tensor, g: &Tensor, buf: Option<&Tensor>, cfg: &Sgd) -> Result<()> {
    let (outs, present) = with_some(&[p], &[buf]);
    routed_into(
        &[g],
        &outs,
        || gk::sgd(p, g, buf, cfg),
        |i, o| {
            let b = optional(&present, &o[1..]);
            cpu::fused::sgd(o[0], i[0], b[0], cfg)
        },
    )
}
pub fn adam(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    vmax: Option<&Tensor>,
    cfg: &Adam,
) -> Result<()> {
    let (outs, present) = with_some(&[p, m, v], &[vmax]);
    routed_into(
        &[g],
        &outs,
        || gk::adam(p, g, m, v, vmax, cfg),
        |i, o| {
            let vm = optional(&present, &o[3..]);
            cpu::fused::adam(o[0], i[0], o[1], o[2], vm[0], cfg)
        },
    )
}
pub fn rmsprop(
    p: &Tensor,
    g: &Tensor,
    square_avg: &Tensor,
    grad_avg: Option<&Tensor>,
    buf: Option<&Tensor>,
    cfg: &Rmsprop,
) -> Result<()> {
    let (outs, present) = with_some(&[p, square_avg], &[grad_avg, buf]);
    let gpu = || gk::rmsprop(p, g, square_avg, grad_avg, buf, cfg);
    routed_into(&[g], &outs, gpu, |i, o| {
        let opt = optional(&present, &o[2..]);
        cpu::fused::rmsprop(o[0], i[0], o[1], opt[0], opt[1], cfg)
    })
}
pub fn adagrad(p: &Tensor, g: &Tensor, sum: &Tensor, cfg: &Adagrad) -> Result<()> {
    let gpu = || gk::adagrad(p, g, sum, cfg);
    routed_into(&[g], &[p, sum], gpu, |i, o| {
        cpu::fused::adagrad(o[0], i[0], o[1], cfg)
    })
}
pub fn adamax(
    p: &Tensor,
    g: &Tensor,
    exp_avg: &Tensor,
    exp_inf: &Tensor,
    cfg: &Adamax,
) -> Result<()> {
    let gpu = || gk::adamax(p, g, exp_avg, exp_inf, cfg);
    routed_into(&[g], &[p, exp_avg, exp_inf], gpu, |i, o| {
        cpu::fused::adamax(o[0], i[0], o[1], o[2], cfg)
    })
}
