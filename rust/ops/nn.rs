//! Neural-network ops that are one native kernel each: conv2d and max_pool2d (forward and
//! backward in `cpu/conv.rs`), recorded as single tape nodes.

use super::elementwise::to_dtype;
use super::same_device;
use super::view::contiguous;
use crate::autograd::tape::{is_grad_enabled, record};
use crate::bail;
use crate::cpu::conv::{self, Conv2dGeom};
use crate::dtype::DType;
use crate::error::Result;
use crate::op::Op;
use crate::storage::Device;
use crate::tensor::Tensor;

pub use crate::cpu::conv::Conv2dGeom as Geom;

fn float_input(x: &Tensor, what: &str) -> Result<()> {
    if !matches!(x.dtype(), DType::F32 | DType::F64) {
        bail!(
            DType,
            "{what} expects float32 or float64 input, got {}",
            x.dtype().name()
        );
    }
    if x.device() != Device::Cpu {
        bail!(
            Device,
            "{what}: device {} has no kernel for this op in this build",
            x.device()
        );
    }
    Ok(())
}

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
        bail!(Value, "{what}: kernel size, stride and dilation must be positive (kernel {kh}x{kw}, stride {stride:?}, dilation {dilation:?})");
    }
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let Some((oh, ow)) = Conv2dGeom::out_size(h, w, kh, kw, stride, padding, dilation) else {
        bail!(Shape, "{what}: calculated output size is too small: input {:?}, kernel {kh}x{kw}, padding {padding:?}, dilation {dilation:?}", x.shape());
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
    float_input(x, "conv2d")?;
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
    let dtype = x.dtype();
    let (xc, wc) = (
        contiguous(&x.detach())?,
        contiguous(&to_dtype(&w.detach(), dtype)?)?,
    );
    let out = Tensor::for_overwrite(&[g.n, o, g.oh, g.ow], dtype, Device::Cpu)?;
    match dtype {
        DType::F32 => conv::conv2d_forward::<f32>(
            &g,
            xc.contiguous_slice().unwrap(),
            wc.contiguous_slice().unwrap(),
            out.storage().as_mut_slice(),
        ),
        _ => conv::conv2d_forward::<f64>(
            &g,
            xc.contiguous_slice().unwrap(),
            wc.contiguous_slice().unwrap(),
            out.storage().as_mut_slice(),
        ),
    }
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
    let dtype = x.dtype();
    let (xc, wc, gc) = (
        contiguous(x)?,
        contiguous(&to_dtype(w, dtype)?)?,
        contiguous(&to_dtype(gy, dtype)?)?,
    );
    let gx = if want_x {
        Some(Tensor::zeros(x.shape(), dtype, Device::Cpu)?)
    } else {
        None
    };
    let gw = if want_w {
        Some(Tensor::zeros(w.shape(), dtype, Device::Cpu)?)
    } else {
        None
    };
    macro_rules! run {
        ($t:ty) => {
            conv::conv2d_backward::<$t>(
                g,
                xc.contiguous_slice().unwrap(),
                wc.contiguous_slice().unwrap(),
                gc.contiguous_slice().unwrap(),
                gx.as_ref().map(|t| t.storage().as_mut_slice::<$t>()),
                gw.as_ref().map(|t| t.storage().as_mut_slice::<$t>()),
            )
        };
    }
    match dtype {
        DType::F32 => run!(f32),
        _ => run!(f64),
    }
    Ok((gx, gw))
}

/// Max pooling over NCHW input with -inf padding: (values, flat h*W+w indices of the maxima).
pub fn max_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
) -> Result<(Tensor, Tensor)> {
    float_input(x, "max_pool2d")?;
    if padding.0 * 2 > kernel.0 || padding.1 * 2 > kernel.1 {
        bail!(Value, "max_pool2d: pad should be at most half of effective kernel size, but got pad={padding:?}, kernel_size={kernel:?}");
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
    let xc = contiguous(&x.detach())?;
    let out = Tensor::for_overwrite(&[g.n, g.c, g.oh, g.ow], x.dtype(), Device::Cpu)?;
    let idx = Tensor::for_overwrite(&[g.n, g.c, g.oh, g.ow], DType::I64, Device::Cpu)?;
    match x.dtype() {
        DType::F32 => conv::max_pool2d::<f32>(
            &g,
            xc.contiguous_slice().unwrap(),
            out.storage().as_mut_slice(),
            idx.storage().as_mut_slice(),
        ),
        _ => conv::max_pool2d::<f64>(
            &g,
            xc.contiguous_slice().unwrap(),
            out.storage().as_mut_slice(),
            idx.storage().as_mut_slice(),
        ),
    }
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
