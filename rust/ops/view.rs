//! View ops: new shapes and strides over the same storage (copying only when `reshape` must).

use super::elementwise::copy;
use crate::autograd::tape::record;
use crate::bail;
use crate::error::Result;
use crate::op::Op;
use crate::shape::{infer_shape, normalize_dim};
use crate::tensor::Tensor;

/// Remembers which tensor a tracked view reads, for in-place writes through it.
fn track(x: &Tensor, out: Tensor) -> Tensor {
    if out.node().is_some() {
        let base = x.meta().view_base.clone().unwrap_or_else(|| x.clone());
        out.meta().view_base = Some(base);
    }
    out
}

fn reshaped(x: &Tensor, out: Tensor) -> Tensor {
    let out = record(
        Op::Reshape {
            from: x.shape().to_vec(),
        },
        &[x],
        &[],
        false,
        out,
    );
    track(x, out)
}

/// `view`: a new shape over the same elements; an error when the strides do not allow it.
pub fn view(x: &Tensor, shape: &[isize]) -> Result<Tensor> {
    let shape = infer_shape(shape, x.numel())?;
    match x.layout().reshape_view(&shape) {
        Some(l) => Ok(reshaped(x, x.with_layout(l))),
        None => bail!(
            Shape,
            "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead. (shape {:?}, strides {:?}, requested {shape:?})",
            x.shape(),
            x.layout().strides
        ),
    }
}

/// `reshape`: a view when possible, else a contiguous copy.
pub fn reshape(x: &Tensor, shape: &[isize]) -> Result<Tensor> {
    let shape_u = infer_shape(shape, x.numel())?;
    match x.layout().reshape_view(&shape_u) {
        Some(l) => Ok(reshaped(x, x.with_layout(l))),
        None => view(&copy(x)?, shape),
    }
}

pub fn permute(x: &Tensor, dims: &[isize]) -> Result<Tensor> {
    let dims: Vec<usize> = dims
        .iter()
        .map(|&d| normalize_dim(d, x.ndim()))
        .collect::<Result<_>>()?;
    let out = x.with_layout(x.layout().permute(&dims)?);
    Ok(track(
        x,
        record(Op::Permute { dims }, &[x], &[], false, out),
    ))
}

pub fn transpose(x: &Tensor, a: isize, b: isize) -> Result<Tensor> {
    let n = x.ndim();
    if n == 0 {
        return Ok(x.clone());
    }
    let (a, b) = (normalize_dim(a, n)?, normalize_dim(b, n)?);
    let mut dims: Vec<isize> = (0..n as isize).collect();
    dims.swap(a, b);
    permute(x, &dims)
}

pub fn expand(x: &Tensor, shape: &[isize]) -> Result<Tensor> {
    let lead = shape.len().saturating_sub(x.ndim());
    let target: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if s == -1 && i >= lead {
                x.shape()[i - lead]
            } else {
                s.max(0) as usize
            }
        })
        .collect();
    if shape
        .iter()
        .enumerate()
        .any(|(i, &s)| s < -1 || (s == -1 && i < lead))
    {
        bail!(
            Shape,
            "expand: invalid size {shape:?} for a tensor of shape {:?}",
            x.shape()
        );
    }
    let out = x.with_layout(x.layout().expand(&target)?);
    Ok(track(
        x,
        record(
            Op::Expand {
                from: x.shape().to_vec(),
            },
            &[x],
            &[],
            false,
            out,
        ),
    ))
}

/// Basic slicing along one dim: `start, start+step, ...`, `len` elements (bounds already clamped).
pub fn slice(x: &Tensor, dim: usize, start: usize, len: usize, step: usize) -> Result<Tensor> {
    if step == 0 {
        bail!(Value, "slice step cannot be zero");
    }
    let out = x.with_layout(x.layout().slice(dim, start, len, step));
    let op = Op::Slice {
        dim,
        start,
        len,
        step,
        from: x.shape().to_vec(),
        keep_dim: true,
    };
    Ok(track(x, record(op, &[x], &[], false, out)))
}

/// Python-style slice bounds (`a[start:stop:step]`) resolved against a dim of `size`.
pub fn slice_bounds(
    size: usize,
    start: Option<isize>,
    stop: Option<isize>,
    step: isize,
) -> Result<(usize, usize, usize)> {
    if step <= 0 {
        bail!(Value, "step must be greater than zero");
    }
    let n = size as isize;
    let clamp = |v: isize| if v < 0 { (v + n).max(0) } else { v.min(n) };
    let s = start.map(clamp).unwrap_or(0);
    let e = stop.map(clamp).unwrap_or(n);
    let len = if e > s {
        ((e - s) + step - 1) / step
    } else {
        0
    };
    Ok((s as usize, len as usize, step as usize))
}

pub fn narrow(x: &Tensor, dim: isize, start: isize, length: usize) -> Result<Tensor> {
    let d = normalize_dim(dim, x.ndim())?;
    let size = x.shape()[d];
    let start = if start < 0 {
        start + size as isize
    } else {
        start
    };
    if start < 0 || start as usize + length > size {
        bail!(
            Runtime,
            "start ({start}) + length ({length}) exceeds dimension size ({size})."
        );
    }
    slice(x, d, start as usize, length, 1)
}

/// Integer indexing along `dim`: removes the dim.
pub fn select(x: &Tensor, dim: isize, index: isize) -> Result<Tensor> {
    if x.ndim() == 0 {
        bail!(Index, "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ to convert a 0-dim tensor to a number");
    }
    let d = normalize_dim(dim, x.ndim())?;
    let size = x.shape()[d] as isize;
    if index < -size || index >= size {
        bail!(
            Index,
            "index {index} is out of bounds for dimension {d} with size {size}"
        );
    }
    let i = if index < 0 { index + size } else { index } as usize;
    let out = x.with_layout(x.layout().select(d, i));
    let op = Op::Slice {
        dim: d,
        start: i,
        len: 1,
        step: 1,
        from: x.shape().to_vec(),
        keep_dim: false,
    };
    Ok(track(x, record(op, &[x], &[], false, out)))
}

pub fn unsqueeze(x: &Tensor, dim: isize) -> Result<Tensor> {
    let d = normalize_dim(dim, x.ndim() + 1)?;
    Ok(reshaped(x, x.with_layout(x.layout().unsqueeze(d))))
}

/// Removes size-1 dims: all of them, or those listed.
pub fn squeeze(x: &Tensor, dims: Option<&[isize]>) -> Result<Tensor> {
    let dims: Vec<usize> = match dims {
        None => (0..x.ndim()).collect(),
        Some(ds) => ds
            .iter()
            .map(|&d| normalize_dim(d, x.ndim()))
            .collect::<Result<_>>()?,
    };
    Ok(reshaped(x, x.with_layout(x.layout().squeeze(&dims))))
}

pub fn flatten(x: &Tensor, start: isize, end: isize) -> Result<Tensor> {
    if x.ndim() == 0 {
        return reshape(x, &[1]);
    }
    let (s, e) = (
        normalize_dim(start, x.ndim())?,
        normalize_dim(end, x.ndim())?,
    );
    if s > e {
        bail!(
            Runtime,
            "flatten() has invalid args: start_dim cannot come after end_dim"
        );
    }
    let mut shape: Vec<isize> = x.shape()[..s].iter().map(|&v| v as isize).collect();
    shape.push(x.shape()[s..=e].iter().product::<usize>() as isize);
    shape.extend(x.shape()[e + 1..].iter().map(|&v| v as isize));
    reshape(x, &shape)
}

pub fn contiguous(x: &Tensor) -> Result<Tensor> {
    if x.is_contiguous() {
        Ok(x.clone())
    } else {
        copy(x)
    }
}
