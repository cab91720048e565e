//! Device dispatch: every kernel family once, routed to the backend that holds the tensors.
//! The tensor layer (ops/) has already checked devices and dtypes and promoted the inputs.

use crate::cpu;
use crate::dtype::DType;
use crate::error::Result;
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use crate::tensor::Tensor;

pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    cpu::elementwise::unary(op, x)
}
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    cpu::elementwise::binary(op, a, b, shape)
}
pub fn binary_into(op: BinaryOp, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    cpu::elementwise::binary_into(op, a, b, out)
}
pub fn where_(c: &Tensor, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    cpu::elementwise::where_(c, a, b, shape)
}
pub fn clamp(x: &Tensor, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
    cpu::elementwise::clamp(x, min, max)
}
/// A contiguous copy in `dtype` (also how views are made contiguous).
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    Ok(cpu::elementwise::cast(x, dtype))
}
pub fn copy_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    cpu::elementwise::copy_into(dst, src)
}
pub fn reduce(op: ReduceOp, x: &Tensor, dims: &[usize], out_shape: &[usize]) -> Result<Tensor> {
    cpu::reduce::reduce(op, x, dims, out_shape)
}
pub fn softmax(x: &Tensor, dim: usize, log: bool) -> Result<Tensor> {
    cpu::reduce::softmax(x, dim, log)
}
pub fn cumsum(x: &Tensor, dim: usize) -> Result<Tensor> {
    cpu::reduce::cumsum(x, dim)
}
pub fn matmul(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    cpu::matmul::matmul(a, b, batch)
}
pub fn gather(x: &Tensor, dim: usize, index: &Tensor) -> Result<Tensor> {
    cpu::index::gather(x, dim, index)
}
pub fn scatter(x: &Tensor, dim: usize, index: &Tensor, src: &Tensor, add: bool) -> Result<Tensor> {
    cpu::index::scatter(x, dim, index, src, add)
}
pub fn flip(x: &Tensor, dims: &[usize]) -> Result<Tensor> {
    cpu::index::flip(x, dims)
}
pub fn argsort(x: &Tensor, dim: usize, descending: bool) -> Result<Tensor> {
    cpu::index::argsort(x, dim, descending)
}

// ---- fused nn kernels: contiguous float inputs, outputs allocated by the caller ----
use crate::cpu::attention::Attn;
use crate::cpu::conv::Conv2dGeom;

pub fn conv2d(g: &Conv2dGeom, x: &Tensor, w: &Tensor, out: &Tensor) {
    cpu::fused::conv2d(g, x, w, out)
}
pub fn conv2d_backward(
    g: &Conv2dGeom,
    x: &Tensor,
    w: &Tensor,
    gy: &Tensor,
    gx: Option<&Tensor>,
    gw: Option<&Tensor>,
) {
    cpu::fused::conv2d_backward(g, x, w, gy, gx, gw)
}
pub fn max_pool2d(g: &Conv2dGeom, x: &Tensor, out: &Tensor, idx: &Tensor) {
    cpu::fused::max_pool2d(g, x, out, idx)
}
pub fn avg_pool2d(g: &Conv2dGeom, x: &Tensor, out: &Tensor, include_pad: bool) {
    cpu::fused::avg_pool2d(g, x, out, include_pad)
}
pub fn avg_pool2d_backward(g: &Conv2dGeom, gy: &Tensor, dx: &Tensor, include_pad: bool) {
    cpu::fused::avg_pool2d_backward(g, gy, dx, include_pad)
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
    cpu::fused::cross_entropy(x, target, weight, ignore_index, smoothing, loss, denom)
}
pub fn cross_entropy_backward(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    scale: &[f64],
    dx: &Tensor,
) {
    cpu::fused::cross_entropy_backward(x, target, weight, ignore_index, smoothing, scale, dx)
}
pub fn norm_rows(x: &Tensor, eps: f64, center: bool, y: &Tensor, mean: &Tensor, rstd: &Tensor) {
    cpu::fused::norm_rows(x, eps, center, y, mean, rstd)
}
pub fn norm_rows_backward(
    x: &Tensor,
    g: &Tensor,
    center: bool,
    mean: &Tensor,
    rstd: &Tensor,
    dx: &Tensor,
) {
    cpu::fused::norm_rows_backward(x, g, center, mean, rstd, dx)
}
pub fn attention(
    a: &Attn,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    p: &Tensor,
    o: &Tensor,
) {
    cpu::fused::attention(a, q, k, v, mask, p, o)
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
) {
    cpu::fused::attention_backward(a, q, k, v, p, go, dq, dk, dv)
}

// ---- fused optimizer updates (tensors checked by rust/optim.rs) ----
use crate::cpu::optim::{Adagrad, Adam, Adamax, Rmsprop, Sgd};

pub fn sgd(p: &Tensor, g: &Tensor, buf: Option<&Tensor>, cfg: &Sgd) {
    cpu::fused::sgd(p, g, buf, cfg)
}
pub fn adam(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, vmax: Option<&Tensor>, cfg: &Adam) {
    cpu::fused::adam(p, g, m, v, vmax, cfg)
}
pub fn rmsprop(
    p: &Tensor,
    g: &Tensor,
    square_avg: &Tensor,
    grad_avg: Option<&Tensor>,
    buf: Option<&Tensor>,
    cfg: &Rmsprop,
) {
    cpu::fused::rmsprop(p, g, square_avg, grad_avg, buf, cfg)
}
pub fn adagrad(p: &Tensor, g: &Tensor, sum: &Tensor, cfg: &Adagrad) {
    cpu::fused::adagrad(p, g, sum, cfg)
}
pub fn adamax(p: &Tensor, g: &Tensor, exp_avg: &Tensor, exp_inf: &Tensor, cfg: &Adamax) {
    cpu::fused::adamax(p, g, exp_avg, exp_inf, cfg)
}
