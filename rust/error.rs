//! The one error type of the core; the bindings map each kind to a Python exception.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// What went wrong, grouped by the Python exception it becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Incompatible shapes or bad dimensions (ValueError / RuntimeError in PyTorch; we use RuntimeError).
    Shape(String),
    /// A dtype an op cannot take (RuntimeError, as PyTorch's kernels report it).
    DType(String),
    /// Tensors on different devices, or an unknown device (RuntimeError).
    Device(String),
    /// An index out of range (IndexError).
    Index(String),
    /// A bad argument value (ValueError).
    Value(String),
    /// Autograd misuse: backward through a freed graph, a modified saved tensor (RuntimeError).
    Autograd(String),
    /// A misuse PyTorch reports as a plain RuntimeError.
    Runtime(String),
    /// Allocation failure (RuntimeError, like torch.OutOfMemoryError).
    OutOfMemory(String),
    /// An error raised by caller code the core ran (a gradient hook), carried through unchanged
    /// so the caller gets its own exception back; the core never looks inside.
    Foreign(Foreign),
}

/// An opaque error value from outside the core, with a description for Display.
#[derive(Clone)]
pub struct Foreign {
    pub payload: Arc<dyn Any + Send + Sync>,
    pub description: String,
}

impl fmt::Debug for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Foreign({})", self.description)
    }
}

impl PartialEq for Foreign {
    fn eq(&self, other: &Foreign) -> bool {
        Arc::ptr_eq(&self.payload, &other.payload)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(m)
            | Error::DType(m)
            | Error::Device(m)
            | Error::Index(m)
            | Error::Value(m)
            | Error::Autograd(m)
            | Error::Runtime(m)
            | Error::OutOfMemory(m) => f.write_str(m),
            Error::Foreign(e) => f.write_str(&e.description),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthands that keep error construction on one line at the call site.
#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::error::Error::$kind(format!($($arg)*)))
    };
}
