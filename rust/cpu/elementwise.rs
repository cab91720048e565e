//! Elementwise CPU kernels: unary, binary (broadcast), where, clamp, casts and strided copies.

use super::scalar::{Float, Num};
use super::strided::{OutPtr, Walk};
use super::threads::Limited;
use crate::bail;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::layout::Layout;
use crate::op::{BinaryOp, UnaryOp};
use crate::storage::Device;
use crate::tensor::Tensor;
use rayon::prelude::*;

fn out_ptr<U: Element>(out: &Tensor) -> OutPtr<U> {
    OutPtr(out.storage().as_mut_slice::<U>().as_mut_ptr())
}

/// `out[i] = f(x[i])` over any view of `x`.
pub fn map1<T: Element, U: Element>(x: &Tensor, f: impl Fn(T) -> U + Sync) -> Result<Tensor> {
    let out = Tensor::for_overwrite(x.shape(), U::DTYPE, Device::Cpu)?;
    let walk = Walk::new(x.shape(), [x.layout()]);
    let [s] = walk.inner_strides();
    let (src, dst) = (x.storage().as_slice::<T>(), out_ptr::<U>(&out));
    walk.run(|o, [i], n| {
        // SAFETY: the walk hands out disjoint output segments.
        let d = unsafe { dst.range(o, n) };
        if s == 1 {
            for (d, &v) in d.iter_mut().zip(&src[i..i + n]) {
                *d = f(v);
            }
        } else {
            for (j, d) in d.iter_mut().enumerate() {
                *d = f(src[i + j * s]);
            }
        }
    });
    Ok(out)
}

/// `out[i] = f(a[i], b[i])` with `a` and `b` broadcast to `out`'s shape; `out` is a
/// contiguous tensor of `U` (fresh, or a caller's `out=` tensor).
pub fn map2<T: Element, U: Element>(
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
    f: impl Fn(T, T) -> U + Sync,
) -> Result<()> {
    let shape = out.shape();
    let base = out.layout().offset;
    if a.numel() == 1 && b.numel() == 1 && out.numel() == 1 {
        // One element each (Python-loop scalars): no walk to set up.
        let (x, y) = (
            a.storage().as_slice::<T>()[a.layout().offset],
            b.storage().as_slice::<T>()[b.layout().offset],
        );
        out.storage().as_mut_slice::<U>()[base] = f(x, y);
        return Ok(());
    }
    let (la, lb) = (a.layout().expand(shape)?, b.layout().expand(shape)?);
    let walk = Walk::new(shape, [&la, &lb]);
    let [sa, sb] = walk.inner_strides();
    // SAFETY: `out` is contiguous, so its elements are base..base+numel of its storage.
    let dst = OutPtr(unsafe { out.storage().as_mut_slice::<U>().as_mut_ptr().add(base) });
    let (xa, xb) = (a.storage().as_slice::<T>(), b.storage().as_slice::<T>());
    walk.run(|o, [ia, ib], n| {
        // SAFETY: the walk hands out disjoint output segments.
        let d = unsafe { dst.range(o, n) };
        match (sa, sb) {
            (1, 1) => {
                for ((d, &x), &y) in d.iter_mut().zip(&xa[ia..ia + n]).zip(&xb[ib..ib + n]) {
                    *d = f(x, y);
                }
            }
            (1, 0) => {
                let y = xb[ib];
                for (d, &x) in d.iter_mut().zip(&xa[ia..ia + n]) {
                    *d = f(x, y);
                }
            }
            (0, 1) => {
                let x = xa[ia];
                for (d, &y) in d.iter_mut().zip(&xb[ib..ib + n]) {
                    *d = f(x, y);
                }
            }
            _ => {
                for (j, d) in d.iter_mut().enumerate() {
                    *d = f(xa[ia + j * sa], xb[ib + j * sb]);
                }
            }
        }
    });
    Ok(())
}

fn unary_float<T: Float>(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let (zero, one, half) = (T::zero(), T::ONE, T::from_f32(0.5));
    let sqrt_half = T::from_value(std::f64::consts::FRAC_1_SQRT_2);
    let k = T::from_value((2.0 / std::f64::consts::PI).sqrt());
    let c = T::from_value(0.044715);
    let twenty = T::from_f32(20.0);
    let sigmoid = move |v: T| one.div(one + (v.neg()).exp());
    match op {
        UnaryOp::Neg => map1(x, |v: T| v.neg()),
        UnaryOp::Abs => map1(x, |v: T| v.abs()),
        UnaryOp::Exp => map1(x, |v: T| v.exp()),
        UnaryOp::Log => map1(x, |v: T| v.ln()),
        UnaryOp::Log1p => map1(x, |v: T| v.ln_1p()),
        UnaryOp::Expm1 => map1(x, |v: T| v.exp_m1()),
        UnaryOp::Sqrt => map1(x, |v: T| v.sqrt()),
        UnaryOp::Rsqrt => map1(x, |v: T| one.div(v.sqrt())),
        UnaryOp::Sin => map1(x, |v: T| v.sin()),
        UnaryOp::Cos => map1(x, |v: T| v.cos()),
        UnaryOp::Tanh => map1(x, |v: T| v.tanh()),
        UnaryOp::Sigmoid => map1(x, sigmoid),
        UnaryOp::Relu => map1(x, |v: T| if v < zero { zero } else { v }),
        UnaryOp::GeluErf => map1(x, |v: T| half * v * (one + (v * sqrt_half).erf())),
        UnaryOp::GeluTanh => map1(x, |v: T| {
            half * v * (one + (k * (v + c * v * v * v)).tanh())
        }),
        UnaryOp::Silu => map1(x, |v: T| v * sigmoid(v)),
        UnaryOp::Softplus => map1(x, |v: T| if v > twenty { v } else { v.exp().ln_1p() }),
        UnaryOp::Erf => map1(x, |v: T| v.erf()),
        UnaryOp::Sign => map1(x, |v: T| v.sign()),
        UnaryOp::Floor => map1(x, |v: T| v.floor()),
        UnaryOp::Ceil => map1(x, |v: T| v.ceil()),
        UnaryOp::Round => map1(x, |v: T| v.round_even()),
        UnaryOp::Trunc => map1(x, |v: T| if v >= zero { v.floor() } else { v.ceil() }),
        UnaryOp::Reciprocal => map1(x, |v: T| one.div(v)),
        UnaryOp::LogicalNot => map1(x, |v: T| v == zero),
        // `unary` answers bitwise_not on floats with an error before dispatching here.
        UnaryOp::BitwiseNot => unreachable!("bitwise_not on a float tensor"),
    }
}

fn unary_int<T: Num>(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    let zero = T::zero();
    match op {
        UnaryOp::Neg => map1(x, |v: T| v.neg()),
        UnaryOp::Abs => map1(x, |v: T| v.abs()),
        UnaryOp::Sign => map1(x, |v: T| v.sign()),
        UnaryOp::Relu => map1(x, |v: T| if v < zero { zero } else { v }),
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round | UnaryOp::Trunc => map1(x, |v: T| v),
        UnaryOp::LogicalNot => map1(x, |v: T| v == zero),
        _ => bail!(
            DType,
            "\"{}\" not implemented for '{}'",
            op.name(),
            x.dtype().name()
        ),
    }
}

/// A unary op on a CPU tensor; float-only ops expect a float input (the tensor layer promotes).
pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    match (op, x.dtype()) {
        (UnaryOp::BitwiseNot, DType::I64) => return map1(x, |v: i64| !v),
        (UnaryOp::BitwiseNot, DType::I32) => return map1(x, |v: i32| !v),
        (UnaryOp::BitwiseNot, DType::Bool) => return map1(x, |v: bool| !v),
        (UnaryOp::BitwiseNot, d) => {
            bail!(DType, "\"bitwise_not\" not implemented for '{}'", d.name())
        }
        _ => {}
    }
    match x.dtype() {
        DType::F32 => unary_float::<f32>(op, x),
        DType::F64 => unary_float::<f64>(op, x),
        DType::I64 => unary_int::<i64>(op, x),
        DType::I32 => unary_int::<i32>(op, x),
        DType::Bool => match op {
            UnaryOp::LogicalNot => map1(x, |v: bool| !v),
            UnaryOp::Abs
            | UnaryOp::Relu
            | UnaryOp::Floor
            | UnaryOp::Ceil
            | UnaryOp::Round
            | UnaryOp::Trunc
            | UnaryOp::Sign => map1(x, |v: bool| v),
            _ => bail!(DType, "\"{}\" not implemented for 'bool'", op.name()),
        },
        DType::F16 | DType::BF16 => unreachable!("half tensors compute in float32"),
    }
}

fn binary_num<T: Num>(op: BinaryOp, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    match op {
        BinaryOp::Add => map2(a, b, out, |x: T, y: T| x + y),
        BinaryOp::Sub => map2(a, b, out, |x: T, y: T| x - y),
        BinaryOp::Mul => map2(a, b, out, |x: T, y: T| x * y),
        BinaryOp::Div => map2(a, b, out, |x: T, y: T| x.div(y)),
        BinaryOp::Pow => map2(a, b, out, |x: T, y: T| x.pow(y)),
        BinaryOp::Maximum => map2(a, b, out, |x: T, y: T| x.max_(y)),
        BinaryOp::Minimum => map2(a, b, out, |x: T, y: T| x.min_(y)),
        BinaryOp::Remainder => map2(a, b, out, |x: T, y: T| x.rem(y)),
        BinaryOp::FloorDivide => map2(a, b, out, |x: T, y: T| x.floor_div(y)),
        // As PyTorch's threshold_backward: 0 where y <= 0, so a NaN output passes its gradient.
        BinaryOp::ReluBackward => map2(
            a,
            b,
            out,
            |g: T, y: T| {
                if y <= T::zero() {
                    T::zero()
                } else {
                    g
                }
            },
        ),
        _ => compare::<T>(op, a, b, out),
    }
}

fn compare<T: Element>(op: BinaryOp, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    match op {
        BinaryOp::Eq => map2(a, b, out, |x: T, y: T| x == y),
        BinaryOp::Ne => map2(a, b, out, |x: T, y: T| x != y),
        BinaryOp::Lt => map2(a, b, out, |x: T, y: T| x < y),
        BinaryOp::Le => map2(a, b, out, |x: T, y: T| x <= y),
        BinaryOp::Gt => map2(a, b, out, |x: T, y: T| x > y),
        BinaryOp::Ge => map2(a, b, out, |x: T, y: T| x >= y),
        _ => bail!(
            DType,
            "\"{}\" not implemented for '{}'",
            op.name(),
            a.dtype().name()
        ),
    }
}

/// A binary op on two CPU tensors of one dtype (the tensor layer promotes), broadcast to `shape`.
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let dtype = if op.is_comparison() || op.is_logical() {
        DType::Bool
    } else {
        a.dtype()
    };
    let out = Tensor::for_overwrite(shape, dtype, Device::Cpu)?;
    binary_into(op, a, b, &out)?;
    Ok(out)
}

/// `binary` writing into `out` (contiguous, of the result dtype, of the broadcast shape).
pub fn binary_into(op: BinaryOp, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    if op.is_bitwise() {
        return match (a.dtype(), op) {
            (DType::I64, BinaryOp::BitwiseAnd) => map2(a, b, out, |x: i64, y: i64| x & y),
            (DType::I64, BinaryOp::BitwiseOr) => map2(a, b, out, |x: i64, y: i64| x | y),
            (DType::I64, _) => map2(a, b, out, |x: i64, y: i64| x ^ y),
            (DType::I32, BinaryOp::BitwiseAnd) => map2(a, b, out, |x: i32, y: i32| x & y),
            (DType::I32, BinaryOp::BitwiseOr) => map2(a, b, out, |x: i32, y: i32| x | y),
            (DType::I32, _) => map2(a, b, out, |x: i32, y: i32| x ^ y),
            (DType::Bool, BinaryOp::BitwiseAnd) => map2(a, b, out, |x: bool, y: bool| x & y),
            (DType::Bool, BinaryOp::BitwiseOr) => map2(a, b, out, |x: bool, y: bool| x | y),
            (DType::Bool, _) => map2(a, b, out, |x: bool, y: bool| x ^ y),
            (d, _) => bail!(
                DType,
                "\"{}\" not implemented for '{}'",
                op.name(),
                d.name()
            ),
        };
    }
    match (a.dtype(), op) {
        (DType::F32, BinaryOp::Atan2) => map2(a, b, out, |x: f32, y: f32| x.atan2(y)),
        (DType::F64, BinaryOp::Atan2) => map2(a, b, out, |x: f64, y: f64| x.atan2(y)),
        (DType::F32, _) => binary_num::<f32>(op, a, b, out),
        (DType::F64, _) => binary_num::<f64>(op, a, b, out),
        (DType::I64, _) => binary_num::<i64>(op, a, b, out),
        (DType::I32, _) => binary_num::<i32>(op, a, b, out),
        (DType::Bool, BinaryOp::LogicalAnd | BinaryOp::Mul | BinaryOp::Minimum) => {
            map2(a, b, out, |x: bool, y: bool| x & y)
        }
        (DType::Bool, BinaryOp::LogicalOr | BinaryOp::Add | BinaryOp::Maximum) => {
            map2(a, b, out, |x: bool, y: bool| x | y)
        }
        (DType::Bool, BinaryOp::LogicalXor) => map2(a, b, out, |x: bool, y: bool| x ^ y),
        (DType::Bool, _) => compare::<bool>(op, a, b, out),
        (DType::F16 | DType::BF16, _) => unreachable!("half tensors compute in float32"),
    }
}

/// `cond ? a : b`, all broadcast to `shape`; `a` and `b` share a dtype.
pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let (lc, la, lb) = (
        cond.layout().expand(shape)?,
        a.layout().expand(shape)?,
        b.layout().expand(shape)?,
    );
    let out = Tensor::for_overwrite(shape, a.dtype(), Device::Cpu)?;
    let walk = Walk::new(shape, [&lc, &la, &lb]);
    let [sc, sa, sb] = walk.inner_strides();
    let c = cond.storage().as_slice::<bool>();
    with_dtype!(a.dtype(), T, {
        let (xa, xb, dst) = (
            a.storage().as_slice::<T>(),
            b.storage().as_slice::<T>(),
            out_ptr::<T>(&out),
        );
        walk.run(|o, [ic, ia, ib], n| {
            // SAFETY: disjoint output segments.
            let d = unsafe { dst.range(o, n) };
            for (j, d) in d.iter_mut().enumerate() {
                *d = if c[ic + j * sc] {
                    xa[ia + j * sa]
                } else {
                    xb[ib + j * sb]
                };
            }
        });
    });
    Ok(out)
}

/// A contiguous copy of `x` converted to `dtype`.
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    if x.dtype() == dtype && is_transposed_matrix(x) {
        return with_dtype!(dtype, T, { transpose_copy::<T>(x) });
    }
    if x.dtype() == dtype {
        return with_dtype!(dtype, T, { map1(x, |v: T| v) });
    }
    with_dtype!(x.dtype(), S, {
        with_dtype!(dtype, D, { map1(x, |v: S| D::from_value(v.to_f64())) })
    })
}

/// True when the last two dims step as a column-major matrix (a transposed view): a plain
/// row-major walk would read with a large stride, so `transpose_copy` tiles instead.
fn is_transposed_matrix(x: &Tensor) -> bool {
    let (n, l) = (x.ndim(), x.layout());
    n >= 2
        && l.strides[n - 2] == 1
        && l.strides[n - 1] > 1
        && l.shape[n - 2] >= 16
        && l.shape[n - 1] >= 16
}

/// A contiguous copy of a (batched) transposed matrix view, in small tiles: with power-of-two
/// strides, more than 8 rows of a tile would fall into one L1 set and evict each other.
fn transpose_copy<T: Element>(x: &Tensor) -> Result<Tensor> {
    const TILE: usize = 8;
    let n = x.ndim();
    let l = x.layout();
    let (rows, cols, cs) = (l.shape[n - 2], l.shape[n - 1], l.strides[n - 1]);
    let out = Tensor::for_overwrite(&l.shape, T::DTYPE, Device::Cpu)?;
    let batch = Layout {
        shape: l.shape[..n - 2].to_vec(),
        strides: l.strides[..n - 2].to_vec(),
        offset: l.offset,
    };
    let offsets: Vec<usize> = batch.indices().collect();
    let src = x.storage().as_slice::<T>();
    let dst = out_ptr::<T>(&out);
    let one = |b: usize, base: usize| {
        // SAFETY: batch entry `b` owns its rows*cols block of the fresh output.
        let d = unsafe { dst.range(b * rows * cols, rows * cols) };
        for i0 in (0..rows).step_by(TILE) {
            for j0 in (0..cols).step_by(TILE) {
                for i in i0..(i0 + TILE).min(rows) {
                    let row = &mut d[i * cols..(i + 1) * cols];
                    for j in j0..(j0 + TILE).min(cols) {
                        row[j] = src[base + j * cs + i];
                    }
                }
            }
        }
    };
    if offsets.len() > 1 {
        offsets
            .par_iter()
            .enumerate()
            .within_limit()
            .for_each(|(b, &o)| one(b, o));
    } else {
        one(0, offsets[0]);
    }
    Ok(out)
}

/// Writes `src` (broadcast to `dst`'s shape, same dtype) into the view `dst`.
pub fn copy_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let shape = dst.shape().to_vec();
    // Copy through a temporary when the two views share storage, so overlap cannot corrupt.
    let src = if src.storage().same(dst.storage()) {
        cast(src, src.dtype())?
    } else {
        src.clone()
    };
    let ls = src.layout().expand(&shape)?;
    let walk = Walk::new(&shape, [dst.layout(), &ls]);
    let [sd, ss] = walk.inner_strides();
    with_dtype!(dst.dtype(), T, {
        let s = src.storage().as_slice::<T>();
        let d = OutPtr(dst.storage().as_mut_slice::<T>().as_mut_ptr());
        walk.run(|_, [id, is], n| {
            for j in 0..n {
                // SAFETY: each destination element is written once, by one segment.
                unsafe { *d.get().add(id + j * sd) = s[is + j * ss] };
            }
        });
    });
    Ok(())
}

/// Clamps into `[min, max]` (either side optional), in the tensor's own dtype.
pub fn clamp(x: &Tensor, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
    fn go<T: Num>(x: &Tensor, min: Option<f64>, max: Option<f64>) -> Result<Tensor> {
        let lo = min.map(T::from_value).unwrap_or(T::lowest());
        let hi = max.map(T::from_value).unwrap_or(T::highest());
        map1(
            x,
            move |v: T| if v.is_nan() { v } else { v.max_(lo).min_(hi) },
        )
    }
    match x.dtype() {
        DType::F32 => go::<f32>(x, min, max),
        DType::F64 => go::<f64>(x, min, max),
        DType::I64 => go::<i64>(x, min, max),
        DType::I32 => go::<i32>(x, min, max),
        d => bail!(DType, "clamp is not implemented for '{}'", d.name()),
    }
}
