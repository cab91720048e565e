//! The CPU backend: strided walks with contiguous fast paths, rayon for large tensors, gemm for matmul.

pub mod attention;
pub mod conv;
pub mod elementwise;
pub mod fused;
pub mod index;
pub mod matmul;
pub mod nn;
pub mod optim;
pub mod reduce;
pub mod scalar;
pub mod strided;
pub mod threads;
