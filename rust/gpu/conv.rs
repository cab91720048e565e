//! GPU convolution and pooling kernels (float32, or float64 where the adapter has it;
//! contiguous NCHW): direct convolution forward,
//! its input and weight gradients, max pooling with int64 argmax, average pooling and its
//! backward, with the semantics of `cpu/conv.rs`. Other dtypes answer `Ok(None)` (host path).

use super::kernels::{buffer, gpu_of};
use super::shaders::Family;
use crate::cpu::conv::Conv2dGeom;
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

/// The shaders' element type when every tensor is contiguous (the kernels index from the
/// offset) in one float dtype the device computes in: "f32", or "f64" with shader-f64.
fn ready(ts: &[&Tensor]) -> Option<&'static str> {
    let ty = match ts[0].dtype() {
        DType::F32 => "f32",
        DType::F64 if gpu_of(ts[0]).has_f64 => "f64",
        _ => return None,
    };
    ts.iter()
        .all(|t| t.dtype() == ts[0].dtype() && t.is_contiguous())
        .then_some(ty)
}

/// The params every conv kernel reads (see shaders/conv.wgsl).
#[allow(clippy::too_many_arguments)]
fn params(
    g: &Conv2dGeom,
    out_channels: usize,
    total: usize,
    a: &Tensor,
    b: Option<&Tensor>,
    out: &Tensor,
    out2: Option<&Tensor>,
    flag: bool,
) -> Vec<u32> {
    [
        g.n,
        g.c,
        g.h,
        g.w,
        g.kh,
        g.kw,
        g.stride.0,
        g.stride.1,
        g.padding.0,
        g.padding.1,
        g.dilation.0,
        g.dilation.1,
        g.groups,
        g.oh,
        g.ow,
        out_channels,
        total,
        a.layout().offset,
        b.map_or(0, |t| t.layout().offset),
        out.layout().offset,
        out2.map_or(0, |t| t.layout().offset),
        flag as usize,
    ]
    .iter()
    .map(|&v| v as u32)
    .collect()
}

fn groups(n: usize) -> u32 {
    n.div_ceil(256) as u32
}

pub fn conv2d(g: &Conv2dGeom, x: &Tensor, w: &Tensor, out: &Tensor) -> Result<Option<()>> {
    let Some(ty) = ready(&[x, w, out]) else {
        return Ok(None);
    };
    let total = out.numel();
    if total == 0 {
        return Ok(Some(()));
    }
    let gpu = gpu_of(x);
    let p = params(g, w.shape()[0], total, x, Some(w), out, None, false);
    let k = gpu.kernel(Family::Conv, "conv_forward", &[("T", ty)])?;
    gpu.dispatch(&k, &p, &[buffer(out), buffer(x), buffer(w)], groups(total));
    Ok(Some(()))
}

pub fn conv2d_backward(
    g: &Conv2dGeom,
    x: &Tensor,
    w: &Tensor,
    gy: &Tensor,
    gx: Option<&Tensor>,
    gw: Option<&Tensor>,
) -> Result<Option<()>> {
    let mut ts = vec![x, w, gy];
    ts.extend(gx);
    ts.extend(gw);
    let Some(ty) = ready(&ts) else {
        return Ok(None);
    };
    let gpu = gpu_of(x);
    let oc = w.shape()[0];
    if let Some(gx) = gx {
        let total = gx.numel();
        if total > 0 {
            let p = params(g, oc, total, gy, Some(w), gx, None, false);
            let k = gpu.kernel(Family::Conv, "conv_grad_input", &[("T", ty)])?;
            gpu.dispatch(&k, &p, &[buffer(gx), buffer(gy), buffer(w)], groups(total));
        }
    }
    if let Some(gw) = gw {
        let total = gw.numel();
        if total > 0 {
            if gy.numel() == 0 {
                crate::gpu::kernels::fill(gw, 0.0)?;
            } else {
                let p = params(g, oc, total, x, Some(gy), gw, None, false);
                let k = gpu.kernel(Family::Conv, "conv_grad_weight", &[("T", ty)])?;
                gpu.dispatch(&k, &p, &[buffer(gw), buffer(x), buffer(gy)], total as u32);
            }
        }
    }
    Ok(Some(()))
}

pub fn max_pool2d(g: &Conv2dGeom, x: &Tensor, out: &Tensor, idx: &Tensor) -> Result<Option<()>> {
    let Some(ty) = ready(&[x, out]) else {
        return Ok(None);
    };
    if idx.dtype() != DType::I64 || !idx.is_contiguous() {
        return Ok(None);
    }
    let total = out.numel();
    if total == 0 {
        return Ok(Some(()));
    }
    let gpu = gpu_of(x);
    let p = params(g, g.c, total, x, None, out, Some(idx), false);
    let k = gpu.kernel(Family::Conv, "max_pool", &[("T", ty)])?;
    gpu.dispatch(
        &k,
        &p,
        &[buffer(out), buffer(idx), buffer(x)],
        groups(total),
    );
    Ok(Some(()))
}

pub fn avg_pool2d(
    g: &Conv2dGeom,
    x: &Tensor,
    out: &Tensor,
    include_pad: bool,
) -> Result<Option<()>> {
    let Some(ty) = ready(&[x, out]) else {
        return Ok(None);
    };
    let total = out.numel();
    if total == 0 {
        return Ok(Some(()));
    }
    let gpu = gpu_of(x);
    let p = params(g, g.c, total, x, None, out, None, include_pad);
    let k = gpu.kernel(Family::Conv, "avg_pool", &[("T", ty)])?;
    gpu.dispatch(&k, &p, &[buffer(out), buffer(x)], groups(total));
    Ok(Some(()))
}

pub fn avg_pool2d_backward(
    g: &Conv2dGeom,
    gy: &Tensor,
    dx: &Tensor,
    include_pad: bool,
) -> Result<Option<()>> {
    let Some(ty) = ready(&[gy, dx]) else {
        return Ok(None);
    };
    let total = dx.numel();
    if total == 0 {
        return Ok(Some(()));
    }
    let gpu = gpu_of(gy);
    let p = params(g, g.c, total, gy, None, dx, None, include_pad);
    let k = gpu.kernel(Family::Conv, "avg_pool_backward", &[("T", ty)])?;
    gpu.dispatch(&k, &p, &[buffer(dx), buffer(gy)], groups(total));
    Ok(Some(()))
}
