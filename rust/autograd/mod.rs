//! Reverse-mode autograd: the tape (nodes recorded by ops), the gradient rules, and the engine.

pub mod backward;
pub mod engine;
pub mod tape;

pub use engine::{backward, grad, queue_callback};
pub use tape::{is_grad_enabled, set_grad_enabled, GradModeGuard};
