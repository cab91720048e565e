//! Fused optimizer steps over a whole parameter group: checks, then one kernel per parameter.

use crate::backend;
use crate::bail;
use crate::cpu::optim::{Adagrad, Adam, Adamax, Rmsprop, Sgd};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

pub use crate::cpu::optim::{
    Adagrad as AdagradConfig, Adam as AdamConfig, Adamax as AdamaxConfig, Rmsprop as RmspropConfig,
    Sgd as SgdConfig,
};

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
    if !p.dtype().is_float() {
        bail!(
            DType,
            "optimizer steps need floating-point parameters, got {}",
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

/// Runs an update `run(tensors, optional)` where `tensors` are the parameter, its gradient and
/// its state. Half-precision ones step on float32 copies and are written back rounded (PyTorch's
/// kernels compute halves in float32 too); the gradient is only read.
fn update(
    tensors: &[&Tensor],
    optional: &[Option<&Tensor>],
    run: impl FnOnce(&[&Tensor], &[Option<&Tensor>]) -> Result<()>,
) -> Result<()> {
    let p = tensors[0];
    if !matches!(p.dtype(), DType::F16 | DType::BF16) {
        run(tensors, optional)?;
    } else {
        let wide = |t: &Tensor| backend::cast(t, DType::F32);
        let ts: Vec<Tensor> = tensors.iter().map(|t| wide(t)).collect::<Result<_>>()?;
        let opt: Vec<Option<Tensor>> = optional
            .iter()
            .map(|t| t.map(wide).transpose())
            .collect::<Result<_>>()?;
        run(
            &ts.iter().collect::<Vec<_>>(),
            &opt.iter().map(Option::as_ref).collect::<Vec<_>>(),
        )?;
        let written = tensors.iter().zip(&ts).enumerate().filter(|(k, _)| *k != 1);
        let optional_written = optional
            .iter()
            .zip(&opt)
            .filter_map(|(d, w)| d.zip(w.as_ref()));
        for (dst, w) in written.map(|(_, (d, w))| (*d, w)).chain(optional_written) {
            backend::copy_into(dst, &backend::cast(w, dst.dtype())?)?;
        }
    }
    p.storage().bump_version();
    Ok(())
}

/// Optional state (`which`) that this step's configuration needs (`needed`): checked if there.
fn check_opt_state(
    name: &str,
    needed: bool,
    which: &str,
    p: &Tensor,
    i: usize,
    s: &Option<Tensor>,
) -> Result<()> {
    match s {
        Some(s) if needed => check_state(name, p, s),
        None if needed => bail!(Value, "{which} needs '{name}' for parameter {i}"),
        _ => Ok(()),
    }
}

/// Every per-parameter list of a group step must have one entry per parameter.
fn check_lengths(op: &str, lists: &[(&str, usize)]) -> Result<()> {
    let n = lists[0].1;
    if lists.iter().any(|&(_, len)| len != n) {
        let got: Vec<String> = lists.iter().map(|(k, len)| format!("{len} {k}")).collect();
        bail!(Value, "{op} step: {}", got.join(", "));
    }
    Ok(())
}

/// Bias corrections divide by `1 - beta^step`: step counts start at 1.
fn check_step(op: &str, step: u64) -> Result<()> {
    if step == 0 {
        bail!(Value, "{op} step: step counts start at 1, got 0");
    }
    Ok(())
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
        update(&[p, &g], &[buf.as_ref()], |t, o| {
            backend::sgd(t[0], t[1], o[0], cfg)
        })?;
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
        update(&[p, &g, &m[i], &v[i]], &[vm.as_ref()], |t, o| {
            backend::adam(t[0], t[1], t[2], t[3], o[0], cfg)
        })?;
    }
    Ok(())
}

pub fn rmsprop_step(
    params: &[Tensor],
    grads: &[Tensor],
    square_avgs: &[Tensor],
    grad_avgs: &[Option<Tensor>],
    bufs: &[Option<Tensor>],
    cfg: &Rmsprop,
) -> Result<()> {
    check_lengths(
        "rmsprop",
        &[
            ("params", params.len()),
            ("grads", grads.len()),
            ("square_avg", square_avgs.len()),
            ("grad_avg", grad_avgs.len()),
            ("momentum_buffer", bufs.len()),
        ],
    )?;
    for (i, p) in params.iter().enumerate() {
        let g = check_param(p, &grads[i])?;
        check_state("square_avg", p, &square_avgs[i])?;
        check_opt_state(
            "grad_avg",
            cfg.centered,
            "centered RMSprop",
            p,
            i,
            &grad_avgs[i],
        )?;
        let momentum = cfg.momentum > 0.0;
        check_opt_state(
            "momentum_buffer",
            momentum,
            "RMSprop with momentum",
            p,
            i,
            &bufs[i],
        )?;
        update(
            &[p, &g, &square_avgs[i]],
            &[grad_avgs[i].as_ref(), bufs[i].as_ref()],
            |t, o| backend::rmsprop(t[0], t[1], t[2], o[0], o[1], cfg),
        )?;
    }
    Ok(())
}

pub fn adagrad_step(
    params: &[Tensor],
    grads: &[Tensor],
    sums: &[Tensor],
    cfg: &Adagrad,
) -> Result<()> {
    check_lengths(
        "adagrad",
        &[
            ("params", params.len()),
            ("grads", grads.len()),
            ("sum", sums.len()),
        ],
    )?;
    check_step("adagrad", cfg.step)?;
    for (i, p) in params.iter().enumerate() {
        let g = check_param(p, &grads[i])?;
        check_state("sum", p, &sums[i])?;
        update(&[p, &g, &sums[i]], &[], |t, _| {
            backend::adagrad(t[0], t[1], t[2], cfg)
        })?;
    }
    Ok(())
}

pub fn adamax_step(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_infs: &[Tensor],
    cfg: &Adamax,
) -> Result<()> {
    check_lengths(
        "adamax",
        &[
            ("params", params.len()),
            ("grads", grads.len()),
            ("exp_avg", exp_avgs.len()),
            ("exp_inf", exp_infs.len()),
        ],
    )?;
    check_step("adamax", cfg.step)?;
    for (i, p) in params.iter().enumerate() {
        let g = check_param(p, &grads[i])?;
        check_state("exp_avg", p, &exp_avgs[i])?;
        check_state("exp_inf", p, &exp_infs[i])?;
        update(&[p, &g, &exp_avgs[i], &exp_infs[i]], &[], |t, _| {
            backend::adamax(t[0], t[1], t[2], t[3], cfg)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::view;

    /// A contiguous `[3]` view at offset 3 of a zeroed `[6]` buffer.
    fn offset_state() -> (Tensor, Tensor) {
        let big = Tensor::from_vec(vec![0.0f64; 6], &[6]).unwrap();
        let view = view::slice(&big, 0, 3, 3, 1).unwrap();
        assert!(view.is_contiguous() && view.layout().offset == 3);
        (big, view)
    }

    fn ones() -> Tensor {
        Tensor::from_vec(vec![1.0f64; 3], &[3]).unwrap()
    }

    #[test]
    fn optional_state_is_written_at_its_storage_offset() {
        let (big, buf) = offset_state();
        let cfg = Sgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            maximize: false,
            first: true,
        };
        sgd_step(&[ones()], &[ones()], &[Some(buf)], &cfg).unwrap();
        assert_eq!(big.to_vec::<f64>(), vec![0., 0., 0., 1., 1., 1.]);

        let (big, vmax) = offset_state();
        let zeros = || Tensor::from_vec(vec![0.0f64; 3], &[3]).unwrap();
        let cfg = Adam {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.5,
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: true,
            maximize: false,
            decoupled: false,
            step: 1,
        };
        adam_step(
            &[ones()],
            &[ones()],
            &[zeros()],
            &[zeros()],
            &[Some(vmax)],
            &cfg,
        )
        .unwrap();
        assert_eq!(big.to_vec::<f64>(), vec![0., 0., 0., 0.5, 0.5, 0.5]);
    }

    #[test]
    fn group_steps_check_the_state_their_configuration_reads() {
        let (p, g) = ([ones()], [ones()]);
        let sq = [Tensor::from_vec(vec![0.0f64; 3], &[3]).unwrap()];
        let cfg = Rmsprop {
            lr: 0.1,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: true,
            maximize: false,
        };
        let err = rmsprop_step(&p, &g, &sq, &[None], &[None], &cfg).unwrap_err();
        assert!(format!("{err}").contains("grad_avg"));
        // Not centered: the missing grad_avg is never read, and the step goes through.
        let cfg = Rmsprop {
            centered: false,
            ..cfg
        };
        rmsprop_step(&p, &g, &sq, &[None], &[None], &cfg).unwrap();
        assert!((sq[0].to_vec::<f64>()[0] - 0.01).abs() < 1e-15);

        let cfg = Adagrad {
            lr: 0.1,
            lr_decay: 0.0,
            weight_decay: 0.0,
            eps: 1e-10,
            maximize: false,
            step: 0,
        };
        assert!(adagrad_step(&p, &g, &sq, &cfg).is_err());

        let (big, exp_inf) = offset_state();
        let exp_inf = [exp_inf];
        let exp_avg = [Tensor::from_vec(vec![0.0f64; 3], &[3]).unwrap()];
        let short = [Tensor::from_vec(vec![0.0f64; 2], &[2]).unwrap()];
        let cfg = Adamax {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 0.5,
            weight_decay: 0.0,
            maximize: false,
            step: 1,
        };
        assert!(adamax_step(&p, &g, &short, &exp_inf, &cfg).is_err());
        adamax_step(&p, &g, &exp_avg, &exp_inf, &cfg).unwrap();
        assert_eq!(big.to_vec::<f64>(), vec![0., 0., 0., 1.5, 1.5, 1.5]);
    }
}
