//! Creation ops sized by their arguments (arange, linspace, eye, full), with PyTorch's checks:
//! finite bounds, a size that fits, a fill value the dtype can hold. Sizes are checked before
//! anything is allocated, and the values are written into the tensor, never into a `Vec` first
//! (a huge request must be an error, not a capacity-overflow panic).

use super::elementwise::{to_device, to_dtype};
use super::Scalar;
use crate::bail;
use crate::dtype::DType;
use crate::error::Result;
use crate::storage::Device;
use crate::tensor::Tensor;

/// `torch.arange(start, end, step)`: integers are stepped exactly (in i128, so bounds near
/// 2^63 keep their size), floats as PyTorch does in double precision.
pub fn arange(
    start: Scalar,
    end: Scalar,
    step: Scalar,
    dtype: Option<DType>,
    device: Device,
) -> Result<Tensor> {
    let all_int = [start, end, step]
        .iter()
        .all(|s| !matches!(s, Scalar::Float(_)));
    let dtype = dtype.unwrap_or(if all_int {
        DType::I64
    } else {
        crate::dtype::default_float()
    });
    let (lo, hi, st) = (start.value(), end.value(), step.value());
    if !(lo.is_finite() && hi.is_finite()) {
        bail!(Runtime, "unsupported range: {lo} -> {hi}");
    }
    if st == 0.0 || st.is_nan() {
        bail!(Runtime, "step must be nonzero");
    }
    if !((st > 0.0 && hi >= lo) || (st < 0.0 && hi <= lo)) {
        bail!(
            Runtime,
            "upper bound and larger bound inconsistent with step sign (start={lo}, end={hi}, step={st})"
        );
    }
    let as_int = |s: Scalar| match s {
        Scalar::Int(i) => i as i128,
        Scalar::Bool(b) => b as i128,
        Scalar::Float(f) => f as i128,
    };
    let n: f64 = if all_int && !dtype.is_float() {
        let (a, b, s) = (as_int(start), as_int(end), as_int(step));
        // ceil((b - a) / s) for either sign of s, exactly.
        let q = (b - a) / s;
        (if q * s != b - a { q + 1 } else { q }) as f64
    } else {
        ((hi - lo) / st).ceil()
    };
    if !(n >= 0.0 && n <= i64::MAX as f64) {
        bail!(
            Runtime,
            "invalid size, possible overflow? (arange from {lo} to {hi} by {st})"
        );
    }
    let n = n as usize;
    let t = if !dtype.is_float() {
        let (a, s) = (as_int(start), as_int(step));
        let t = Tensor::for_overwrite(&[n], DType::I64, Device::Cpu)?;
        for (i, v) in t.storage().as_mut_slice::<i64>().iter_mut().enumerate() {
            // Every value lies within [start, end), so it fits an i64.
            *v = (a + i as i128 * s) as i64;
        }
        t
    } else {
        let t = Tensor::for_overwrite(&[n], DType::F64, Device::Cpu)?;
        for (i, v) in t.storage().as_mut_slice::<f64>().iter_mut().enumerate() {
            *v = lo + i as f64 * st;
        }
        t
    };
    to_device(&to_dtype(&t, dtype)?, device)
}

/// `torch.linspace(start, end, steps)`: the last value is `end` exactly.
pub fn linspace(
    start: f64,
    end: f64,
    steps: i64,
    dtype: Option<DType>,
    device: Device,
) -> Result<Tensor> {
    if steps < 0 {
        bail!(Runtime, "number of steps must be non-negative, got {steps}");
    }
    let steps = steps as usize;
    let t = Tensor::for_overwrite(&[steps], DType::F64, Device::Cpu)?;
    let step = if steps > 1 {
        (end - start) / (steps - 1) as f64
    } else {
        0.0
    };
    for (i, v) in t.storage().as_mut_slice::<f64>().iter_mut().enumerate() {
        *v = if i + 1 == steps && steps > 1 {
            end
        } else {
            start + i as f64 * step
        };
    }
    to_device(
        &to_dtype(&t, dtype.unwrap_or_else(crate::dtype::default_float))?,
        device,
    )
}

/// `torch.eye(n, m)`.
pub fn eye(n: i64, m: Option<i64>, dtype: Option<DType>, device: Device) -> Result<Tensor> {
    let m = m.unwrap_or(n);
    if n < 0 {
        bail!(Runtime, "n must be greater or equal to 0, got {n}");
    }
    if m < 0 {
        bail!(Runtime, "m must be greater or equal to 0, got {m}");
    }
    let (n, m) = (n as usize, m as usize);
    let t = Tensor::zeros(&[n, m], DType::F64, Device::Cpu)?;
    let data = t.storage().as_mut_slice::<f64>();
    for i in 0..n.min(m) {
        data[i * m + i] = 1.0;
    }
    to_device(
        &to_dtype(&t, dtype.unwrap_or_else(crate::dtype::default_float))?,
        device,
    )
}

/// `torch.full(size, fill_value)`: the value must fit the dtype, as PyTorch checks.
pub fn full(
    shape: &[usize],
    value: Scalar,
    dtype: Option<DType>,
    device: Device,
) -> Result<Tensor> {
    let dtype = dtype.unwrap_or(match value {
        Scalar::Bool(_) => DType::Bool,
        Scalar::Int(_) => DType::I64,
        Scalar::Float(_) => crate::dtype::default_float(),
    });
    check_fits(value, dtype)?;
    Tensor::full(shape, value.value(), dtype, device)
}

/// PyTorch's "value cannot be converted to type ... without overflow" for a Python number
/// written into a tensor of `dtype` (infinities and NaN are fine in float dtypes).
pub fn check_fits(value: Scalar, dtype: DType) -> Result<()> {
    let fits = match (value, dtype) {
        (_, DType::Bool) | (Scalar::Bool(_), _) => true,
        (Scalar::Int(_), DType::I64) => true,
        (Scalar::Int(i), DType::I32) => i32::try_from(i).is_ok(),
        (Scalar::Float(f), DType::I64) => {
            f.is_finite() && f >= -9.223372036854776e18 && f < 9.223372036854776e18
        }
        (Scalar::Float(f), DType::I32) => f.is_finite() && f > -2147483649.0 && f < 2147483648.0,
        (v, d) => {
            let f = v.value();
            let max = match d {
                DType::F16 => 65504.0,
                DType::BF16 | DType::F32 => f32::MAX as f64,
                _ => f64::MAX,
            };
            !f.is_finite() || f.abs() <= max
        }
    };
    if !fits {
        let v = match value {
            Scalar::Int(i) => i.to_string(),
            other => other.value().to_string(),
        };
        bail!(
            Runtime,
            "value cannot be converted to type {} without overflow: {v}",
            dtype.name()
        );
    }
    Ok(())
}
