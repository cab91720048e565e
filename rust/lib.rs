//! ember's core: tensors, CPU kernels and the autograd tape, with Python bindings behind the
//! `python` feature (the only place that knows about Python).

pub mod error;
#[macro_use]
pub mod dtype;
pub mod autograd;
pub mod backend;
pub mod cpu;
pub mod gpu;
pub mod layout;
pub mod op;
pub mod ops;
pub mod optim;
pub mod random;
pub mod shape;
pub mod storage;
pub mod tensor;

#[cfg(feature = "python")]
mod python;

pub use dtype::DType;
pub use error::{Error, Result};
pub use storage::Device;
pub use tensor::Tensor;

#[cfg(test)]
mod core_tests;
