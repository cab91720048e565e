//! GPU indexing kernels (gather, scatter(-add), flip, cumsum, argsort), the int64 casts and the
//! integer matmul, with the CPU kernels' semantics (`cpu/index.rs`, `cpu/reduce.rs`,
//! `cpu/elementwise.rs`, `cpu/matmul.rs`).
//!
//! Each returns `Ok(None)` where it has no WGSL variant (the dtype, or an index that is out of
//! range: the CPU kernel on host copies then raises PyTorch's error).

use super::device::Gpu;
use super::host::{cpu_error, to_host};
use super::kernels::{buffer, cast as gpu_cast, gpu_of};
use super::shaders::{Family, Kernel};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;
use std::sync::Arc;

/// The index.wgsl kernel `entry` moving elements as `ty`; scatter-add's sum is `v + s` unless
/// `sum` says otherwise (every variant must fill the placeholders in).
fn kernel(gpu: &Gpu, entry: &str, ty: &str, sum: Option<&str>) -> Result<Arc<Kernel>> {
    // The matmul's multiply-add: int64 in two words, others as WGSL's wrapping arithmetic.
    let muladd = if ty == "vec2<u32>" {
        "i64_add(acc, i64_mul(x, y))"
    } else {
        "acc + x * y"
    };
    gpu.kernel(
        Family::Index,
        entry,
        &[
            ("T", ty),
            ("SUM", sum.unwrap_or("v + s")),
            ("MULADD", muladd),
        ],
    )
}

/// The WGSL type one element of `dtype` moves as, where the device stores it.
fn move_type(t: &Tensor) -> Option<&'static str> {
    Some(match t.dtype() {
        DType::F32 => "f32",
        DType::I32 => "i32",
        DType::Bool => "u32",
        DType::I64 | DType::F64 => "vec2<u32>",
        DType::F16 if gpu_of(t).has_f16 => "f16",
        _ => return None,
    })
}

fn groups(n: usize, per_group: usize) -> u32 {
    n.div_ceil(per_group) as u32
}

fn words(v: &[usize]) -> impl Iterator<Item = u32> + '_ {
    v.iter().map(|&x| x as u32)
}

/// `t` itself, or a contiguous copy where it is not contiguous.
fn contiguous(t: &Tensor) -> Result<Option<Tensor>> {
    if t.is_contiguous() {
        return Ok(Some(t.clone()));
    }
    gpu_cast(t, t.dtype())
}

/// A zeroed one-word counter of out-of-range indices, read by a deferred check.
fn counter(like: &Tensor) -> Result<Tensor> {
    Tensor::zeros(&[1], DType::I32, like.device())
}

/// A cast from or to int64 (float32, float16, int32 and bool on the other side); None for the
/// rest.
pub fn cast_i64(x: &Tensor, dtype: DType) -> Result<Option<Tensor>> {
    let kind = match (x.dtype(), dtype) {
        (DType::I64, DType::F32) | (DType::F32, DType::I64) => 0u32,
        (DType::I64, DType::I32) | (DType::I32, DType::I64) => 1,
        (DType::I64, DType::Bool) | (DType::Bool, DType::I64) => 2,
        (DType::I64, DType::F16) | (DType::F16, DType::I64) => 3,
        (DType::I64, DType::F64) => 0,
        (DType::F64, DType::I64) => 1,
        _ => return Ok(None),
    };
    // float16 moves as bits two to a word, so no shader-f16 is needed; float64 as bits too.
    let (entry, per_invocation) = match (x.dtype(), dtype) {
        (_, DType::F16) => ("i64_to_halves", 2),
        (_, DType::F64) | (DType::F64, _) => ("i64_f64", 1),
        (DType::I64, _) => ("from_i64", 1),
        _ => ("to_i64", 1),
    };
    let Some(x) = contiguous(x)? else {
        return Ok(None);
    };
    let gpu = gpu_of(&x);
    let out = Tensor::for_overwrite(x.shape(), dtype, x.device())?;
    let n = x.numel();
    if n == 0 {
        return Ok(Some(out));
    }
    let k = kernel(&gpu, entry, "u32", None)?;
    gpu.dispatch(
        &k,
        &[n as u32, kind, x.layout().offset as u32],
        &[buffer(&out), buffer(&x)],
        groups(n.div_ceil(per_invocation), 256),
    );
    Ok(Some(out))
}

/// The index as the kernels read it: int64 or int32, with its strides.
fn index_ok(index: &Tensor) -> bool {
    matches!(index.dtype(), DType::I64 | DType::I32)
}

/// `out[p] = x[p with p[dim] = index[p]]`.
pub fn gather(x: &Tensor, dim: usize, index: &Tensor) -> Result<Option<Tensor>> {
    let Some(ty) = move_type(x) else {
        return Ok(None);
    };
    let n = x.ndim();
    if !index_ok(index)
        || (0..n).any(|d| d != dim && index.shape()[d] > x.shape()[d])
        || (x.shape()[dim] == 0 && index.numel() > 0)
    {
        return Ok(None);
    }
    let out = Tensor::for_overwrite(index.shape(), x.dtype(), x.device())?;
    let total = index.numel();
    if total == 0 {
        return Ok(Some(out));
    }
    let gpu = gpu_of(x);
    let (lx, li) = (x.layout(), index.layout());
    let mut p = vec![
        total as u32,
        n as u32,
        dim as u32,
        (index.dtype() == DType::I64) as u32,
    ];
    p.extend(words(index.shape()));
    p.push(x.shape()[dim] as u32);
    p.push(lx.offset as u32);
    p.extend(words(&lx.strides));
    p.push(li.offset as u32);
    p.extend(words(&li.strides));
    let bad = counter(x)?;
    let k = kernel(&gpu, "gather", ty, None)?;
    gpu.dispatch(
        &k,
        &p,
        &[buffer(&out), buffer(x), buffer(index), buffer(&bad)],
        groups(total, 256),
    );
    // A bad index raises at the next read, with the CPU kernel's message.
    let (xs, is) = (x.clone(), index.clone());
    gpu.defer_check(bad, 0, move || {
        cpu_error(|| crate::cpu::index::gather(&to_host(&xs)?, dim, &to_host(&is)?).map(drop))
    })?;
    Ok(Some(out))
}

/// A copy of `x` with `src[p]` written (or added) at `p with p[dim] = index[p]`. `stored` is
/// the dtype the result is kept in: a float32 `x` standing in for a packed half one rounds
/// each add to it, as the CPU's per-add arithmetic in that dtype does.
pub fn scatter(
    x: &Tensor,
    dim: usize,
    index: &Tensor,
    src: &Tensor,
    add: bool,
    stored: DType,
) -> Result<Option<Tensor>> {
    let Some(ty) = move_type(x) else {
        return Ok(None);
    };
    // Adds as the CPU's `from_value(a.to_f64() + b.to_f64())`: exact for float32, saturating for
    // int32, rounded through float64 for int64 (index.wgsl), `or` for bool.
    let sum = match x.dtype() {
        _ if !add => None,
        DType::F32 => match stored {
            DType::BF16 => Some("round_bfloat16_f32(v + s)"),
            DType::F16 => Some("round_half_f32(v + s)"),
            _ => None,
        },
        DType::I32 => Some("i32_add_saturating(v, s)"),
        DType::I64 => Some("i64_add_as_f64(v, s)"),
        DType::Bool => Some("v | s"),
        // float64 adds as itself: moved as f64, not as two words. float16 (with shader-f16)
        // adds in f16, rounded once per add as the CPU's float64 sum rounded to half is.
        DType::F64 if gpu_of(x).has_f64 => None,
        DType::F16 => None,
        _ => return Ok(None),
    };
    let ty = if add && x.dtype() == DType::F64 {
        "f64"
    } else {
        ty
    };
    let n = x.ndim();
    if !index_ok(index)
        || src.dtype() != x.dtype()
        || (0..n).any(|d| {
            index.shape()[d] > src.shape()[d] || (d != dim && index.shape()[d] > x.shape()[d])
        })
        || (x.shape()[dim] == 0 && index.numel() > 0)
    {
        return Ok(None);
    }
    let out = Tensor::for_overwrite(x.shape(), x.dtype(), x.device())?;
    let total = x.numel();
    if total == 0 {
        return Ok(Some(out));
    }
    let gpu = gpu_of(x);
    // The source may share the output-to-be's storage only through `x` (read-only): fine.
    let (lx, li, ls) = (x.layout(), index.layout(), src.layout());
    let mut p = vec![
        total as u32,
        n as u32,
        dim as u32,
        (index.dtype() == DType::I64) as u32,
        add as u32,
    ];
    p.extend(words(x.shape()));
    p.extend(words(index.shape()));
    p.push(lx.offset as u32);
    p.extend(words(&lx.strides));
    p.push(li.offset as u32);
    p.extend(words(&li.strides));
    p.push(ls.offset as u32);
    p.extend(words(&ls.strides));
    let bad = counter(x)?;
    let k = kernel(&gpu, "scatter", ty, sum)?;
    gpu.dispatch(
        &k,
        &p,
        &[
            buffer(&out),
            buffer(x),
            buffer(index),
            buffer(src),
            buffer(&bad),
        ],
        groups(total, 256),
    );
    if index.numel() == 0 {
        return Ok(Some(out));
    }
    let (xs, is, ss) = (x.clone(), index.clone(), src.clone());
    gpu.defer_check(bad, 0, move || {
        cpu_error(|| {
            let (x, i, s) = (to_host(&xs)?, to_host(&is)?, to_host(&ss)?);
            crate::cpu::index::scatter(&x, dim, &i, &s, add).map(drop)
        })
    })?;
    Ok(Some(out))
}

/// `x` reversed along `dims`, as a contiguous copy.
pub fn flip(x: &Tensor, dims: &[usize]) -> Result<Option<Tensor>> {
    let Some(ty) = move_type(x) else {
        return Ok(None);
    };
    if x.ndim() > 32 {
        return Ok(None);
    }
    let out = Tensor::for_overwrite(x.shape(), x.dtype(), x.device())?;
    let total = x.numel();
    if total == 0 {
        return Ok(Some(out));
    }
    let gpu = gpu_of(x);
    let l = x.layout();
    let mut p = vec![total as u32, x.ndim() as u32];
    p.extend(words(x.shape()));
    p.push(l.offset as u32);
    p.extend(words(&l.strides));
    p.push(dims.iter().fold(0u32, |m, &d| m | 1 << d));
    let k = kernel(&gpu, "flip", ty, None)?;
    gpu.dispatch(&k, &p, &[buffer(&out), buffer(x)], groups(total, 256));
    Ok(Some(out))
}

/// Running sums along `dim` (float32, float64 and int64), summed in order as on the CPU.
pub fn cumsum(x: &Tensor, dim: usize) -> Result<Option<Tensor>> {
    let (entry, ty) = match x.dtype() {
        DType::F32 => ("cumsum", "f32"),
        DType::F64 if gpu_of(x).has_f64 => ("cumsum", "f64"),
        DType::I64 => ("cumsum_i64", "u32"),
        _ => return Ok(None),
    };
    let Some(x) = contiguous(x)? else {
        return Ok(None);
    };
    let out = Tensor::for_overwrite(x.shape(), x.dtype(), x.device())?;
    let len = x.shape()[dim];
    let inner: usize = x.shape()[dim + 1..].iter().product();
    if x.numel() == 0 {
        return Ok(Some(out));
    }
    let rows = x.numel() / len;
    let gpu = gpu_of(&x);
    let k = kernel(&gpu, entry, ty, None)?;
    gpu.dispatch(
        &k,
        &[
            rows as u32,
            len as u32,
            inner as u32,
            x.layout().offset as u32,
        ],
        &[buffer(&out), buffer(&x)],
        groups(rows, 64),
    );
    Ok(Some(out))
}

/// Pairs one workgroup sorts in workgroup memory (index.wgsl's SORT_CHUNK).
const SORT_CHUNK: usize = 1024;

/// Indices that sort `x` along `dim` (int64, contiguous), exactly the CPU kernel's: a bitonic
/// sort of (key, index) pairs, in workgroup memory for rows of up to SORT_CHUNK, with global
/// steps between chunks for longer rows. None for dtypes without a key (bfloat16), 0-d inputs
/// and sizes past the u32 positions or one binding.
pub fn argsort(x: &Tensor, dim: usize, descending: bool) -> Result<Option<Tensor>> {
    let kind = match x.dtype() {
        DType::F32 => 0u32,
        DType::F16 => 1,
        DType::I32 => 2,
        DType::Bool => 3,
        DType::I64 => 4,
        DType::F64 => 5,
        _ => return Ok(None),
    };
    if x.ndim() == 0 {
        return Ok(None);
    }
    let out = Tensor::for_overwrite(x.shape(), DType::I64, x.device())?;
    if x.numel() == 0 {
        return Ok(Some(out));
    }
    let gpu = gpu_of(x);
    let len = x.shape()[dim];
    let rows = x.numel() / len;
    let pad = len.next_power_of_two();
    let total = rows * pad;
    let binding = gpu.limits.max_storage_buffer_binding_size as usize;
    if total > 1 << 31 || (pad > SORT_CHUNK && total * 8 > binding) {
        return Ok(None);
    }
    let l = x.layout();
    let row_dims: Vec<usize> = (0..x.ndim()).filter(|&d| d != dim).collect();
    let mut p = vec![
        rows as u32,
        len as u32,
        pad as u32,
        kind,
        descending as u32,
        0, // mode, set per pass
        x.shape()[dim + 1..].iter().product::<usize>() as u32,
        row_dims.len() as u32,
    ];
    p.extend(row_dims.iter().map(|&d| x.shape()[d] as u32));
    p.push(l.offset as u32);
    p.extend(row_dims.iter().map(|&d| l.strides[d] as u32));
    p.push(l.strides[dim] as u32);
    let (load_x, store_out, all_stages) = (1, 2, 4);
    let local = kernel(&gpu, "sort_local", "u32", None)?;
    let chunks = total.div_ceil(SORT_CHUNK) as u32;
    if pad <= SORT_CHUNK {
        // Only workgroup memory: the pair buffers are bound but never touched.
        let unused = || Tensor::for_overwrite(&[1], DType::I32, x.device());
        let (k0, i0) = (unused()?, unused()?);
        p[5] = load_x | store_out | all_stages;
        let bound = [buffer(&out), buffer(x), buffer(&k0), buffer(&i0)];
        gpu.dispatch(&local, &p, &bound, chunks);
        return Ok(Some(out));
    }
    let keys = Tensor::for_overwrite(&[total], DType::I64, x.device())?;
    let idx = Tensor::for_overwrite(&[total], DType::I32, x.device())?;
    let bound = [buffer(&out), buffer(x), buffer(&keys), buffer(&idx)];
    p[5] = load_x | all_stages;
    gpu.dispatch(&local, &p, &bound, chunks);
    let step = kernel(&gpu, "sort_step", "u32", None)?;
    let pairs = (total / 2) as u32;
    let mut k = 2 * SORT_CHUNK;
    while k <= pad {
        // The steps whose partners lie in other chunks, then the rest of the stage in chunks.
        let mut d = 0;
        while d == 0 || d >= SORT_CHUNK {
            let sp = [pairs, k as u32, d as u32];
            gpu.dispatch(
                &step,
                &sp,
                &[buffer(&keys), buffer(&idx)],
                groups(total / 2, 256),
            );
            d = if d == 0 { k / 4 } else { d / 2 };
        }
        p[5] = if k == pad { store_out } else { 0 };
        gpu.dispatch(&local, &p, &bound, chunks);
        k *= 2;
    }
    Ok(Some(out))
}

/// `a @ b` for int32 or int64 operands (strided, batch-broadcast to `batch`), wrapping as the
/// CPU's product does: one invocation per output element, summing K in order.
pub fn matmul_int(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Option<Tensor>> {
    let Some(ty @ ("i32" | "vec2<u32>")) = move_type(a) else {
        return Ok(None);
    };
    let (la, lb) = (a.layout(), b.layout());
    let (na, nb) = (la.ndim(), lb.ndim());
    let (m, k, n) = (la.shape[na - 2], la.shape[na - 1], lb.shape[nb - 1]);
    let shape = [batch, &[m, n]].concat();
    let out = Tensor::for_overwrite(&shape, a.dtype(), a.device())?;
    let total = out.numel();
    if total == 0 {
        return Ok(Some(out));
    }
    let mut p = vec![total as u32, m as u32, n as u32, k as u32];
    p.extend(super::kernels::operand_params(la, lb, batch));
    let gpu = gpu_of(a);
    let kernel = kernel(&gpu, "matmul_int", ty, None)?;
    gpu.dispatch(
        &kernel,
        &p,
        &[buffer(&out), buffer(a), buffer(b)],
        groups(total, 256),
    );
    Ok(Some(out))
}
