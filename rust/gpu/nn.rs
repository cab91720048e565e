//! GPU (WGSL) kernels of the fused nn ops in float32 (float64 where the adapter has it): softmax
//! cross entropy, normalisation over
//! the last dim and scaled dot-product attention, forward and backward, with the semantics of
//! `cpu/nn.rs` and `cpu/attention.rs`.
//!
//! The row kernels live in `shaders/nn.wgsl` (one workgroup per row); attention's products go
//! through the GPU matmul on strided views. Every function returns `Ok(None)` where the float
//! tensors do not share one such dtype (int64 for targets) or are not contiguous, and backend.rs
//! then runs the CPU kernel on host copies. Outputs are the caller's fresh tensors; input
//! offsets go in the params, float params after them.

use super::host::{cpu_error, to_host};
use super::kernels::{buffer, float_words, gpu_of, matmul};
use super::shaders::Family;
use crate::cpu::attention::Attn;
use crate::dtype::DType;
use crate::error::Result;
use crate::layout::Layout;
use crate::tensor::Tensor;

/// The shaders' element type when every tensor has `like`'s float dtype and the device
/// computes in it: "f32", or "f64" with shader-f64.
fn float_type(like: &Tensor, ts: &[&Tensor]) -> Option<&'static str> {
    let ty = match like.dtype() {
        DType::F32 => "f32",
        DType::F64 if gpu_of(like).has_f64 => "f64",
        _ => return None,
    };
    ts.iter().all(|t| t.dtype() == like.dtype()).then_some(ty)
}

fn contiguous(ts: &[&Tensor]) -> bool {
    ts.iter().all(|t| t.is_contiguous())
}

/// Outputs are written from element 0 of their buffer.
fn fresh_outputs(ts: &[&Tensor]) -> bool {
    ts.iter()
        .all(|t| t.is_contiguous() && t.layout().offset == 0)
}

/// `words` then the float params in `like`'s dtype.
fn with_floats(mut words: Vec<u32>, like: &Tensor, floats: &[f64]) -> Vec<u32> {
    words.extend(float_words(like.dtype(), floats));
    words
}

fn off(t: &Tensor) -> u32 {
    t.layout().offset as u32
}

/// Params and element type of the cross-entropy kernels (their float tensors `more` besides
/// x and the weight); `None` where the dtypes have no kernel here.
fn ce_params(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    more: &[&Tensor],
) -> Option<(Vec<u32>, &'static str)> {
    let mut floats = more.to_vec();
    floats.extend(weight);
    let ty = float_type(x, &floats)?;
    floats.push(x);
    if !contiguous(&floats) || target.dtype() != DType::I64 || !target.is_contiguous() {
        return None;
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let flags = weight.is_some() as u32 | ((smoothing > 0.0) as u32) << 1;
    let ii = ignore_index as u64;
    let words = vec![
        n as u32,
        c as u32,
        flags,
        ii as u32,
        (ii >> 32) as u32,
        off(x),
        2 * off(target),
        weight.map_or(0, off),
    ];
    Some((with_floats(words, x, &[smoothing]), ty))
}

/// Per-row losses and `mean` denominators. An out-of-range target is an error as on the CPU,
/// which needs one 4-byte read of a flag the kernel sets (the caller reads `denom` next anyway).
pub fn cross_entropy(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    loss: &Tensor,
    denom: &Tensor,
) -> Result<Option<Result<()>>> {
    let Some((params, ty)) = ce_params(x, target, weight, ignore_index, smoothing, &[loss, denom])
    else {
        return Ok(None);
    };
    if !fresh_outputs(&[loss, denom]) {
        return Ok(None);
    }
    let n = x.shape()[0];
    if n == 0 {
        return Ok(Some(Ok(())));
    }
    let gpu = gpu_of(x);
    let bad = Tensor::for_overwrite(&[1], DType::I32, x.device())?;
    bad.fill_raw(-1.0); // all ones: u32::MAX, "no bad row", by one queued fill
    let k = gpu.kernel(Family::Nn, "cross_entropy", &[("T", ty)])?;
    // Without a weight the logits stand in at its binding (read only, never read there).
    let w = weight.unwrap_or(x);
    gpu.dispatch(
        &k,
        &params,
        &[
            buffer(loss),
            buffer(denom),
            buffer(&bad),
            buffer(x),
            buffer(target),
            buffer(w),
        ],
        n as u32,
    );
    // A target out of range raises at the next read, with the CPU kernel's message.
    let (xs, ts, ws) = (x.clone(), target.clone(), weight.cloned());
    gpu.defer_check(bad, u32::MAX, move || {
        cpu_error(|| {
            let (xh, th) = (to_host(&xs)?, to_host(&ts)?);
            let wh = ws.as_ref().map(to_host).transpose()?;
            let loss = Tensor::for_overwrite(&[n], xh.dtype(), crate::Device::Cpu)?;
            let denom = Tensor::for_overwrite(&[n], xh.dtype(), crate::Device::Cpu)?;
            crate::cpu::fused::cross_entropy(
                &xh,
                &th,
                wh.as_ref(),
                ignore_index,
                smoothing,
                &loss,
                &denom,
            )
        })
    })?;
    Ok(Some(Ok(())))
}

/// `dx[i, k] = scale[i] * d loss_i / d x[i, k]`, the scales a float32 tensor on the device.
pub fn cross_entropy_backward(
    x: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    smoothing: f64,
    scale: &Tensor,
    dx: &Tensor,
) -> Result<Option<()>> {
    let Some((params, ty)) = ce_params(x, target, weight, ignore_index, smoothing, &[dx, scale])
    else {
        return Ok(None);
    };
    if !fresh_outputs(&[dx, scale]) {
        return Ok(None);
    }
    let n = x.shape()[0];
    if x.numel() == 0 {
        return Ok(Some(()));
    }
    let gpu = gpu_of(x);
    let k = gpu.kernel(Family::Nn, "cross_entropy_backward", &[("T", ty)])?;
    let w = weight.unwrap_or(x);
    gpu.dispatch(
        &k,
        &params,
        &[
            buffer(dx),
            buffer(x),
            buffer(target),
            buffer(w),
            buffer(scale),
        ],
        n as u32,
    );
    Ok(Some(()))
}

/// Normalises each row over the last dim, writing `y` and each row's mean and rstd.
pub fn norm_rows(
    x: &Tensor,
    eps: f64,
    center: bool,
    y: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
) -> Result<Option<()>> {
    let Some(ty) = float_type(x, &[y, mean, rstd]) else {
        return Ok(None);
    };
    if !contiguous(&[x]) || !fresh_outputs(&[y, mean, rstd]) {
        return Ok(None);
    }
    let k = *x.shape().last().expect("a row dim");
    let rows = x.numel() / k.max(1);
    if rows == 0 || k == 0 {
        return Ok(Some(()));
    }
    let gpu = gpu_of(x);
    let kernel = gpu.kernel(Family::Nn, "norm_rows", &[("T", ty)])?;
    let params = with_floats(
        vec![rows as u32, k as u32, center as u32, off(x)],
        x,
        &[eps],
    );
    gpu.dispatch(
        &kernel,
        &params,
        &[buffer(y), buffer(mean), buffer(rstd), buffer(x)],
        rows as u32,
    );
    Ok(Some(()))
}

/// Gradient of `norm_rows` from the saved mean and rstd.
pub fn norm_rows_backward(
    x: &Tensor,
    g: &Tensor,
    center: bool,
    mean: &Tensor,
    rstd: &Tensor,
    dx: &Tensor,
) -> Result<Option<()>> {
    let Some(ty) = float_type(x, &[g, mean, rstd, dx]) else {
        return Ok(None);
    };
    if !contiguous(&[x, g, mean, rstd]) || !fresh_outputs(&[dx]) {
        return Ok(None);
    }
    let k = *x.shape().last().expect("a row dim");
    let rows = x.numel() / k.max(1);
    if rows == 0 || k == 0 {
        return Ok(Some(()));
    }
    let gpu = gpu_of(x);
    let kernel = gpu.kernel(Family::Nn, "norm_rows_backward", &[("T", ty)])?;
    let params = [
        rows as u32,
        k as u32,
        center as u32,
        off(x),
        off(g),
        off(mean),
        off(rstd),
    ];
    gpu.dispatch(
        &kernel,
        &params,
        &[buffer(dx), buffer(x), buffer(g), buffer(mean), buffer(rstd)],
        rows as u32,
    );
    Ok(Some(()))
}

/// `t` (contiguous, `b` blocks of `[r, c]`) viewed as `[b, r, c]`, or transposed as `[b, c, r]`.
/// `t` as a batch of [r, c] matrices over the batch dims `batch` (optionally transposed): a
/// tensor of rank len(batch) + 2 keeps its own strides (query, key and value may be views of a
/// packed projection, as in MultiheadAttention); a flat [b, r, c] one is read as contiguous.
fn view_nd(t: &Tensor, batch: &[usize], r: usize, c: usize, transposed: bool) -> Tensor {
    let mut l = if t.ndim() == batch.len() + 2 {
        t.layout().clone()
    } else {
        let mut shape = batch.to_vec();
        shape.extend([r, c]);
        Layout {
            strides: Layout::contiguous(&shape).strides,
            shape,
            offset: t.layout().offset,
        }
    };
    if transposed {
        let n = l.ndim();
        l = l.transpose(n - 2, n - 1);
    }
    t.with_layout(l)
}

/// `a @ b` per batch-head on the GPU, into a fresh contiguous `[batch.., .., ..]` tensor.
fn bmm(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    Ok(matmul(a, b, batch)?.expect("a float32 or float64 matmul"))
}

/// Copies the fresh contiguous `src` into the caller's output `dst` (same element count).
fn store(src: &Tensor, dst: &Tensor) {
    let size = dst.dtype().size();
    gpu_of(dst).copy(
        buffer(src),
        0,
        buffer(dst),
        (dst.layout().offset * size) as u64,
        (dst.numel() * size) as u64,
    );
}

/// Probabilities `p [b, l, s]` and output `o [b, l, ev]`: scores by matmul, then one masked
/// scaled softmax per row, then `p @ v`.
pub fn attention(
    a: &Attn,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    p: &Tensor,
    o: &Tensor,
) -> Result<Option<()>> {
    // Query, key and value go to matmuls, which read any strides.
    let mut ts = vec![p, o];
    ts.extend(mask);
    let Some(ty) = float_type(q, &[k, v, p, o]) else {
        return Ok(None);
    };
    if mask.is_some_and(|m| m.dtype() != q.dtype()) || !contiguous(&ts) || !fresh_outputs(&[p, o]) {
        return Ok(None);
    }
    let (b, l, s, e, ev) = (a.b, a.l, a.s, a.e, a.ev);
    let rows = b * l;
    if rows == 0 {
        return Ok(Some(()));
    }
    let gpu = gpu_of(q);
    let batch = &q.shape()[..q.ndim() - 2];
    if s > 0 {
        let scores = bmm(
            &view_nd(q, batch, l, e, false),
            &view_nd(k, batch, s, e, true),
            batch,
        )?;
        let flags = mask.is_some() as u32 | (a.causal as u32) << 1;
        let words = vec![rows as u32, l as u32, s as u32, flags, mask.map_or(0, off)];
        let params = with_floats(words, q, &[a.scale]);
        let kernel = gpu.kernel(Family::Nn, "attention_softmax", &[("T", ty)])?;
        // Without a mask the scores stand in at its binding (read only, never read there).
        let m = mask.unwrap_or(&scores);
        gpu.dispatch(
            &kernel,
            &params,
            &[buffer(p), buffer(&scores), buffer(m)],
            rows as u32,
        );
    }
    let out = bmm(
        &view_nd(p, batch, l, s, false),
        &view_nd(v, batch, s, ev, false),
        batch,
    )?;
    store(&out, o);
    Ok(Some(()))
}

/// Gradients `dq [b,l,e]`, `dk [b,s,e]`, `dv [b,s,ev]` from the saved probabilities.
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
) -> Result<Option<()>> {
    let Some(ty) = float_type(q, &[k, v, go, p, dq, dk, dv]) else {
        return Ok(None);
    };
    if !contiguous(&[p]) || !fresh_outputs(&[dq, dk, dv]) {
        return Ok(None);
    }
    let (b, l, s, e, ev) = (a.b, a.l, a.s, a.e, a.ev);
    let gpu = gpu_of(q);
    let batch = &q.shape()[..q.ndim() - 2];
    let nd = |t: &Tensor, r: usize, c: usize, transposed: bool| view_nd(t, batch, r, c, transposed);
    // dv = p^T @ go
    let dv_ = bmm(&nd(p, l, s, true), &nd(go, l, ev, false), batch)?;
    store(&dv_, dv);
    // dp = go @ v^T, then ds = p * (dp - rowsum(dp * p)) * scale in place
    let ds = bmm(&nd(go, l, ev, false), &nd(v, s, ev, true), batch)?;
    let rows = b * l;
    if rows > 0 && s > 0 {
        let kernel = gpu.kernel(Family::Nn, "attention_softmax_backward", &[("T", ty)])?;
        gpu.dispatch(
            &kernel,
            &with_floats(vec![rows as u32, s as u32, off(p)], q, &[a.scale]),
            &[buffer(&ds), buffer(p)],
            rows as u32,
        );
    }
    // dq = ds @ k ; dk = ds^T @ q
    let dq_ = bmm(&nd(&ds, l, s, false), &nd(k, s, e, false), batch)?;
    store(&dq_, dq);
    let dk_ = bmm(&nd(&ds, l, s, true), &nd(q, l, e, false), batch)?;
    store(&dk_, dk);
    Ok(Some(()))
}
