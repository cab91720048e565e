//! Fused optimizer steps over a whole parameter group: checks, then one kernel per parameter.

use crate::backend;
use crate::bail;
use crate::cpu::optim::{Adam, Sgd};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

pub use crate::cpu::optim::{Adam as AdamConfig, Sgd as SgdConfig};

/// The state tensors an update writes must be plain contiguous tensors of the parameter's kind.
fn check_state(name: &str, p: &Tensor, s: &Tensor) -> Result<()> {
    if s.shape() != p.shape()
        || s.dtype() != p.dtype()
        || s.device() != p.device()
        || !s.is_contiguous()
    {
        bail!(
            Value,
            "optimizer state '{name}' must be a contiguous {} tensor of shape {:?} on {} (got {} {:?} on {})",
            p.dtype().name(), p.shape(), p.device(), s.dtype().name(), s.shape(), s.device()
        );
    }
    Ok(())
}

fn check_param(p: &Tensor, g: &Tensor) -> Result<Tensor> {
    if !matches!(p.dtype(), DType::F32 | DType::F64) {
        bail!(
            DType,
            "fused optimizer steps support float32 and float64 parameters, got {}",
            p.dtype().name()
        );
    }
    if !p.is_contiguous() {
        bail!(
            Value,
            "optimizer parameters must be contiguous (shape {:?}, strides {:?})",
            p.shape(),
            p.layout().strides
        );
    }
    if g.shape() != p.shape() {
        bail!(
            Shape,
            "gradient of shape {:?} does not match parameter of shape {:?}",
            g.shape(),
            p.shape()
        );
    }
    crate::ops::same_device("optimizer step", &[p, g])?;
    // Gradients are usually contiguous already; a copy makes the rare strided one so.
    let g = if g.dtype() != p.dtype() || !g.is_contiguous() {
        backend::cast(g, p.dtype())?
    } else {
        g.clone()
    };
    Ok(g)
}

fn ptr<T>(t: &Tensor) -> *mut T {
    // SAFETY (of later use): offset is within the storage of a contiguous tensor.
    unsafe { (t.storage().data_ptr() as *mut T).add(t.layout().offset) }
}

pub fn sgd_step(
    params: &[Tensor],
    grads: &[Tensor],
    bufs: &[Option<Tensor>],
    cfg: &Sgd,
) -> Result<()> {
    for (i, (p, g)) in params.iter().zip(grads).enumerate() {
        let g = check_param(p, g)?;
        let buf = bufs.get(i).cloned().flatten();
        if cfg.momentum != 0.0 {
            match &buf {
                Some(b) => check_state("momentum_buffer", p, b)?,
                None => bail!(
                    Value,
                    "SGD with momentum needs a momentum buffer for parameter {i}"
                ),
            }
        }
        let n = p.numel();
        let bptr = buf
            .as_ref()
            .map(|b| b.storage().data_ptr())
            .unwrap_or(std::ptr::null_mut());
        // SAFETY: shapes, dtypes and contiguity checked above; the buffers are distinct tensors.
        unsafe {
            match p.dtype() {
                DType::F32 => {
                    crate::cpu::optim::sgd::<f32>(ptr(p), ptr(&g), bptr as *mut f32, n, cfg)
                }
                _ => crate::cpu::optim::sgd::<f64>(ptr(p), ptr(&g), bptr as *mut f64, n, cfg),
            }
        }
        p.storage().bump_version();
    }
    Ok(())
}

pub fn adam_step(
    params: &[Tensor],
    grads: &[Tensor],
    m: &[Tensor],
    v: &[Tensor],
    vmax: &[Option<Tensor>],
    cfg: &Adam,
) -> Result<()> {
    if params.len() != grads.len() || params.len() != m.len() || params.len() != v.len() {
        bail!(
            Value,
            "adam step: {} params, {} grads, {} exp_avg, {} exp_avg_sq",
            params.len(),
            grads.len(),
            m.len(),
            v.len()
        );
    }
    for (i, p) in params.iter().enumerate() {
        let g = check_param(p, &grads[i])?;
        check_state("exp_avg", p, &m[i])?;
        check_state("exp_avg_sq", p, &v[i])?;
        let vm = vmax.get(i).cloned().flatten();
        if cfg.amsgrad {
            match &vm {
                Some(t) => check_state("max_exp_avg_sq", p, t)?,
                None => bail!(Value, "amsgrad needs max_exp_avg_sq for parameter {i}"),
            }
        }
        let vmp = vm
            .as_ref()
            .map(|t| t.storage().data_ptr())
            .unwrap_or(std::ptr::null_mut());
        // SAFETY: all checked to be distinct contiguous tensors of the parameter's shape.
        unsafe {
            match p.dtype() {
                DType::F32 => crate::cpu::optim::adam::<f32>(
                    ptr(p),
                    ptr(&g),
                    ptr(&m[i]),
                    ptr(&v[i]),
                    vmp as *mut f32,
                    p.numel(),
                    cfg,
                ),
                _ => crate::cpu::optim::adam::<f64>(
                    ptr(p),
                    ptr(&g),
                    ptr(&m[i]),
                    ptr(&v[i]),
                    vmp as *mut f64,
                    p.numel(),
                    cfg,
                ),
            }
        }
        p.storage().bump_version();
    }
    Ok(())
}
