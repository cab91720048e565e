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
