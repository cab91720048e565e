//! Matrix products on the CPU: the `gemm` crate (AVX-512 when present, multi-threaded) for
//! floats, a plain loop for integers; batched with broadcast batch dims and any strides.

use super::scalar::Num;
use super::strided::OutPtr;
use super::threads::Limited;
use crate::dtype::DType;
use crate::error::Result;
use crate::layout::Layout;
use crate::storage::Device;
use crate::tensor::Tensor;
use gemm::Parallelism;
use rayon::prelude::*;

/// Storage offsets of each matrix of a batched view, in row-major batch order.
fn batch_offsets(l: &Layout, batch: &[usize]) -> Vec<usize> {
    let nb = batch.len();
    let ex = l
        .expand(&[batch, &l.shape[l.ndim() - 2..]].concat())
        .expect("broadcast batch");
    Layout {
        shape: batch.to_vec(),
        strides: ex.strides[..nb].to_vec(),
        offset: ex.offset,
    }
    .indices()
    .collect()
}

fn gemm_t<T: Num>(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    let (la, lb) = (a.layout(), b.layout());
    let (m, k, n) = (
        la.shape[la.ndim() - 2],
        la.shape[la.ndim() - 1],
        lb.shape[lb.ndim() - 1],
    );
    let (a_rs, a_cs) = (
        la.strides[la.ndim() - 2] as isize,
        la.strides[la.ndim() - 1] as isize,
    );
    let (b_rs, b_cs) = (
        lb.strides[lb.ndim() - 2] as isize,
        lb.strides[lb.ndim() - 1] as isize,
    );
    let shape = [batch, &[m, n]].concat();
    // With k == 0 the product is all zeros and no kernel runs, so only then zero the memory.
    let out = if k == 0 {
        Tensor::zeros(&shape, T::DTYPE, Device::Cpu)?
    } else {
        Tensor::for_overwrite(&shape, T::DTYPE, Device::Cpu)?
    };
    if m * n == 0 {
        return Ok(out);
    }
    let (oa, ob) = (batch_offsets(la, batch), batch_offsets(lb, batch));
    let (pa, pb) = (
        a.storage().as_slice::<T>().as_ptr() as usize,
        b.storage().as_slice::<T>().as_ptr() as usize,
    );
    let dst = OutPtr(out.storage().as_mut_slice::<T>().as_mut_ptr());
    let flops = m * n * k;
    let one = |i: usize, par: Parallelism| {
        let (pa, pb) = (pa as *const T, pb as *const T);
        // SAFETY: offsets and strides come from valid layouts of these storages; each batch
        // entry writes its own m*n block of the fresh output.
        unsafe {
            let c = dst.get().add(i * m * n);
            if k == 0 {
                return;
            }
            match T::DTYPE {
                // gemm runs a row-major lhs times a column-major rhs (`x @ w.t()`, as Linear
                // does) at half speed; faer's kernel for that layout runs at full speed.
                DType::F32 | DType::F64
                    if b_rs == 1 && b_cs != 1 && a_cs == 1 && flops >= 1 << 20 =>
                {
                    macro_rules! via_faer {
                        ($e:ty) => {
                            faer_product::<$e>(
                                m,
                                n,
                                k,
                                c as *mut $e,
                                pa.add(oa[i]) as *const $e,
                                a_rs,
                                a_cs,
                                pb.add(ob[i]) as *const $e,
                                b_rs,
                                b_cs,
                                par,
                            )
                        };
                    }
                    if T::DTYPE == DType::F32 {
                        via_faer!(f32)
                    } else {
                        via_faer!(f64)
                    }
                }
                DType::F32 | DType::F64 => gemm::gemm(
                    m,
                    n,
                    k,
                    c,
                    1,
                    n as isize,
                    false,
                    pa.add(oa[i]),
                    a_cs,
                    a_rs,
                    pb.add(ob[i]),
                    b_cs,
                    b_rs,
                    T::zero(),
                    T::ONE,
                    false,
                    false,
                    false,
                    par,
                ),
                _ => {
                    for r in 0..m {
                        for j in 0..n {
                            let mut acc = T::zero();
                            for p in 0..k {
                                let x = *pa
                                    .add(oa[i] + (r as isize * a_rs + p as isize * a_cs) as usize);
                                let y = *pb
                                    .add(ob[i] + (p as isize * b_rs + j as isize * b_cs) as usize);
                                acc = acc + x * y;
                            }
                            *c.add(r * n + j) = acc;
                        }
                    }
                }
            }
        }
    };
    let count = oa.len();
    if count > 1 && flops < (1 << 20) {
        (0..count)
            .into_par_iter()
            .within_limit()
            .for_each(|i| one(i, Parallelism::None));
    } else {
        let par = if flops >= (1 << 16) {
            super::threads::gemm_parallelism()
        } else {
            Parallelism::None
        };
        (0..count).for_each(|i| one(i, par));
    }
    Ok(out)
}

/// `c (m x n, row-major) = a (m x k) @ b (k x n)` through faer, for the strided layouts gemm
/// handles slowly.
///
/// # Safety
/// The pointers and strides must describe valid matrices; `c` is written only.
#[allow(clippy::too_many_arguments)]
unsafe fn faer_product<E: faer::traits::ComplexField + Copy>(
    m: usize,
    n: usize,
    k: usize,
    c: *mut E,
    a: *const E,
    a_rs: isize,
    a_cs: isize,
    b: *const E,
    b_rs: isize,
    b_cs: isize,
    par: Parallelism,
) {
    let lhs = faer::MatRef::from_raw_parts(a, m, k, a_rs, a_cs);
    let rhs = faer::MatRef::from_raw_parts(b, k, n, b_rs, b_cs);
    let dst = faer::MatMut::from_raw_parts_mut(c, m, n, n as isize, 1);
    let par = match par {
        Parallelism::None => faer::Par::Seq,
        Parallelism::Rayon(n) => faer::Par::rayon(n),
    };
    faer::linalg::matmul::matmul(dst, faer::Accum::Replace, lhs, rhs, E::one_impl(), par);
}

/// `a @ b` for `a: [..., m, k]`, `b: [..., k, n]` (same dtype) with batch dims broadcast to `batch`.
pub fn matmul(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Tensor> {
    match a.dtype() {
        DType::F32 => gemm_t::<f32>(a, b, batch),
        DType::F64 => gemm_t::<f64>(a, b, batch),
        DType::I64 => gemm_t::<i64>(a, b, batch),
        DType::I32 => gemm_t::<i32>(a, b, batch),
        d => crate::bail!(DType, "\"matmul\" not implemented for '{}'", d.name()),
    }
}

/// `x @ w.t() + b` for a 2-D x, w [n, k] and an optional bias [n] of the same float dtype: the
/// product, then the bias added to each of its rows.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let out = matmul(x, &w.with_layout(w.layout().transpose(0, 1)), &[])?;
    let Some(b) = b else {
        return Ok(out);
    };
    fn add_rows<T: Num>(out: &Tensor, b: &Tensor) {
        let bias: Vec<T> = b.to_vec();
        if bias.is_empty() {
            return;
        }
        let add = |row: &mut [T]| {
            for (o, &v) in row.iter_mut().zip(&bias) {
                *o = *o + v;
            }
        };
        let rows = out.storage().as_mut_slice::<T>();
        // Threads only where there is enough to share: a small batch's rows take less time
        // than waking them.
        if rows.len() >= 1 << 16 {
            rows.par_chunks_mut(bias.len()).within_limit().for_each(add);
        } else {
            rows.chunks_mut(bias.len()).for_each(add);
        }
    }
    match out.dtype() {
        DType::F32 => add_rows::<f32>(&out, b),
        DType::F64 => add_rows::<f64>(&out, b),
        d => crate::bail!(DType, "\"linear\" not implemented for '{}'", d.name()),
    }
    Ok(out)
}
