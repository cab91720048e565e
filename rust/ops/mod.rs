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
