//! Packed 16-bit tensors on the GPU: bfloat16 always, float16 where the adapter lacks
//! shader-f16. WGSL cannot address their elements, so they are widened to float32 on the device
//! (exactly) for kernels to read, and results are rounded back into them (to nearest even):
//! every op runs on the device, none through host copies.

use super::device::Gpu;
use super::kernels::{buffer, coalesce, gpu_of, groups, strided_params};
use super::shaders::Family;
use crate::dtype::DType;
use crate::error::Result;
use crate::layout::Layout;
use crate::storage::Device;
use crate::tensor::Tensor;

/// Whether `dtype` is stored packed two to a word on `gpu`.
pub fn packed(gpu: &Gpu, dtype: DType) -> bool {
    match dtype {
        DType::BF16 => true,
        DType::F16 => !gpu.has_f16,
        _ => false,
    }
}

fn is_packed(t: &Tensor) -> bool {
    t.device() != Device::Cpu && packed(&gpu_of(t), t.dtype())
}

/// One dispatch of `entry` over `dst`'s shape, `src` broadcast to it; `extra` follows the
/// operand descriptions in the params.
fn run(entry: &str, dst: &Tensor, src: &Tensor, packed_dtype: DType, extra: &[u32]) -> Result<()> {
    let gpu = gpu_of(dst);
    let n = dst.numel();
    if n == 0 {
        return Ok(());
    }
    let src_layout = src.layout().expand(dst.shape())?;
    let layouts: [&Layout; 2] = [dst.layout(), &src_layout];
    let (shape, strides) = coalesce(dst.shape(), &layouts);
    let mut params = strided_params(n, &shape, &layouts, &strides);
    params.extend_from_slice(extra);
    let (dst_ty, src_ty) = if entry == "widen" {
        ("f32", "u32")
    } else {
        ("u32", "f32")
    };
    let bfloat = if packed_dtype == DType::BF16 {
        "true"
    } else {
        "false"
    };
    let kernel = gpu.kernel(
        Family::Half,
        entry,
        &[("DST", dst_ty), ("SRC", src_ty), ("BFLOAT", bfloat)],
    )?;
    gpu.dispatch(
        &kernel,
        &params,
        &[buffer(dst), buffer(src)],
        groups(n, 256),
    );
    Ok(())
}

/// A contiguous float32 copy of the packed tensor `x` (exact).
pub fn widen(x: &Tensor) -> Result<Tensor> {
    let out = Tensor::for_overwrite(x.shape(), DType::F32, x.device())?;
    run("widen", &out, x, x.dtype(), &[])?;
    Ok(out)
}

/// Rounds the float32 `src` (broadcast) into the packed view `dst`.
pub fn narrow_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    debug_assert_eq!(src.dtype(), DType::F32);
    for parity in 0..2 {
        run("narrow", dst, src, dst.dtype(), &[parity])?;
    }
    Ok(())
}

/// `x` in `dtype` where either is packed: through float32, as PyTorch's conversions go.
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    let wide = if is_packed(x) { widen(x)? } else { to_f32(x)? };
    if !packed(&gpu_of(x), dtype) {
        return if dtype == DType::F32 {
            Ok(wide)
        } else {
            crate::backend::cast(&wide, dtype)
        };
    }
    let out = Tensor::for_overwrite(x.shape(), dtype, x.device())?;
    narrow_into(&out, &wide)?;
    Ok(out)
}

fn to_f32(x: &Tensor) -> Result<Tensor> {
    if x.dtype() == DType::F32 {
        Ok(x.clone())
    } else {
        crate::backend::cast(x, DType::F32)
    }
}

/// Writes `src` (broadcast, any dtype) into the packed view `dst`.
pub fn copy_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let wide = if is_packed(src) {
        widen(src)?
    } else {
        to_f32(src)?
    };
    narrow_into(dst, &wide)
}

/// Writes `value` into every element of the packed view `t`.
pub fn fill(t: &Tensor, value: f64) -> Result<()> {
    let one = Tensor::for_overwrite(&[], DType::F32, t.device())?;
    super::host::fill(&one, value)?;
    narrow_into(t, &one)
}

/// The float32 stand-in for a tensor: a widened copy of a packed one, else the tensor.
fn stand_in(t: &Tensor) -> Result<Tensor> {
    if is_packed(t) {
        widen(t)
    } else {
        Ok(t.clone())
    }
}

/// Runs a float32 GPU kernel `f` for inputs some of which are packed, or None when none is.
/// A float32 result stands for the packed dtype of the inputs and is rounded back into it
/// (the tensor layer hands kernels inputs of one float dtype; index and mask operands aside).
pub fn compute(
    inputs: &[&Tensor],
    f: impl FnOnce(&[&Tensor]) -> Result<Option<Tensor>>,
) -> Result<Option<Tensor>> {
    let Some(narrow) = inputs.iter().find(|t| is_packed(t)).map(|t| t.dtype()) else {
        return Ok(None);
    };
    let wide: Vec<Tensor> = inputs.iter().map(|t| stand_in(t)).collect::<Result<_>>()?;
    let Some(out) = f(&wide.iter().collect::<Vec<_>>())? else {
        return Ok(None);
    };
    if out.dtype() != DType::F32 {
        return Ok(Some(out));
    }
    let narrowed = Tensor::for_overwrite(out.shape(), narrow, out.device())?;
    narrow_into(&narrowed, &out)?;
    Ok(Some(narrowed))
}
