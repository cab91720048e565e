//! Every gradient rule, in one exhaustive match over the op table. Rules are written with tensor
//! ops, so they record when grad mode is on: that is how `create_graph` gives second derivatives.

use super::tape::Node;
use crate::error::Result;
use crate::op::{BinaryOp as B, Op, ReduceOp as R, UnaryOp as U};
use crate::ops::elementwise::{
    binary, binary_scalar, scalar_binary, to_dtype, unary, where_, Scalar,
};
use crate::ops::{index, reduce, view};
use crate::tensor::Tensor;
use std::sync::Arc;

fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(B::Mul, a, b)
}
fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(B::Add, a, b)
}
fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(B::Sub, a, b)
}
fn div(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(B::Div, a, b)
}
fn muls(a: &Tensor, s: f64) -> Result<Tensor> {
    binary_scalar(B::Mul, a, Scalar::Float(s))
}
fn adds(a: &Tensor, s: f64) -> Result<Tensor> {
    binary_scalar(B::Add, a, Scalar::Float(s))
}
fn un(op: U, a: &Tensor) -> Result<Tensor> {
    unary(op, a)
}
/// A float 0/1 mask of the same dtype as `like`.
fn mask(cond: &Tensor, like: &Tensor) -> Result<Tensor> {
    to_dtype(cond, like.dtype())
}
fn zeros_like(t: &Tensor) -> Result<Tensor> {
    Tensor::zeros(t.shape(), t.dtype(), t.device())
}

/// Sums a broadcast gradient back to `shape` (the one helper for broadcasting in backward).
pub fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.ndim() - shape.len();
    let mut dims: Vec<isize> = (0..lead as isize).collect();
    for (i, &s) in shape.iter().enumerate() {
        if s == 1 && g.shape()[lead + i] != 1 {
            dims.push((lead + i) as isize);
        }
    }
    let s = if dims.is_empty() {
        g.clone()
    } else {
        reduce::sum(g, &dims, true)?
    };
    view::reshape(&s, &shape.iter().map(|&v| v as isize).collect::<Vec<_>>())
}

/// Re-inserts reduced dims into `g` and broadcasts it to `shape`.
fn unreduce(g: &Tensor, dims: &[usize], keepdim: bool, shape: &[usize]) -> Result<Tensor> {
    let mut g = g.clone();
    if !keepdim {
        for &d in dims {
            g = view::unsqueeze(&g, d as isize)?;
        }
    }
    view::expand(&g, &shape.iter().map(|&v| v as isize).collect::<Vec<_>>())
}

/// The gradient of each input of `node`, given the gradient `g` of its output.
pub fn backward(node: &Arc<Node>, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let s = Node::unpack(node)?;
    let inp = &node.inputs;
    let want = |i: usize| node.edges.get(i).is_some_and(|e| e.is_some());
    let one = |t: Result<Tensor>| -> Result<Vec<Option<Tensor>>> { Ok(vec![Some(t?)]) };
    match &node.op {
        Op::Unary(op) => {
            // The output is saved last; the input first, only for ops whose rule reads it.
            let (x, out) = (&s[0], &s[s.len() - 1]);
            match op {
                U::Neg => one(un(U::Neg, g)),
                U::Abs => one(mul(g, &un(U::Sign, x)?)),
                U::Exp => one(mul(g, out)),
                U::Log => one(div(g, x)),
                U::Log1p => one(div(g, &adds(x, 1.0)?)),
                U::Expm1 => one(mul(g, &adds(out, 1.0)?)),
                U::Sqrt => one(div(&muls(g, 0.5)?, out)),
                U::Rsqrt => one(mul(&muls(g, -0.5)?, &mul(out, &mul(out, out)?)?)),
                U::Sin => one(mul(g, &un(U::Cos, x)?)),
                U::Cos => one(mul(g, &un(U::Neg, &un(U::Sin, x)?)?)),
                U::Tanh => one(mul(
                    g,
                    &scalar_binary(B::Sub, Scalar::Float(1.0), &mul(out, out)?)?,
                )),
                U::Sigmoid => one(mul(
                    g,
                    &mul(out, &scalar_binary(B::Sub, Scalar::Float(1.0), out)?)?,
                )),
                // The gradient passes where the output is positive: one fused kernel.
                U::Relu => one(binary(B::ReluBackward, g, out)),
                U::GeluErf => {
                    let cdf = muls(
                        &adds(
                            &un(U::Erf, &muls(x, std::f64::consts::FRAC_1_SQRT_2)?)?,
                            1.0,
                        )?,
                        0.5,
                    )?;
                    let pdf = muls(
                        &un(U::Exp, &muls(&mul(x, x)?, -0.5)?)?,
                        1.0 / (2.0 * std::f64::consts::PI).sqrt(),
                    )?;
                    one(mul(g, &add(&cdf, &mul(x, &pdf)?)?))
                }
                U::GeluTanh => {
                    let k = (2.0 / std::f64::consts::PI).sqrt();
                    let x2 = mul(x, x)?;
                    let inner = muls(&add(x, &muls(&mul(&x2, x)?, 0.044715)?)?, k)?;
                    let t = un(U::Tanh, &inner)?;
                    let dinner = muls(&adds(&muls(&x2, 3.0 * 0.044715)?, 1.0)?, k)?;
                    let sech2 = scalar_binary(B::Sub, Scalar::Float(1.0), &mul(&t, &t)?)?;
                    let d = add(
                        &muls(&adds(&t, 1.0)?, 0.5)?,
                        &mul(&muls(x, 0.5)?, &mul(&sech2, &dinner)?)?,
                    )?;
                    one(mul(g, &d))
                }
                U::Silu => {
                    let sg = un(U::Sigmoid, x)?;
                    let d = mul(
                        &sg,
                        &adds(
                            &mul(x, &scalar_binary(B::Sub, Scalar::Float(1.0), &sg)?)?,
                            1.0,
                        )?,
                    )?;
                    one(mul(g, &d))
                }
                U::Softplus => one(mul(g, &un(U::Sigmoid, x)?)),
                U::Erf => one(mul(
                    g,
                    &muls(
                        &un(U::Exp, &un(U::Neg, &mul(x, x)?)?)?,
                        2.0 / std::f64::consts::PI.sqrt(),
                    )?,
                )),
                U::Reciprocal => one(un(U::Neg, &mul(g, &mul(out, out)?)?)),
                // Piecewise-constant ops are never recorded.
                U::Sign | U::Floor | U::Ceil | U::Round | U::Trunc => one(zeros_like(g)),
                U::LogicalNot | U::BitwiseNot => Ok(vec![None]),
            }
        }
        Op::Binary(op) => {
            // Add and sub save nothing; every other differentiable binary op saves [a, b]
            // (and pow/div their output after them).
            let (a, b) = if s.len() >= 2 { (&s[0], &s[1]) } else { (g, g) };
            let (ga, gb): (Option<Tensor>, Option<Tensor>) = match op {
                B::Add => (Some(g.clone()), Some(g.clone())),
                B::Sub => (Some(g.clone()), Some(un(U::Neg, g)?)),
                B::Mul => (
                    want(0).then(|| mul(g, b)).transpose()?,
                    want(1).then(|| mul(g, a)).transpose()?,
                ),
                B::Div => {
                    let out = &s[2];
                    (
                        want(0).then(|| div(g, b)).transpose()?,
                        want(1)
                            .then(|| un(U::Neg, &div(&mul(g, out)?, b)?))
                            .transpose()?,
                    )
                }
                B::Pow => {
                    let out = &s[2];
                    let ga = want(0)
                        .then(|| {
                            mul(
                                &mul(g, b)?,
                                &binary(B::Pow, a, &binary_scalar(B::Sub, b, Scalar::Float(1.0))?)?,
                            )
                        })
                        .transpose()?;
                    let gb = want(1)
                        .then(|| {
                            // d/db a^b = a^b ln a, taken as 0 where a == 0 (as PyTorch does).
                            let zero = binary_scalar(B::Eq, a, Scalar::Float(0.0))?;
                            let safe = where_(&zero, &Scalar::Float(1.0).tensor_next_to(a)?, a)?;
                            mul(&mul(g, out)?, &un(U::Log, &safe)?)
                        })
                        .transpose()?;
                    (ga, gb)
                }
                B::Maximum | B::Minimum => {
                    let cmp = if *op == B::Maximum { B::Gt } else { B::Lt };
                    let win = mask(&binary(cmp, a, b)?, g)?;
                    let tie = muls(&mask(&binary(B::Eq, a, b)?, g)?, 0.5)?;
                    let wa = add(&win, &tie)?;
                    let wb = scalar_binary(B::Sub, Scalar::Float(1.0), &wa)?;
                    (Some(mul(g, &wa)?), Some(mul(g, &wb)?))
                }
                B::Remainder => (
                    Some(g.clone()),
                    want(1)
                        .then(|| mul(&un(U::Neg, g)?, &binary(B::FloorDivide, a, b)?))
                        .transpose()?,
                ),
                // Linear in the incoming gradient; the mask (relu's output) has none.
                B::ReluBackward => (Some(binary(B::ReluBackward, g, b)?), None),
                B::Atan2 => {
                    let den = add(&mul(a, a)?, &mul(b, b)?)?;
                    (
                        Some(div(&mul(g, b)?, &den)?),
                        Some(un(U::Neg, &div(&mul(g, a)?, &den)?)?),
                    )
                }
                B::FloorDivide
                | B::Eq
                | B::Ne
                | B::Lt
                | B::Le
                | B::Gt
                | B::Ge
                | B::LogicalAnd
                | B::LogicalOr
                | B::LogicalXor
                | B::BitwiseAnd
                | B::BitwiseOr
                | B::BitwiseXor => (None, None),
            };
            Ok(vec![ga, gb])
        }
        Op::Reduce { op, dims, keepdim } => {
            let shape = &inp[0].shape;
            match op {
                R::Sum => one(unreduce(g, dims, *keepdim, shape)),
                R::Prod => {
                    // out / x, except at zeros: there the product of the other elements,
                    // which is non-zero only when that zero is the only one.
                    let (x, out) = (&s[0], &s[1]);
                    let d: Vec<isize> = dims.iter().map(|&v| v as isize).collect();
                    let ge = unreduce(g, dims, *keepdim, shape)?;
                    let zero = binary_scalar(B::Eq, x, Scalar::Float(0.0))?;
                    let ones = Tensor::full(x.shape(), 1.0, x.dtype(), x.device())?;
                    let x_nz = where_(&zero, &ones, x)?;
                    let regular = div(&unreduce(out, dims, *keepdim, shape)?, &x_nz)?;
                    let count = reduce::sum(&mask(&zero, g)?, &d, true)?;
                    let single = mask(&binary_scalar(B::Eq, &count, Scalar::Float(1.0))?, g)?;
                    let others = mul(&single, &reduce::reduce(R::Prod, &x_nz, &d, true)?)?;
                    let at_zero = view::expand(
                        &others,
                        &shape.iter().map(|&v| v as isize).collect::<Vec<_>>(),
                    )?;
                    one(mul(&ge, &where_(&zero, &at_zero, &regular)?))
                }
                R::Max | R::Min => {
                    let (x, out) = (&s[0], &s[1]);
                    let oe = unreduce(out, dims, *keepdim, shape)?;
                    let m = mask(&binary(B::Eq, x, &oe)?, g)?;
                    let d: Vec<isize> = dims.iter().map(|&v| v as isize).collect();
                    let count = reduce::sum(&m, &d, true)?;
                    let ge = unreduce(g, dims, *keepdim, shape)?;
                    one(div(
                        &mul(&ge, &m)?,
                        &view::expand(
                            &count,
                            &shape.iter().map(|&v| v as isize).collect::<Vec<_>>(),
                        )?,
                    ))
                }
                R::ArgMax | R::ArgMin | R::All | R::Any => Ok(vec![None]),
            }
        }
        Op::Cast { from } => one(to_dtype(g, *from)),
        Op::ToDevice { from } => one(crate::ops::elementwise::to_device(g, *from)),
        Op::Reshape { from } => one(view::reshape(
            g,
            &from.iter().map(|&v| v as isize).collect::<Vec<_>>(),
        )),
        Op::Permute { dims } => {
            let mut inv = vec![0isize; dims.len()];
            for (i, &d) in dims.iter().enumerate() {
                inv[d] = i as isize;
            }
            one(view::permute(g, &inv))
        }
        Op::Expand { from } => one(sum_to(g, from)),
        Op::Slice {
            dim,
            start,
            len,
            step,
            from,
            keep_dim,
        } => {
            let g = if *keep_dim {
                g.clone()
            } else {
                view::unsqueeze(g, *dim as isize)?
            };
            one(index::slice_of_zeros(from, *dim, *start, *len, *step, &g))
        }
        Op::SliceAssign {
            dim,
            start,
            len,
            step,
        } => {
            let gb = want(0)
                .then(|| {
                    index::slice_assign(
                        g,
                        *dim,
                        *start,
                        *len,
                        *step,
                        &Tensor::zeros(&[], g.dtype(), g.device())?,
                    )
                })
                .transpose()?;
            let gs = want(1)
                .then(|| sum_to(&view::slice(g, *dim, *start, *len, *step)?, &inp[1].shape))
                .transpose()?;
            Ok(vec![gb, gs])
        }
        Op::Matmul => {
            let (a, b) = (&s[0], &s[1]);
            let mt = |t: &Tensor| view::transpose(t, -1, -2);
            let ga = want(0)
                .then(|| sum_to(&crate::ops::linalg::matmul(g, &mt(b)?)?, &inp[0].shape))
                .transpose()?;
            // The gradient takes b's layout: for a transposed weight (`x @ w.t()`, Linear)
            // (g^T a)^T is a view whose transpose is contiguous, so w's gradient needs no copy.
            let nb = b.ndim();
            let b_col_major = b.layout().strides[nb - 2] == 1 && b.layout().strides[nb - 1] != 1;
            let gb = want(1)
                .then(|| {
                    let r = if b_col_major {
                        mt(&crate::ops::linalg::matmul(&mt(g)?, a)?)?
                    } else {
                        crate::ops::linalg::matmul(&mt(a)?, g)?
                    };
                    sum_to(&r, &inp[1].shape)
                })
                .transpose()?;
            Ok(vec![ga, gb])
        }
        Op::Linear => {
            let [gx, gw, gb] =
                crate::ops::linalg::linear_backward(g, &s[0], &s[1], [want(0), want(1), want(2)])?;
            Ok(vec![gx, gw, gb].into_iter().take(inp.len()).collect())
        }
        Op::Cat { dim, sizes } => {
            let parts = index::split_sizes(g, sizes, *dim as isize)?;
            Ok(parts.into_iter().map(Some).collect())
        }
        Op::Gather { dim } => {
            let idx = &s[0];
            let z = Tensor::zeros(&inp[0].shape, g.dtype(), g.device())?;
            one(index::scatter_add(&z, *dim as isize, idx, g))
        }
        Op::Scatter { dim } => {
            let idx = &s[0];
            let gx = want(0)
                .then(|| index::scatter(g, *dim as isize, idx, &zeros_like(g)?))
                .transpose()?;
            let gs = want(1)
                .then(|| index::gather(g, *dim as isize, idx))
                .transpose()?;
            Ok(vec![gx, gs])
        }
        Op::ScatterAdd { dim } => {
            let idx = &s[0];
            Ok(vec![
                Some(g.clone()),
                want(1)
                    .then(|| index::gather(g, *dim as isize, idx))
                    .transpose()?,
            ])
        }
        Op::Where => {
            let c = &s[0];
            let z = Scalar::Float(0.0).tensor_next_to(g)?;
            let ga = want(0).then(|| where_(c, g, &z)).transpose()?;
            let gb = want(1).then(|| where_(c, &z, g)).transpose()?;
            Ok(vec![ga, gb, None])
        }
        Op::Clamp { min, max } => {
            let x = &s[0];
            let mut keep = Tensor::full(x.shape(), 1.0, g.dtype(), g.device())?;
            if let Some(lo) = min {
                keep = mul(
                    &keep,
                    &mask(&binary_scalar(B::Ge, x, Scalar::Float(*lo))?, g)?,
                )?;
            }
            if let Some(hi) = max {
                keep = mul(
                    &keep,
                    &mask(&binary_scalar(B::Le, x, Scalar::Float(*hi))?, g)?,
                )?;
            }
            one(mul(g, &keep))
        }
        Op::CumSum { dim } => {
            let d = [*dim as isize];
            one(index::flip(
                &reduce::cumsum(&index::flip(g, &d)?, *dim as isize)?,
                &d,
            ))
        }
        Op::Flip { dims } => one(index::flip(
            g,
            &dims.iter().map(|&d| d as isize).collect::<Vec<_>>(),
        )),
        Op::Conv2d { geom } => {
            let (gx, gw) =
                crate::ops::nn::conv2d_backward(geom, &s[0], &s[1], g, want(0), want(1))?;
            Ok(vec![gx, gw])
        }
        Op::CrossEntropy {
            ignore_index,
            smoothing,
            reduction,
        } => one(crate::ops::nn::cross_entropy_backward(
            &s[0],
            &s[1],
            s.get(3),
            g,
            *ignore_index,
            *smoothing,
            *reduction,
            &s[2],
        )),
        Op::Attention { attn } => {
            let (dq, dk, dv) =
                crate::ops::nn::attention_backward(attn, &s[0], &s[1], &s[2], &s[3], g)?;
            Ok(vec![Some(dq), Some(dk), Some(dv)])
        }
        Op::AvgPool2d { geom, include_pad } => one(crate::ops::nn::avg_pool2d_backward(
            geom,
            *include_pad,
            g,
            inp[0].dtype,
        )),
        Op::NormRows { center } => one(crate::ops::nn::norm_rows_backward(
            &s[0], &s[1], &s[2], g, *center,
        )),
        Op::ViewAssign { view } => {
            if crate::autograd::is_grad_enabled() {
                crate::bail!(Autograd, "double backward (create_graph=True) through an in-place write into a view is not supported yet");
            }
            // A fresh contiguous copy of g: the region read out for the value, then zeroed for the base.
            let gc = crate::backend::cast(g, g.dtype())?;
            let region = gc.with_layout(view.clone());
            let gv = want(1)
                .then(|| crate::backend::cast(&region, g.dtype()))
                .transpose()?;
            region.fill_raw(0.0);
            Ok(vec![Some(gc), gv])
        }
        Op::AsStrided { view } => {
            let gb = Tensor::zeros(&inp[0].shape, g.dtype(), g.device())?;
            crate::backend::copy_into(&gb.with_layout(view.clone()), g)?;
            one(Ok(gb))
        }
        Op::Softmax { dim } => {
            let out = &s[0];
            let dot = reduce::sum(&mul(g, out)?, &[*dim as isize], true)?;
            one(mul(out, &sub(g, &dot)?))
        }
        Op::LogSoftmax { dim } => {
            let out = &s[0];
            let total = reduce::sum(g, &[*dim as isize], true)?;
            one(sub(g, &mul(&un(U::Exp, out)?, &total)?))
        }
    }
}
