//! Indexing and joining ops: gather/scatter, index_select, cat/stack/split, flip/roll,
//! tril/triu, repeat, sort/topk, masks.

use super::elementwise::{to_device, to_dtype, where_, Scalar};
use super::same_device;
use super::view::{expand, narrow, reshape, unsqueeze};
use crate::autograd::tape::record;
use crate::backend;
use crate::bail;
use crate::dtype::DType;
use crate::error::Result;
use crate::op::Op;
use crate::shape::normalize_dim;
use crate::tensor::Tensor;

fn check_index(index: &Tensor, what: &str) -> Result<()> {
    if !matches!(index.dtype(), DType::I64 | DType::I32) {
        bail!(
            DType,
            "{what}(): Expected dtype int64 for index, but got {}",
            index.dtype().name()
        );
    }
    Ok(())
}

pub fn gather(x: &Tensor, dim: isize, index: &Tensor) -> Result<Tensor> {
    check_index(index, "gather")?;
    same_device("gather", &[x, index])?;
    if index.ndim() != x.ndim() {
        bail!(
            Shape,
            "Index tensor must have the same number of dimensions as input tensor ({} vs {})",
            index.ndim(),
            x.ndim()
        );
    }
    let d = normalize_dim(dim, x.ndim())?;
    let out = backend::gather(x, d, index)?;
    if !x.dtype().is_float() {
        return Ok(out);
    }
    Ok(record(Op::Gather { dim: d }, &[x], &[index], false, out))
}

fn scatter_impl(x: &Tensor, dim: isize, index: &Tensor, src: &Tensor, add: bool) -> Result<Tensor> {
    check_index(index, "scatter")?;
    same_device("scatter", &[x, index, src])?;
    if index.ndim() != x.ndim() || src.ndim() != x.ndim() {
        bail!(
            Shape,
            "Index tensor must have the same number of dimensions as self tensor ({} vs {})",
            index.ndim(),
            x.ndim()
        );
    }
    let d = normalize_dim(dim, x.ndim())?;
    let src_c = to_dtype(&src.detach(), x.dtype())?;
    let out = backend::scatter(x, d, index, &src_c, add)?;
    if !x.dtype().is_float() {
        return Ok(out);
    }
    let op = if add {
        Op::ScatterAdd { dim: d }
    } else {
        Op::Scatter { dim: d }
    };
    Ok(record(op, &[x, src], &[index], false, out))
}

pub fn scatter(x: &Tensor, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    scatter_impl(x, dim, index, src, false)
}

pub fn scatter_add(x: &Tensor, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    scatter_impl(x, dim, index, src, true)
}

/// Rows `index` (1-D) of `x` along `dim`, as a gather over a broadcast index.
pub fn index_select(x: &Tensor, dim: isize, index: &Tensor) -> Result<Tensor> {
    check_index(index, "index_select")?;
    if index.ndim() > 1 {
        bail!(
            Index,
            "index_select(): Index is supposed to be a vector, got shape {:?}",
            index.shape()
        );
    }
    let d = normalize_dim(dim, x.ndim())?;
    let n = index.numel();
    let mut view_shape = vec![1isize; x.ndim()];
    view_shape[d] = n as isize;
    let mut target: Vec<isize> = x.shape().iter().map(|&s| s as isize).collect();
    target[d] = n as isize;
    let idx = expand(
        &reshape(&to_dtype(index, DType::I64)?, &view_shape)?,
        &target,
    )?;
    let size = x.shape()[d];
    for &i in index.to_vec::<i64>().iter() {
        if i < 0 || i as usize >= size {
            bail!(
                Index,
                "index out of range in self: index {i} for dimension {d} of size {size}"
            );
        }
    }
    gather(x, d as isize, &idx)
}

pub fn cat(ts: &[Tensor], dim: isize) -> Result<Tensor> {
    if ts.is_empty() {
        bail!(Runtime, "torch.cat(): expected a non-empty list of Tensors");
    }
    // 1-D empty tensors are skipped, as in PyTorch.
    let parts: Vec<&Tensor> = ts
        .iter()
        .filter(|t| !(t.ndim() == 1 && t.numel() == 0))
        .collect();
    let parts = if parts.is_empty() {
        vec![&ts[0]]
    } else {
        parts
    };
    let first = parts[0];
    if first.ndim() == 0 {
        bail!(
            Runtime,
            "zero-dimensional tensor (at position 0) cannot be concatenated"
        );
    }
    let d = normalize_dim(dim, first.ndim())?;
    same_device("cat", &parts)?;
    let mut dtype = first.dtype();
    for (i, t) in parts.iter().enumerate() {
        if t.ndim() != first.ndim()
            || (0..t.ndim()).any(|k| k != d && t.shape()[k] != first.shape()[k])
        {
            bail!(Shape, "Sizes of tensors must match except in dimension {d}. Expected size {:?} but got size {:?} for tensor number {i} in the list.", first.shape(), t.shape());
        }
        dtype = DType::promote(dtype, t.dtype());
    }
    let sizes: Vec<usize> = parts.iter().map(|t| t.shape()[d]).collect();
    let mut shape = first.shape().to_vec();
    shape[d] = match sizes.iter().try_fold(0usize, |a, &n| a.checked_add(n)) {
        Some(n) => n,
        None => bail!(
            Shape,
            "torch.cat(): the concatenated size along dim {d} overflows: sizes {sizes:?}"
        ),
    };
    let out = Tensor::zeros(&shape, dtype, first.device())?;
    let mut at = 0;
    for t in &parts {
        let dst = out.with_layout(out.layout().slice(d, at, t.shape()[d], 1));
        backend::copy_into(&dst, &to_dtype(&t.detach(), dtype)?)?;
        at += t.shape()[d];
    }
    if !dtype.is_float() {
        return Ok(out);
    }
    Ok(record(Op::Cat { dim: d, sizes }, &parts, &[], false, out))
}

pub fn stack(ts: &[Tensor], dim: isize) -> Result<Tensor> {
    if ts.is_empty() {
        bail!(Runtime, "stack expects a non-empty TensorList");
    }
    for (i, t) in ts.iter().enumerate() {
        if t.shape() != ts[0].shape() {
            bail!(Shape, "stack expects each tensor to be equal size, but got {:?} at entry 0 and {:?} at entry {i}", ts[0].shape(), t.shape());
        }
    }
    let d = normalize_dim(dim, ts[0].ndim() + 1)? as isize;
    let us: Vec<Tensor> = ts.iter().map(|t| unsqueeze(t, d)).collect::<Result<_>>()?;
    cat(&us, d)
}

/// Splits into pieces of the given sizes along `dim` (views).
pub fn split_sizes(x: &Tensor, sizes: &[usize], dim: isize) -> Result<Vec<Tensor>> {
    let d = normalize_dim(dim, x.ndim())?;
    if sizes.iter().sum::<usize>() != x.shape()[d] {
        bail!(Runtime, "split_with_sizes expects split_sizes to sum exactly to {} (input tensor's size at dimension {d}), but got split_sizes={sizes:?}", x.shape()[d]);
    }
    let mut at = 0;
    sizes
        .iter()
        .map(|&s| {
            let t = narrow(x, d as isize, at as isize, s);
            at += s;
            t
        })
        .collect()
}

pub fn split(x: &Tensor, size: usize, dim: isize) -> Result<Vec<Tensor>> {
    let d = normalize_dim(dim, x.ndim())?;
    if size == 0 {
        bail!(Runtime, "split expects split_size be non-zero");
    }
    let n = x.shape()[d];
    let sizes: Vec<usize> = (0..n.div_ceil(size))
        .map(|i| size.min(n - i * size))
        .collect();
    split_sizes(x, &sizes, dim)
}

pub fn chunk(x: &Tensor, chunks: usize, dim: isize) -> Result<Vec<Tensor>> {
    if chunks == 0 {
        bail!(
            Runtime,
            "chunk expects `chunks` to be greater than 0, got: 0"
        );
    }
    let d = normalize_dim(dim, x.ndim())?;
    split(x, x.shape()[d].div_ceil(chunks).max(1), dim)
}

pub fn flip(x: &Tensor, dims: &[isize]) -> Result<Tensor> {
    let d: Vec<usize> = dims
        .iter()
        .map(|&v| normalize_dim(v, x.ndim()))
        .collect::<Result<_>>()?;
    let out = backend::flip(x, &d)?;
    if !x.dtype().is_float() {
        return Ok(out);
    }
    Ok(record(Op::Flip { dims: d }, &[x], &[], false, out))
}

pub fn roll(x: &Tensor, shifts: &[isize], dims: &[isize]) -> Result<Tensor> {
    if dims.is_empty() {
        let flat = reshape(x, &[-1])?;
        let r = roll(&flat, shifts, &[0])?;
        return reshape(
            &r,
            &x.shape().iter().map(|&s| s as isize).collect::<Vec<_>>(),
        );
    }
    if shifts.len() != dims.len() {
        bail!(
            Value,
            "shifts and dimensions must align. shifts: {}, dims: {}",
            shifts.len(),
            dims.len()
        );
    }
    let mut out = x.clone();
    for (&s, &dim) in shifts.iter().zip(dims) {
        let d = normalize_dim(dim, x.ndim())?;
        let n = x.shape()[d] as isize;
        if n == 0 {
            continue;
        }
        let s = ((s % n) + n) % n;
        if s == 0 {
            continue;
        }
        let tail = narrow(&out, d as isize, n - s, s as usize)?;
        let head = narrow(&out, d as isize, 0, (n - s) as usize)?;
        out = cat(&[tail, head], d as isize)?;
    }
    Ok(out)
}

/// Keeps the lower (tril) or upper (triu) triangle of the last two dims, relative to `diagonal`.
pub fn triangle(x: &Tensor, diagonal: i64, lower: bool) -> Result<Tensor> {
    if x.ndim() < 2 {
        bail!(
            Shape,
            "tril/triu: input tensor must have at least 2 dimensions"
        );
    }
    let (r, c) = (x.shape()[x.ndim() - 2], x.shape()[x.ndim() - 1]);
    let mask: Vec<bool> = (0..r * c)
        .map(|i| {
            let (i, j) = ((i / c) as i64, (i % c) as i64);
            if lower {
                j - i <= diagonal
            } else {
                j - i >= diagonal
            }
        })
        .collect();
    let mask = to_device(&Tensor::from_vec(mask, &[r, c])?, x.device())?;
    where_(
        &mask,
        x,
        &to_dtype(&Scalar::Int(0).tensor_next_to(x)?, x.dtype())?,
    )
}

pub fn repeat(x: &Tensor, repeats: &[usize]) -> Result<Tensor> {
    if repeats.len() < x.ndim() {
        bail!(Runtime, "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor (repeats {repeats:?}, tensor of shape {:?})", x.shape());
    }
    let lead = repeats.len() - x.ndim();
    let padded: Vec<usize> = std::iter::repeat_n(1, lead)
        .chain(x.shape().iter().copied())
        .collect();
    let mut inter = Vec::new();
    let mut target = Vec::new();
    let mut fin = Vec::new();
    for (&r, &s) in repeats.iter().zip(&padded) {
        inter.extend([1isize, s as isize]);
        target.extend([r as isize, s as isize]);
        match r.checked_mul(s).filter(|&n| n <= isize::MAX as usize) {
            Some(n) => fin.push(n as isize),
            None => bail!(
                Shape,
                "repeat: the repeated size {r} x {s} overflows (repeats {repeats:?} of a tensor of shape {:?})",
                x.shape()
            ),
        }
    }
    crate::shape::checked_numel(&fin.iter().map(|&n| n as usize).collect::<Vec<_>>())?;
    let v = reshape(x, &inter)?;
    reshape(&expand(&v, &target)?, &fin)
}

/// (values, indices) sorted along `dim`.
pub fn sort(x: &Tensor, dim: isize, descending: bool) -> Result<(Tensor, Tensor)> {
    if x.ndim() == 0 {
        return Ok((x.clone(), Tensor::zeros(&[], DType::I64, x.device())?));
    }
    let idx = argsort(x, dim, descending)?;
    Ok((gather(x, dim, &idx)?, idx))
}

/// The indices that sort `x` along `dim` (sort's second result, without gathering the values).
pub fn argsort(x: &Tensor, dim: isize, descending: bool) -> Result<Tensor> {
    if x.ndim() == 0 {
        return Tensor::zeros(&[], DType::I64, x.device());
    }
    let d = normalize_dim(dim, x.ndim())?;
    backend::argsort(x, d, descending)
}

pub fn topk(x: &Tensor, k: usize, dim: isize, largest: bool) -> Result<(Tensor, Tensor)> {
    let d = normalize_dim(dim, x.ndim().max(1))?;
    let n = if x.ndim() == 0 { 1 } else { x.shape()[d] };
    if k > n {
        bail!(
            Runtime,
            "selected index k out of range: k={k} for dimension {d} of size {n}"
        );
    }
    let (v, i) = sort(x, d as isize, largest)?;
    if x.ndim() == 0 {
        return Ok((v, i));
    }
    Ok((narrow(&v, d as isize, 0, k)?, narrow(&i, d as isize, 0, k)?))
}

pub fn masked_fill(x: &Tensor, mask: &Tensor, value: Scalar) -> Result<Tensor> {
    if mask.dtype() != DType::Bool {
        bail!(
            DType,
            "masked_fill_ only supports boolean masks, but got mask with dtype {}",
            mask.dtype().name()
        );
    }
    let v = value.tensor_next_to(x)?;
    let v = to_dtype(&v, x.dtype())?;
    where_(mask, &v, x)
}

/// Coordinates of the non-zero elements: `[n, ndim]` int64.
pub fn nonzero(x: &Tensor) -> Result<Tensor> {
    let vals = x.to_vec::<f64>();
    let shape = x.shape().to_vec();
    let mut coords = Vec::new();
    let mut count = 0;
    for (lin, v) in vals.iter().enumerate() {
        if *v != 0.0 {
            let mut rem = lin;
            let mut c = vec![0i64; shape.len()];
            for d in (0..shape.len()).rev() {
                c[d] = (rem % shape[d]) as i64;
                rem /= shape[d];
            }
            coords.extend(c);
            count += 1;
        }
    }
    to_device(
        &Tensor::from_vec(coords, &[count, shape.len()])?,
        x.device(),
    )
}

/// `x[mask]`: the elements (or sub-tensors) where a bool mask over x's leading dims is true.
pub fn masked_select_rows(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let k = mask.ndim();
    if k > x.ndim() || mask.shape() != &x.shape()[..k] {
        bail!(
            Index,
            "The shape of the mask {:?} does not match the shape of the indexed tensor {:?}",
            mask.shape(),
            x.shape()
        );
    }
    let lin: Vec<i64> = mask
        .to_vec::<bool>()
        .iter()
        .enumerate()
        .filter(|(_, &b)| b)
        .map(|(i, _)| i as i64)
        .collect();
    let mut flat_shape = vec![-1isize];
    flat_shape.extend(x.shape()[k..].iter().map(|&s| s as isize));
    let flat = reshape(x, &flat_shape)?;
    let n = lin.len();
    index_select(
        &flat,
        0,
        &to_device(&Tensor::from_vec(lin, &[n])?, x.device())?,
    )
}

/// `x[index]` with an integer tensor along dim 0: result shape is `index.shape + x.shape[1:]`.
pub fn take_rows(x: &Tensor, index: &Tensor) -> Result<Tensor> {
    if x.ndim() == 0 {
        bail!(Index, "invalid index of a 0-dim tensor");
    }
    let n = x.shape()[0] as i64;
    let idx: Vec<i64> = index.to_vec::<i64>();
    let mut fixed = Vec::with_capacity(idx.len());
    for i in idx {
        if i < -n || i >= n {
            bail!(
                Index,
                "index {i} is out of bounds for dimension 0 with size {n}"
            );
        }
        fixed.push(if i < 0 { i + n } else { i });
    }
    let count = fixed.len();
    let rows = index_select(
        x,
        0,
        &to_device(&Tensor::from_vec(fixed, &[count])?, x.device())?,
    )?;
    let mut shape: Vec<isize> = index.shape().iter().map(|&s| s as isize).collect();
    shape.extend(x.shape()[1..].iter().map(|&s| s as isize));
    reshape(&rows, &shape)
}

/// Zeros of `shape` with `src` at the slice `(dim, start, len, step)`: a slice's gradient.
/// Written straight into the fresh zeros, unless the graph is recorded (create_graph).
pub fn slice_of_zeros(
    shape: &[usize],
    dim: usize,
    start: usize,
    len: usize,
    step: usize,
    src: &Tensor,
) -> Result<Tensor> {
    let base = Tensor::zeros(shape, src.dtype(), src.device())?;
    if crate::autograd::tape::is_grad_enabled() && src.requires_grad() {
        return slice_assign(&base, dim, start, len, step, src);
    }
    write_slice(&base, dim, start, len, step, &src.detach())?;
    Ok(base)
}

/// Writes `src` (broadcast, cast to `out`'s dtype) into the slice `(dim, start, len, step)` of
/// `out`, in place and outside the graph.
fn write_slice(
    out: &Tensor,
    dim: usize,
    start: usize,
    len: usize,
    step: usize,
    src: &Tensor,
) -> Result<()> {
    let dst = out.with_layout(out.layout().slice(dim, start, len, step));
    backend::copy_into(&dst, &to_dtype(src, out.dtype())?)
}

/// A copy of `base` with `src` (broadcast) written into the slice `(dim, start, len, step)`.
pub fn slice_assign(
    base: &Tensor,
    dim: usize,
    start: usize,
    len: usize,
    step: usize,
    src: &Tensor,
) -> Result<Tensor> {
    same_device("slice_assign", &[base, src])?;
    let out = backend::cast(base, base.dtype())?;
    write_slice(&out, dim, start, len, step, &src.detach())?;
    if !base.dtype().is_float() {
        return Ok(out);
    }
    Ok(record(
        Op::SliceAssign {
            dim,
            start,
            len,
            step,
        },
        &[base, src],
        &[],
        false,
        out,
    ))
}
