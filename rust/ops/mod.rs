//! The tensor-level ops: argument checks, dtype promotion, device dispatch and tape recording.

pub mod creation;
pub mod elementwise;
pub mod index;
pub mod linalg;
pub mod nn;
pub mod reduce;
pub mod view;

pub use elementwise::Scalar;

use crate::bail;
use crate::error::Result;
use crate::tensor::Tensor;

/// All tensors of one op must share a device.
pub fn same_device(op: &str, ts: &[&Tensor]) -> Result<()> {
    if let Some(first) = ts.first() {
        for t in &ts[1..] {
            if t.device() != first.device() {
                bail!(
                    Device,
                    "Expected all tensors to be on the same device, but found at least two devices, {} and {}! (when checking arguments for {op})",
                    first.device(),
                    t.device()
                );
            }
        }
    }
    Ok(())
}

/// PyTorch lets a 0-d CPU tensor join an op whose other tensors live on a GPU (it is read as
/// a scalar): such operands are moved to that device. Anything else is left for
/// `same_device` to refuse.
pub fn with_cpu_scalars_moved(ts: &[&Tensor]) -> Result<Vec<Tensor>> {
    use crate::storage::Device;
    let target = ts.iter().map(|t| t.device()).find(|&d| d != Device::Cpu);
    let Some(target) = target else {
        return Ok(ts.iter().map(|&t| t.clone()).collect());
    };
    ts.iter()
        .map(|&t| {
            if t.device() == Device::Cpu && t.ndim() == 0 {
                elementwise::to_device(t, target)
            } else {
                Ok(t.clone())
            }
        })
        .collect()
}
