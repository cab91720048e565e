//! GPU kernels at tensor level: choose the shader variant, lay out its params, dispatch.
//!
//! Each returns `Ok(None)` where a dtype or op has no WGSL variant; backend.rs then runs the
//! CPU kernel on host copies (`host.rs`), so every op works on every dtype the device stores.

use super::device::Gpu;
use super::half;
use super::shaders::{Family, Kernel};
use crate::dtype::DType;
use crate::error::Result;
use crate::layout::Layout;
use crate::op::{BinaryOp, ReduceOp, UnaryOp};
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, OnceLock};

pub fn gpu_of(t: &Tensor) -> Arc<Gpu> {
    t.storage().gpu_buffer().expect("a GPU tensor").gpu.clone()
}

pub fn buffer(t: &Tensor) -> &wgpu::Buffer {
    t.storage().gpu_buffer().expect("a GPU tensor").raw()
}

/// The WGSL storage type and compute type of `dtype` for arithmetic kernels.
fn types(gpu: &Gpu, dtype: DType) -> Option<(&'static str, &'static str)> {
    match dtype {
        DType::F32 => Some(("f32", "f32")),
        DType::I32 => Some(("i32", "i32")),
        DType::Bool => Some(("u32", "u32")),
        // Half floats are stored as f16 and computed in f32, as PyTorch's CUDA kernels do.
        DType::F16 if gpu.has_f16 => Some(("f16", "f32")),
        // float64 where the adapter has shader-f64, for the ops whose tables list it (plain
        // arithmetic: SPIR-V has no 64-bit exp, log or trigonometry).
        DType::F64 if gpu.has_f64 => Some(("f64", "f64")),
        _ => None,
    }
}

/// Types for kernels that only move elements: 8-byte dtypes move as two words.
fn move_types(gpu: &Gpu, dtype: DType) -> Option<(&'static str, &'static str)> {
    match dtype {
        DType::I64 | DType::F64 => Some(("vec2<u32>", "vec2<u32>")),
        d => types(gpu, d),
    }
}

/// Drops size-1 dims and merges neighbours that every operand walks contiguously, so the
/// shader unravels as few dims as possible.
pub(super) fn coalesce(shape: &[usize], layouts: &[&Layout]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut dims: Vec<usize> = Vec::new();
    let mut strides: Vec<Vec<usize>> = vec![Vec::new(); layouts.len()];
    for (d, &size) in shape.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let mergeable = !dims.is_empty()
            && layouts
                .iter()
                .enumerate()
                .all(|(k, l)| *strides[k].last().unwrap() == l.strides[d] * size);
        if mergeable {
            *dims.last_mut().unwrap() *= size;
            for (k, l) in layouts.iter().enumerate() {
                *strides[k].last_mut().unwrap() = l.strides[d];
            }
        } else {
            dims.push(size);
            for (k, l) in layouts.iter().enumerate() {
                strides[k].push(l.strides[d]);
            }
        }
    }
    (dims, strides)
}

pub(super) fn groups(n: usize, per_group: usize) -> u32 {
    n.div_ceil(per_group) as u32
}

pub(super) fn u32s(v: &[usize]) -> impl Iterator<Item = u32> + '_ {
    v.iter().map(|&x| x as u32)
}

/// `out = expr(inputs)` elementwise: the inputs broadcast to `out`'s shape, any views. Returns
/// false when a dtype has no WGSL type here. `moves` selects the element-moving types (copies).
fn map(
    out: &Tensor,
    inputs: &[(&str, &Tensor)],
    expr: &'static str,
    scalars: &[u32],
    moves: bool,
) -> Result<bool> {
    let gpu = gpu_of(out);
    let pick = |d| {
        if moves {
            move_types(&gpu, d)
        } else {
            types(&gpu, d)
        }
    };
    let Some((out_ty, _)) = pick(out.dtype()) else {
        return Ok(false);
    };
    let n = out.numel();
    if n == 0 {
        return Ok(true);
    }
    // An input sharing the output's memory is read through `out` itself (a buffer cannot be
    // bound writable and read-only at once); at another view of it, it is copied first.
    let mut owned = Vec::new();
    for (_, t) in inputs {
        let aliased = t.storage().same(out.storage()) && t.layout() != out.layout();
        owned.push(if aliased {
            Some(cast(t, t.dtype())?.expect("a copy of a GPU dtype"))
        } else {
            None
        });
    }
    let inputs: Vec<(&str, &Tensor)> = inputs
        .iter()
        .zip(&owned)
        .map(|(&(name, t), o)| (name, o.as_ref().unwrap_or(t)))
        .collect();
    let mut layouts = vec![out.layout().clone()];
    for (_, t) in &inputs {
        layouts.push(t.layout().expand(out.shape())?);
    }
    let refs: Vec<&Layout> = layouts.iter().collect();
    let (shape, strides) = coalesce(out.shape(), &refs);
    let contig = shape.len() <= 1 && strides.iter().all(|s| s.first().is_none_or(|&v| v == 1));
    let mut bound = vec![buffer(out)];
    let mut key = MapKey {
        gpu: gpu.index,
        expr: (expr.as_ptr() as usize, expr.len()),
        out: out.dtype(),
        inputs: [None; 3],
        contig,
        moves,
    };
    for (k, (_, t)) in inputs.iter().enumerate() {
        if pick(t.dtype()).is_none() {
            return Ok(false);
        }
        let aliased = t.storage().same(out.storage());
        if !aliased {
            bound.push(buffer(t));
        }
        key.inputs[k] = Some((t.dtype(), aliased));
    }
    let mut params = strided_params(n, &shape, &layouts, &strides);
    params.extend_from_slice(scalars);
    let cached = map_kernels().get(&key).cloned();
    let kernel = match cached {
        Some(k) => k,
        None => {
            let k = map_kernel(&gpu, &key, out_ty, &inputs, expr, pick)?;
            map_kernels().insert(key, k.clone());
            k
        }
    };
    gpu.dispatch(&kernel, &params, &bound, groups(n, 1024));
    Ok(true)
}

/// The params of operands walked together over a (coalesced) `shape`: n, ndim, shape[ndim],
/// then `offset, strides[ndim]` per operand (common.wgsl's `strided_offset` reads them).
pub(super) fn strided_params<L: std::borrow::Borrow<Layout>>(
    n: usize,
    shape: &[usize],
    layouts: &[L],
    strides: &[Vec<usize>],
) -> Vec<u32> {
    let mut params = vec![n as u32, shape.len() as u32];
    params.extend(u32s(shape));
    for (l, s) in layouts.iter().zip(strides) {
        params.push(l.borrow().offset as u32);
        params.extend(u32s(s));
    }
    params
}

/// What selects an elementwise shader variant: looked up on every op without building its
/// source text. `expr` is the address and length of a static expression string.
#[derive(Clone, PartialEq, Eq, Hash)]
struct MapKey {
    gpu: usize,
    expr: (usize, usize),
    out: DType,
    /// Each input's dtype and whether it is read through `out` (same storage).
    inputs: [Option<(DType, bool)>; 3],
    contig: bool,
    moves: bool,
}

fn map_kernels() -> std::sync::MutexGuard<'static, HashMap<MapKey, Arc<Kernel>>> {
    static KERNELS: OnceLock<Mutex<HashMap<MapKey, Arc<Kernel>>>> = OnceLock::new();
    KERNELS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Writes and compiles the elementwise variant `key` describes.
fn map_kernel(
    gpu: &Gpu,
    key: &MapKey,
    out_ty: &str,
    inputs: &[(&str, &Tensor)],
    expr: &str,
    pick: impl Fn(DType) -> Option<(&'static str, &'static str)>,
) -> Result<Arc<Kernel>> {
    let mut decls = String::new();
    let mut loads = if key.contig {
        String::new()
    } else {
        "        let at_ = offsets(i);\n".to_string()
    };
    let mut params = Vec::new();
    let mut names = Vec::new();
    // Contiguous: all four elements' loads, then the four stores.
    let (mut fast_loads, mut fast_stores) = (String::new(), String::new());
    let mut binding = 1;
    for (k, (name, t)) in inputs.iter().enumerate() {
        let (ty, ct) = pick(t.dtype()).expect("checked by map");
        let array = if key.inputs[k].is_some_and(|(_, aliased)| aliased) {
            "out".to_string()
        } else {
            binding += 1;
            decls += &format!(
                "@group(0) @binding({binding}) var<storage, read> in{binding}: array<{ty}>;\n"
            );
            format!("in{binding}")
        };
        let at = if key.contig {
            format!("base{} + i", k + 1)
        } else {
            format!("at_[{}]", k + 1)
        };
        loads += &format!("        let {name} = {ct}({array}[{at}]);\n");
        for j in 0..4 {
            fast_loads += &format!(
                "        let {name}_{j} = {ct}({array}[base{} + first + {}u]);\n",
                k + 1,
                256 * j
            );
        }
        params.push(format!("{name}: {ct}"));
        names.push(*name);
    }
    let (bases, fast) = if key.contig {
        let bases = (0..=inputs.len())
            .map(|k| format!("    let base{k} = P[2u + P[1] + {k}u * (P[1] + 1u)];\n"))
            .collect();
        for j in 0..4 {
            let args: Vec<String> = names.iter().map(|n| format!("{n}_{j}")).collect();
            fast_stores += &format!(
                "        out[base0 + first + {}u] = op_({});\n",
                256 * j,
                args.join(", ")
            );
        }
        let fast = format!(
            "    if (first + 768u < n) {{\n{fast_loads}{fast_stores}        return;\n    }}"
        );
        (bases, fast)
    } else {
        (String::new(), String::new())
    };
    let nops = (inputs.len() + 1).to_string();
    gpu.kernel(
        Family::Elementwise,
        "map",
        &[
            ("OUT", out_ty),
            ("DECLS", &decls),
            ("LOADS", &loads),
            ("EXPR", expr),
            ("PARAMS", &params.join(", ")),
            ("ARGS", &names.join(", ")),
            ("CONTIG", if key.contig { "true" } else { "false" }),
            ("NOPS", &nops),
            ("BASES", &bases),
            ("FAST", &fast),
            ("OUT_AT", if key.contig { "base0 + i" } else { "at_[0]" }),
        ],
    )
}

fn fresh(shape: &[usize], dtype: DType, like: &Tensor) -> Result<Tensor> {
    Tensor::for_overwrite(shape, dtype, like.device())
}

/// Runs `map` into a fresh output, or None when a dtype has no WGSL type.
fn map_new(
    shape: &[usize],
    dtype: DType,
    inputs: &[(&str, &Tensor)],
    expr: &'static str,
    scalars: &[u32],
) -> Result<Option<Tensor>> {
    let out = fresh(shape, dtype, inputs[0].1)?;
    Ok(map(&out, inputs, expr, scalars, false)?.then_some(out))
}

fn unary_expr(op: UnaryOp, dtype: DType) -> Option<&'static str> {
    use UnaryOp::*;
    Some(match dtype {
        DType::F32 | DType::F16 => match op {
            Neg => "-x",
            Abs => "abs(x)",
            Exp => "exp(x)",
            Log => "log(x)",
            Log1p => "log1p_f32(x)",
            Expm1 => "expm1_f32(x)",
            Sqrt => "sqrt(x)",
            Rsqrt => "1.0 / sqrt(x)",
            Sin => "sin(x)",
            Cos => "cos(x)",
            Tanh => "tanh_f32(x)",
            Sigmoid => "sigmoid_f32(x)",
            // NaN passes (as PyTorch's); tested on the bits, which GL drivers keep.
            Relu => "select(x, 0.0, x < 0.0 && !isnan_f32(f32(x)))",
            GeluErf => "0.5 * x * (1.0 + erf_f32(x * 0.7071067811865476))",
            GeluTanh => {
                "0.5 * x * (1.0 + tanh_f32(0.7978845608028654 * (x + 0.044715 * x * x * x)))"
            }
            Silu => "x * sigmoid_f32(x)",
            Softplus => "softplus_f32(x)",
            Erf => "erf_f32(x)",
            Sign => "sign_f32(x)",
            Floor => "floor(x)",
            Ceil => "ceil(x)",
            Round => "round(x)",
            Trunc => "select(ceil(x), floor(x), x >= 0.0)",
            Reciprocal => "1.0 / x",
            LogicalNot => "select(0u, 1u, x == 0.0)",
            BitwiseNot => return None,
        },
        // float64 math from shaders/float64.wgsl.
        DType::F64 => match op {
            Neg => "-x",
            Abs => "abs(x)",
            Exp => "exp_f64(x)",
            Log => "log_f64(x)",
            Log1p => "log1p_f64(x)",
            Expm1 => "expm1_f64(x)",
            Sqrt => "sqrt(x)",
            Rsqrt => "1.0 / sqrt(x)",
            Sin => "sincos_f64(x).x",
            Cos => "sincos_f64(x).y",
            Tanh => "tanh_f64(x)",
            Sigmoid => "sigmoid_f64(x)",
            Relu => "select(x, 0.0, x < 0.0)",
            GeluErf => "0.5 * x * (1.0 + erf_f64(x * 0.7071067811865476))",
            GeluTanh => {
                "0.5 * x * (1.0 + tanh_f64(0.7978845608028654 * (x + 0.044715 * x * x * x)))"
            }
            Silu => "x * sigmoid_f64(x)",
            Softplus => "softplus_f64(x)",
            Erf => "erf_f64(x)",
            Sign => "sign_f64(x)",
            Floor => "floor(x)",
            Ceil => "ceil(x)",
            Round => "round_f64(x)",
            Trunc => "trunc_f64(x)",
            Reciprocal => "1.0 / x",
            LogicalNot => "select(0u, 1u, x == 0.0)",
            BitwiseNot => return None,
        },
        DType::I32 => match op {
            Neg => "-x",
            Abs => "abs(x)",
            Sign => "sign(x)",
            Relu => "max(x, 0)",
            Floor | Ceil | Round | Trunc => "x",
            LogicalNot => "select(0u, 1u, x == 0)",
            BitwiseNot => "~x",
            _ => return None,
        },
        DType::Bool => match op {
            LogicalNot | BitwiseNot => "1u - x",
            Abs | Relu | Floor | Ceil | Round | Trunc | Sign => "x",
            _ => return None,
        },
        _ => return None,
    })
}

pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Option<Tensor>> {
    let dtype = if op == UnaryOp::LogicalNot {
        DType::Bool
    } else {
        x.dtype()
    };
    if x.dtype() == DType::I64 {
        let Some(expr) = unary_i64_expr(op) else {
            return Ok(None);
        };
        let out = fresh(x.shape(), dtype, x)?;
        return Ok(map(&out, &[("x", x)], expr, &[], true)?.then_some(out));
    }
    let Some(expr) = unary_expr(op, x.dtype()) else {
        return Ok(None);
    };
    map_new(x.shape(), dtype, &[("x", x)], expr, &[])
}

/// int64 ops on two-word values (common.wgsl's `i64_*`); the others take the host path.
fn unary_i64_expr(op: UnaryOp) -> Option<&'static str> {
    use UnaryOp::*;
    Some(match op {
        Neg => "i64_neg(x)",
        Abs => "select(x, i64_neg(x), i64_negative(x))",
        Sign => "select(select(vec2<u32>(0u), vec2<u32>(1u, 0u), any(x != vec2<u32>(0u))), vec2<u32>(0xffffffffu), i64_negative(x))",
        Relu => "select(x, vec2<u32>(0u), i64_negative(x))",
        Floor | Ceil | Round | Trunc => "x",
        LogicalNot => "select(0u, 1u, all(x == vec2<u32>(0u)))",
        BitwiseNot => "~x",
        _ => return None,
    })
}

fn binary_i64_expr(op: BinaryOp) -> Option<&'static str> {
    use BinaryOp::*;
    Some(match op {
        Add => "i64_add(a, b)",
        Sub => "i64_sub(a, b)",
        Mul => "i64_mul(a, b)",
        Maximum => "select(a, b, i64_lt(a, b))",
        Minimum => "select(a, b, i64_lt(b, a))",
        Eq => "select(0u, 1u, all(a == b))",
        Ne => "select(0u, 1u, any(a != b))",
        Lt => "select(0u, 1u, i64_lt(a, b))",
        Le => "select(0u, 1u, !i64_lt(b, a))",
        Gt => "select(0u, 1u, i64_lt(b, a))",
        Ge => "select(0u, 1u, !i64_lt(a, b))",
        BitwiseAnd => "a & b",
        BitwiseOr => "a | b",
        BitwiseXor => "a ^ b",
        LogicalAnd => "select(0u, 1u, any(a != vec2<u32>(0u)) && any(b != vec2<u32>(0u)))",
        LogicalOr => "select(0u, 1u, any(a != vec2<u32>(0u)) || any(b != vec2<u32>(0u)))",
        LogicalXor => "select(0u, 1u, any(a != vec2<u32>(0u)) != any(b != vec2<u32>(0u)))",
        Pow => "pow_i64(a, b)",
        Remainder => "remainder_i64(a, b)",
        FloorDivide => "floor_divide_i64(a, b)",
        // Integer div and atan2 compute in float32, and relu's gradient is float-only.
        Div | Atan2 | ReluBackward => return None,
    })
}

fn binary_expr(op: BinaryOp, dtype: DType) -> Option<&'static str> {
    use BinaryOp::*;
    let compare = |op| {
        Some(match op {
            Eq => "select(0u, 1u, a == b)",
            // Not `a != b`: the driver may compile it as an ordered compare, false for NaN.
            Ne => "select(1u, 0u, a == b)",
            Lt => "select(0u, 1u, a < b)",
            Le => "select(0u, 1u, a <= b)",
            Gt => "select(0u, 1u, a > b)",
            Ge => "select(0u, 1u, a >= b)",
            _ => return None,
        })
    };
    match dtype {
        DType::F32 | DType::F16 => Some(match op {
            Add => "a + b",
            Sub => "a - b",
            Mul => "a * b",
            Div => "a / b",
            Pow => "pow_f32(a, b)",
            Maximum => "maximum_f32(a, b)",
            Minimum => "minimum_f32(a, b)",
            Remainder => "remainder_f32(a, b)",
            FloorDivide => "floor(a / b)",
            Atan2 => "atan2(a, b)",
            // NaN tested on the bits: GL drivers may take `NaN <= 0` as true.
            ReluBackward => "select(a, 0.0, f32(b) <= 0.0 && !isnan_f32(f32(b)))",
            LogicalAnd => "select(0u, 1u, a != 0.0 && b != 0.0)",
            LogicalOr => "select(0u, 1u, a != 0.0 || b != 0.0)",
            LogicalXor => "select(0u, 1u, (a != 0.0) != (b != 0.0))",
            BitwiseAnd | BitwiseOr | BitwiseXor => return None,
            op => return compare(op),
        }),
        DType::F64 => Some(match op {
            Add => "a + b",
            Sub => "a - b",
            Mul => "a * b",
            Div => "a / b",
            ReluBackward => "select(a, 0.0, b <= 0.0)",
            LogicalAnd => "select(0u, 1u, a != 0.0 && b != 0.0)",
            LogicalOr => "select(0u, 1u, a != 0.0 || b != 0.0)",
            LogicalXor => "select(0u, 1u, (a != 0.0) != (b != 0.0))",
            Maximum => "maximum_f64(a, b)",
            Minimum => "minimum_f64(a, b)",
            // Python's `%`, as the CPU kernel: the result takes the divisor's sign.
            Remainder => "remainder_f64(a, b)",
            FloorDivide => "floor(a / b)",
            Pow => "pow_f64(a, b)",
            Atan2 => "atan2_f64(a, b)",
            Eq | Ne | Lt | Le | Gt | Ge => return compare(op),
            BitwiseAnd | BitwiseOr | BitwiseXor => return None,
        }),
        DType::I32 => Some(match op {
            Add => "a + b",
            Sub => "a - b",
            Mul => "a * b",
            Div => "select(a / b, 0, b == 0)",
            Maximum => "max(a, b)",
            Minimum => "min(a, b)",
            Remainder => "remainder_i32(a, b)",
            FloorDivide => "floor_divide_i32(a, b)",
            LogicalAnd => "select(0u, 1u, a != 0 && b != 0)",
            LogicalOr => "select(0u, 1u, a != 0 || b != 0)",
            LogicalXor => "select(0u, 1u, (a != 0) != (b != 0))",
            BitwiseAnd => "a & b",
            BitwiseOr => "a | b",
            BitwiseXor => "a ^ b",
            Pow => "pow_i32(a, b)",
            Atan2 => return None,
            op => return compare(op),
        }),
        DType::Bool => Some(match op {
            LogicalAnd | Mul | Minimum | BitwiseAnd => "a & b",
            LogicalOr | Add | Maximum | BitwiseOr => "a | b",
            LogicalXor | BitwiseXor => "a ^ b",
            op => return compare(op),
        }),
        _ => None,
    }
}

/// `binary` into `out` (the result dtype, the broadcast shape, any view).
pub fn binary_into(op: BinaryOp, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<bool> {
    if a.dtype() == DType::I64 {
        return match binary_i64_expr(op) {
            Some(expr) => map(out, &[("a", a), ("b", b)], expr, &[], true),
            None => Ok(false),
        };
    }
    match binary_expr(op, a.dtype()) {
        Some(expr) => map(out, &[("a", a), ("b", b)], expr, &[], false),
        None => Ok(false),
    }
}

pub fn where_(c: &Tensor, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Option<Tensor>> {
    if matches!(a.dtype(), DType::I64 | DType::F64) {
        // Selecting moves words: 8-byte dtypes need no arithmetic of their own.
        let out = fresh(shape, a.dtype(), a)?;
        let inputs = [("c", c), ("a", a), ("b", b)];
        return Ok(map(&out, &inputs, "select(b, a, c != 0u)", &[], true)?.then_some(out));
    }
    map_new(
        shape,
        a.dtype(),
        &[("c", c), ("a", a), ("b", b)],
        "select(b, a, c != 0u)",
        &[],
    )
}

pub fn clamp(x: &Tensor, min: Option<f64>, max: Option<f64>) -> Result<Option<Tensor>> {
    if x.dtype() == DType::I64 {
        // Two words per bound, compared as signed 64-bit values (common.wgsl's i64_*).
        let bound = |v: Option<f64>, none: i64| {
            let v = v.map_or(none, |v| v as i64) as u64;
            [v as u32, (v >> 32) as u32]
        };
        let (lo, hi) = (bound(min, i64::MIN), bound(max, i64::MAX));
        let out = fresh(x.shape(), DType::I64, x)?;
        let expr = "i64_clamp(x, vec2<u32>(scalar_at(0u), scalar_at(1u)), vec2<u32>(scalar_at(2u), scalar_at(3u)))";
        let ran = map(&out, &[("x", x)], expr, &[lo[0], lo[1], hi[0], hi[1]], true)?;
        return Ok(ran.then_some(out));
    }
    let (expr, lo, hi) = match x.dtype() {
        DType::F32 | DType::F16 => (
            "select(min(max(x, bitcast<f32>(scalar_at(0u))), bitcast<f32>(scalar_at(1u))), x, isnan_f32(x))",
            (min.unwrap_or(f64::NEG_INFINITY) as f32).to_bits(),
            (max.unwrap_or(f64::INFINITY) as f32).to_bits(),
        ),
        DType::I32 => (
            "min(max(x, bitcast<i32>(scalar_at(0u))), bitcast<i32>(scalar_at(1u)))",
            min.map_or(i32::MIN, |v| v as i32) as u32,
            max.map_or(i32::MAX, |v| v as i32) as u32,
        ),
        // The bounds cannot travel as words (WGSL has no 64-bit bitcast): they go in as
        // one-element tensors, broadcast like any operand.
        DType::F64 if gpu_of(x).has_f64 => {
            let bound = |v: f64| -> Result<Tensor> {
                let t = fresh(&[], DType::F64, x)?;
                fill(&t, v)?;
                Ok(t)
            };
            let lo = bound(min.unwrap_or(f64::NEG_INFINITY))?;
            let hi = bound(max.unwrap_or(f64::INFINITY))?;
            let expr = "select(min(max(x, lo), hi), x, isnan_f32(f32(x)))";
            let inputs = [("x", x), ("lo", &lo), ("hi", &hi)];
            return map_new(x.shape(), x.dtype(), &inputs, expr, &[]);
        }
        _ => return Ok(None),
    };
    map_new(x.shape(), x.dtype(), &[("x", x)], expr, &[lo, hi])
}

/// A contiguous copy of `x` in `dtype`.
pub fn cast(x: &Tensor, dtype: DType) -> Result<Option<Tensor>> {
    let gpu = gpu_of(x);
    if half::packed(&gpu, x.dtype()) || half::packed(&gpu, dtype) {
        return half::cast(x, dtype).map(Some);
    }
    let out = fresh(x.shape(), dtype, x)?;
    if x.dtype() == dtype {
        return Ok(map(&out, &[("x", x)], "x", &[], true)?.then_some(out));
    }
    if x.dtype() == DType::I64 || dtype == DType::I64 {
        return super::index::cast_i64(x, dtype);
    }
    let (Some((_, from)), Some((_, to))) = (types(&gpu, x.dtype()), types(&gpu, dtype)) else {
        return Ok(None);
    };
    let expr = match (from, to) {
        (_, "u32") => match from {
            "f32" | "f64" => "select(0u, 1u, x != 0.0)",
            "i32" => "select(0u, 1u, x != 0)",
            _ => "x",
        },
        // Saturating, NaN to 0, as the CPU's `as`.
        ("f64", "i32") => "select(i32(clamp(x, -2147483648.0, 2147483647.0)), 0, isnan_f64(x))",
        // i32(x) alone clamps to the float32 nearest below 2^31 (2147483520); the CPU gives
        // i32::MAX from 2^31 up.
        ("f32", "i32") => "select(select(i32(x), 2147483647, x >= 2147483648.0), 0, isnan_f32(x))",
        (_, to) => match to {
            "f32" => "f32(x)",
            "f64" => "f64(x)",
            _ => "i32(x)",
        },
    };
    Ok(map(&out, &[("x", x)], expr, &[], false)?.then_some(out))
}

/// Writes `src` (broadcast, same dtype) into the view `dst`.
pub fn copy_into(dst: &Tensor, src: &Tensor) -> Result<bool> {
    if half::packed(&gpu_of(dst), dst.dtype()) {
        half::copy_into(dst, src)?;
        return Ok(true);
    }
    map(dst, &[("x", src)], "x", &[], true)
}

/// Writes `value` into every element of the view `t`.
pub fn fill(t: &Tensor, value: f64) -> Result<bool> {
    if half::packed(&gpu_of(t), t.dtype()) {
        half::fill(t, value)?;
        return Ok(true);
    }
    let (expr, words) = match t.dtype() {
        DType::F32 | DType::F16 => (
            "bitcast<f32>(scalar_at(0u))",
            vec![(value as f32).to_bits()],
        ),
        DType::I32 => ("bitcast<i32>(scalar_at(0u))", vec![value as i32 as u32]),
        DType::Bool => ("scalar_at(0u)", vec![(value != 0.0) as u32]),
        DType::I64 | DType::F64 => {
            let bits = if t.dtype() == DType::I64 {
                (value as i64) as u64
            } else {
                value.to_bits()
            };
            (
                "vec2<u32>(scalar_at(0u), scalar_at(1u))",
                vec![bits as u32, (bits >> 32) as u32],
            )
        }
        _ => return Ok(false),
    };
    let moves = matches!(t.dtype(), DType::I64 | DType::F64);
    map(t, &[], expr, &words, moves)
}

/// Reduction folds per op: (value fold, index fold, identity for the compute type `ct`).
fn reduce_code(op: ReduceOp, ct: &str) -> (&'static str, &'static str, &'static str) {
    const TAKE_MAX: &str =
        "let take = (nan_(b) && (!nan_(a) || bi < ai)) || (!nan_(a) && (b > a || (b == a && bi < ai)));";
    const TAKE_MIN: &str =
        "let take = (nan_(b) && (!nan_(a) || bi < ai)) || (!nan_(a) && (b < a || (b == a && bi < ai)));";
    if ct == "vec2<u32>" {
        return reduce_i64_code(op);
    }
    let (lowest, highest) = if ct == "f32" {
        ("-inf_f32()", "inf_f32()")
    } else if ct == "f64" {
        // No f64 infinity literal and no 64-bit bitcast: the float32 one, widened.
        ("-f64(inf_f32())", "f64(inf_f32())")
    } else {
        ("bitcast<i32>(0x80000000u)", "bitcast<i32>(0x7fffffffu)")
    };
    match op {
        ReduceOp::Sum => ("return a + b;", "return ai;", "{CT}(0)"),
        ReduceOp::Prod => ("return a * b;", "return ai;", "{CT}(1)"),
        ReduceOp::Max => (
            "if (nan_(b) || b > a) { return b; } return a;",
            "return ai;",
            lowest,
        ),
        ReduceOp::Min => (
            "if (nan_(b) || b < a) { return b; } return a;",
            "return ai;",
            highest,
        ),
        ReduceOp::All => ("return a & b;", "return ai;", "1u"),
        ReduceOp::Any => ("return a | b;", "return ai;", "0u"),
        ReduceOp::ArgMax => (
            const_format(TAKE_MAX, "return select(a, b, take);"),
            const_format(TAKE_MAX, "return select(ai, bi, take);"),
            lowest,
        ),
        ReduceOp::ArgMin => (
            const_format(TAKE_MIN, "return select(a, b, take);"),
            const_format(TAKE_MIN, "return select(ai, bi, take);"),
            highest,
        ),
    }
}

/// The folds of `reduce_code` for int64 held as (low, high) words.
fn reduce_i64_code(op: ReduceOp) -> (&'static str, &'static str, &'static str) {
    const TAKE_MAX: &str = "let take = i64_lt(a, b) || (all(a == b) && bi < ai);";
    const TAKE_MIN: &str = "let take = i64_lt(b, a) || (all(a == b) && bi < ai);";
    const LOWEST: &str = "vec2<u32>(0u, 0x80000000u)";
    const HIGHEST: &str = "vec2<u32>(0xffffffffu, 0x7fffffffu)";
    match op {
        ReduceOp::Sum => ("return i64_add(a, b);", "return ai;", "vec2<u32>(0u)"),
        ReduceOp::Prod => ("return i64_mul(a, b);", "return ai;", "vec2<u32>(1u, 0u)"),
        ReduceOp::Max => ("return select(a, b, i64_lt(a, b));", "return ai;", LOWEST),
        ReduceOp::Min => ("return select(a, b, i64_lt(b, a));", "return ai;", HIGHEST),
        ReduceOp::ArgMax => (
            const_format(TAKE_MAX, "return select(a, b, take);"),
            const_format(TAKE_MAX, "return select(ai, bi, take);"),
            LOWEST,
        ),
        ReduceOp::ArgMin => (
            const_format(TAKE_MIN, "return select(a, b, take);"),
            const_format(TAKE_MIN, "return select(ai, bi, take);"),
            HIGHEST,
        ),
        // Bool only; `reduce` returns before asking for these with int64.
        ReduceOp::All | ReduceOp::Any => ("return a;", "return ai;", "vec2<u32>(0u)"),
    }
}

/// Joins two static snippets once per distinct pair (the shader cache keeps the result).
fn const_format(a: &'static str, b: &'static str) -> &'static str {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static JOINED: Mutex<Option<HashMap<(usize, usize), &'static str>>> = Mutex::new(None);
    let mut m = JOINED.lock().unwrap_or_else(|e| e.into_inner());
    m.get_or_insert_with(HashMap::new)
        .entry((a.as_ptr() as usize, b.as_ptr() as usize))
        .or_insert_with(|| Box::leak(format!("{a} {b}").into_boxed_str()))
}

/// Reduces `x` over `dims` into `out_shape` (keepdim handled by the caller's shape).
pub fn reduce(
    op: ReduceOp,
    x: &Tensor,
    dims: &[usize],
    out_shape: &[usize],
) -> Result<Option<Tensor>> {
    let gpu = gpu_of(x);
    // int64 folds on two words (common.wgsl's i64_*); other dtypes in their compute type.
    let reduce_types = |d: DType| {
        if d == DType::I64 {
            Some(("vec2<u32>", "vec2<u32>"))
        } else {
            types(&gpu, d)
        }
    };
    let Some((in_ty, ct)) = reduce_types(x.dtype()) else {
        return Ok(None);
    };
    let boolean = matches!(op, ReduceOp::All | ReduceOp::Any);
    if boolean != (x.dtype() == DType::Bool) {
        return Ok(None);
    }
    let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    let out_dtype = if arg { DType::I64 } else { x.dtype() };
    let out = fresh(out_shape, out_dtype, x)?;
    let l = x.layout();
    let keep: Vec<usize> = (0..l.ndim()).filter(|d| !dims.contains(d)).collect();
    let keep_shape: Vec<usize> = keep.iter().map(|&d| l.shape[d]).collect();
    let keep_strides: Vec<usize> = keep.iter().map(|&d| l.strides[d]).collect();
    let red_shape: Vec<usize> = dims.iter().map(|&d| l.shape[d]).collect();
    let red_strides: Vec<usize> = dims.iter().map(|&d| l.strides[d]).collect();
    let n_out: usize = keep_shape.iter().product();
    let r: usize = red_shape.iter().product();
    if n_out == 0 {
        return Ok(Some(out));
    }
    if r == 0
        && !matches!(
            op,
            ReduceOp::Sum | ReduceOp::Prod | ReduceOp::All | ReduceOp::Any
        )
    {
        // No identity to return: the CPU kernel raises PyTorch's error.
        return Ok(None);
    }
    let params = |chunk: usize,
                  chunks: usize,
                  ks: &[usize],
                  kst: &[usize],
                  rs: &[usize],
                  rst: &[usize],
                  off: usize| {
        let mut p = vec![n_out as u32, r as u32, chunk as u32, chunks as u32];
        p.extend([ks.len() as u32, rs.len() as u32]);
        p.extend(u32s(ks));
        p.push(0);
        p.extend(u32s(kst));
        p.extend(u32s(rs));
        p.push(0);
        p.extend(u32s(rst));
        p.push(off as u32);
        p
    };
    let (fold, fold_index, identity) = reduce_code(op, ct);
    let kernel_entry = |entry: &str, in_ty: &str, out_ty: &str, store: &str| {
        gpu.kernel(
            Family::Reduce,
            entry,
            &[
                ("FOLD", fold),
                ("FOLD_INDEX", fold_index),
                ("IDENTITY", identity),
                ("STORE", store),
                ("IN", in_ty),
                ("OUT", out_ty),
                ("CT", ct),
                // float64 NaN on the bits of the value narrowed to float32: WGSL has no 64-bit
                // bitcast, and lavapipe folds `v != v` to false.
                (
                    "NAN",
                    match ct {
                        "f32" => "isnan_f32(v)",
                        "f64" => "isnan_f32(f32(v))",
                        _ => "false",
                    },
                ),
            ],
        )
    };
    let kernel_for =
        |in_ty: &str, out_ty: &str, store: &str| kernel_entry("reduce", in_ty, out_ty, store);
    let (out_ty, _) = if arg {
        ("u32", "u32") // int64 indices, written as two words by the arg* store
    } else {
        reduce_types(out_dtype).expect("a GPU dtype")
    };
    let store_value = "out[g] = {OUT}(v);";
    // Per-chunk partials of a split reduction (float16 ones in float32) and their WGSL type.
    let partials = |shape: &[usize]| -> Result<(Tensor, &'static str)> {
        let dtype = if x.dtype() == DType::F16 {
            DType::F32
        } else {
            x.dtype()
        };
        let part = fresh(shape, dtype, x)?;
        Ok((part, reduce_types(dtype).expect("a GPU dtype").0))
    };
    // Few outputs over many elements: split each output's range over many workgroups, then
    // fold the partials in a second pass.
    if !arg && n_out < 64 && r > 16384 {
        let chunks = r.div_ceil(4096).min(1024);
        let chunk = r.div_ceil(chunks);
        let (part, part_ty) = partials(&[n_out, chunks])?;
        let k1 = kernel_for(in_ty, part_ty, store_value)?;
        let p1 = params(
            chunk,
            chunks,
            &keep_shape,
            &keep_strides,
            &red_shape,
            &red_strides,
            l.offset,
        );
        gpu.dispatch(
            &k1,
            &p1,
            &[buffer(&part), buffer(x)],
            (n_out * chunks) as u32,
        );
        let k2 = kernel_for(part_ty, out_ty, store_value)?;
        let p2 = {
            let mut p = vec![
                n_out as u32,
                chunks as u32,
                chunks as u32,
                1,
                1,
                1,
                n_out as u32,
                0,
            ];
            p.extend([chunks as u32, chunks as u32, 0, 1, 0]);
            p
        };
        gpu.dispatch(&k2, &p2, &[buffer(&out), buffer(&part)], n_out as u32);
        return Ok(Some(out));
    }
    let store = if arg {
        "out[2u * g] = vi; out[2u * g + 1u] = 0u;"
    } else {
        store_value
    };
    // Outputs adjacent in memory: 64 neighbours per workgroup, the reduced range split into
    // chunks of 128 so that a few hundred workgroups share the work; the [chunks, n_out]
    // partials are then folded by the same kernel as a column reduction of their own.
    if keep_strides.last() == Some(&1) && n_out >= 64 {
        let col_groups = n_out.div_ceil(64);
        let chunks = if arg {
            1
        } else {
            r.div_ceil(128).clamp(1, (1024 / col_groups).max(1))
        };
        let chunk = r.div_ceil(chunks).max(1);
        let columns =
            |in_ty: &str, out_ty: &str| kernel_entry("reduce_columns", in_ty, out_ty, store);
        let p = params(
            chunk,
            chunks,
            &keep_shape,
            &keep_strides,
            &red_shape,
            &red_strides,
            l.offset,
        );
        if chunks == 1 {
            let k = columns(in_ty, out_ty)?;
            gpu.dispatch(&k, &p, &[buffer(&out), buffer(x)], col_groups as u32);
            return Ok(Some(out));
        }
        let (part, part_ty) = partials(&[chunks, n_out])?;
        let k1 = columns(in_ty, part_ty)?;
        gpu.dispatch(
            &k1,
            &p,
            &[buffer(&part), buffer(x)],
            (col_groups * chunks) as u32,
        );
        let k2 = columns(part_ty, out_ty)?;
        let p2 = params(chunks, 1, &[n_out], &[1], &[chunks], &[n_out], 0);
        let p2 = [&[n_out as u32, chunks as u32], &p2[2..]].concat();
        gpu.dispatch(&k2, &p2, &[buffer(&out), buffer(&part)], col_groups as u32);
        return Ok(Some(out));
    }
    let p = params(
        r.max(1),
        1,
        &keep_shape,
        &keep_strides,
        &red_shape,
        &red_strides,
        l.offset,
    );
    // Many outputs over few elements: an invocation per output; otherwise a workgroup each.
    let (k, workgroups) = if r <= 64 && n_out >= 1024 {
        let k = kernel_entry("reduce_threads", in_ty, out_ty, store)?;
        (k, groups(n_out, 256))
    } else {
        (kernel_for(in_ty, out_ty, store)?, n_out as u32)
    };
    gpu.dispatch(&k, &p, &[buffer(&out), buffer(x)], workgroups);
    Ok(Some(out))
}

pub fn softmax(x: &Tensor, dim: usize, log: bool) -> Result<Option<Tensor>> {
    let gpu = gpu_of(x);
    let Some((ty, ct @ ("f32" | "f64"))) = types(&gpu, x.dtype()) else {
        return Ok(None);
    };
    let x = if x.is_contiguous() {
        x.clone()
    } else {
        cast(x, x.dtype())?.expect("a GPU dtype")
    };
    let out = fresh(x.shape(), x.dtype(), &x)?;
    let d = x.shape()[dim];
    let inner: usize = x.shape()[dim + 1..].iter().product();
    let rows = x.numel() / d.max(1);
    if x.numel() == 0 {
        return Ok(Some(out));
    }
    let k = gpu.kernel(
        Family::Softmax,
        "softmax",
        &[
            ("OUT", ty),
            ("CT", ct),
            ("LOG", if log { "true" } else { "false" }),
        ],
    )?;
    // The row offsets count from the storage start: a contiguous view at an offset is copied.
    let x = if x.layout().offset == 0 {
        x
    } else {
        cast(&x, x.dtype())?.expect("a GPU dtype")
    };
    gpu.dispatch(
        &k,
        &[rows as u32, d as u32, inner as u32],
        &[buffer(&out), buffer(&x)],
        rows as u32,
    );
    Ok(Some(out))
}

/// Batch strides of `l` (a `[.., r, c]` operand) against the broadcast `batch` shape: 0 where
/// the operand lacks the dim or broadcasts it.
fn batch_strides(l: &Layout, batch: &[usize]) -> Vec<usize> {
    let own = l.ndim() - 2;
    (0..batch.len())
        .map(|d| {
            let lead = batch.len() - own;
            if d < lead || l.shape[d - lead] != batch[d] || batch[d] == 1 {
                0
            } else {
                l.strides[d - lead]
            }
        })
        .collect()
}

/// The params describing a product's operands `[.., M, K]` and `[.., K, N]` broadcast over
/// `batch`: nb, batch_shape[nb], a_offset, a_batch_strides[nb], b_offset, b_batch_strides[nb],
/// a_row_stride, a_col_stride, b_row_stride, b_col_stride.
pub(super) fn operand_params(la: &Layout, lb: &Layout, batch: &[usize]) -> Vec<u32> {
    let mut p = vec![batch.len() as u32];
    p.extend(u32s(batch));
    for l in [la, lb] {
        p.push(l.offset as u32);
        p.extend(u32s(&batch_strides(l, batch)));
    }
    for l in [la, lb] {
        let n = l.ndim();
        p.extend([l.strides[n - 2] as u32, l.strides[n - 1] as u32]);
    }
    p
}

/// `linear`'s bias binding and its load (shaders/matmul.wgsl `bias4`).
const BIAS_DECL: &str = "@group(0) @binding(4) var<storage, read> bias: array<{T}>;";
const BIAS_LOAD: &str =
    "for (var j = 0u; j < 4u; j++) { if (n + j < N) { v[j] = bias[at + (n + j) * stride]; } }";

/// Workgroups a split-K product aims for: `EMBER_GPU_MATMUL_SPLIT`, else 384.
fn split_target() -> usize {
    static TARGET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *TARGET.get_or_init(|| {
        std::env::var("EMBER_GPU_MATMUL_SPLIT")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n >= 1)
            .unwrap_or(384)
    })
}

/// The output tile's width (128 or 64 columns) and the depth of the K slices (8 or 16) for a
/// product with `n` output columns. `EMBER_GPU_MATMUL=<width>x<depth>` fixes
/// them, for tuning on a new GPU.
fn matmul_tile(n: usize) -> (usize, usize) {
    static FIXED: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    let fixed = FIXED.get_or_init(|| {
        let v = std::env::var("EMBER_GPU_MATMUL").ok()?;
        let (w, d) = v.split_once('x')?;
        let (w, d) = (w.trim().parse().ok()?, d.trim().parse().ok()?);
        ([64, 128].contains(&w) && [8, 16].contains(&d)).then_some((w, d))
    });
    if let Some(tile) = *fixed {
        return tile;
    }
    // Narrow outputs would waste half of a 128-wide tile: they take 64-wide tiles over 8-deep
    // slices. Everything else takes 128-wide tiles over 16-deep slices, half the barriers per
    // multiply-add of 8-deep ones (few tiles over a long K are split along K instead).
    // Measured on an H200 over the products of the G4 and G5 steps (`.gl/mm.py`).
    if n <= 64 {
        (64, 8)
    } else {
        (128, 16)
    }
}

pub fn matmul(a: &Tensor, b: &Tensor, batch: &[usize]) -> Result<Option<Tensor>> {
    matmul_plus(a, b, batch, None)
}

/// `x @ w.t() + bias` for a 2-D float32 or float64 x: the product with the bias added as it
/// is stored.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Option<Tensor>> {
    let wt = w.with_layout(w.layout().transpose(0, 1));
    matmul_plus(x, &wt, &[], bias)
}

/// The batched product, with `bias` (one value per output column) added in its epilogue.
fn matmul_plus(
    a: &Tensor,
    b: &Tensor,
    batch: &[usize],
    bias: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let gpu = gpu_of(a);
    let dtype = a.dtype();
    let (ty, elem_bytes) = match dtype {
        DType::F32 => ("f32", 4),
        DType::F64 if gpu.has_f64 => ("f64", 8),
        DType::I32 | DType::I64 if bias.is_none() => return super::index::matmul_int(a, b, batch),
        _ => return Ok(None),
    };
    let (la, lb) = (a.layout(), b.layout());
    let (m, k, n) = (
        la.shape[la.ndim() - 2],
        la.shape[la.ndim() - 1],
        lb.shape[lb.ndim() - 1],
    );
    let shape = [batch, &[m, n]].concat();
    let out = if k == 0 {
        Tensor::zeros(&shape, dtype, a.device())?
    } else {
        fresh(&shape, dtype, a)?
    };
    let nbatch: usize = batch.iter().product();
    if m * n * nbatch == 0 {
        return Ok(Some(out));
    }
    if k == 0 {
        // No product to add the bias to: the output is the bias on every row.
        if let Some(bias) = bias {
            copy_into(&out, &bias.with_layout(bias.layout().expand(&shape)?))?;
        }
        return Ok(Some(out));
    }
    let (bn, bk) = match matmul_tile(n) {
        // float64 takes the 8-deep slices: 16-deep ones would need 33.8 KB of workgroup memory.
        (bn, _) if dtype == DType::F64 => (bn, 8),
        tile => tile,
    };
    // Two tiles of vec4s (float32 keeps its 16-deep size for every variant), checked against
    // the adapter: a variant that does not fit takes the host path.
    let tile = if dtype == DType::F32 { 528 } else { bk * 33 };
    if 2 * tile * 4 * elem_bytes > gpu.limits.max_compute_workgroup_storage_size as usize {
        return Ok(None);
    }
    let (tiles_m, tiles_n) = (m.div_ceil(128), n.div_ceil(bn));
    let mut p = vec![m as u32, n as u32, k as u32, tiles_m as u32, tiles_n as u32];
    p.extend(operand_params(la, lb, batch));
    let (na, nb) = (la.ndim(), lb.ndim());
    // Operands contiguous along m (A) or k (B) are staged with another thread mapping.
    let flag = |b: bool| if b { "true" } else { "false" };
    let a_col = la.strides[na - 2] == 1 && la.strides[na - 1] != 1;
    let b_col = lb.strides[nb - 2] == 1 && lb.strides[nb - 1] != 1;
    let (bn_text, bk_text, tile_text) = (bn.to_string(), bk.to_string(), tile.to_string());
    let kernel = gpu.kernel(
        Family::Matmul,
        "matmul",
        &[
            ("A_COLUMN_MAJOR", flag(a_col)),
            ("B_COLUMN_MAJOR", flag(b_col)),
            ("BN", &bn_text),
            ("BK", &bk_text),
            ("HAS_BIAS", flag(bias.is_some())),
            ("BIAS_DECL", if bias.is_some() { BIAS_DECL } else { "" }),
            ("BIAS_LOAD", if bias.is_some() { BIAS_LOAD } else { "" }),
            ("TILE", &tile_text),
            // Last: BIAS_DECL brings a `{T}` of its own.
            ("T", ty),
        ],
    )?;
    // Too few tiles to fill the device over a long K: split K, then add the partials. A few
    // workgroups per SM is the aim (`EMBER_GPU_MATMUL_SPLIT` sets how many workgroups in all);
    // each split keeps at least 256 of K.
    let tiles = tiles_m * tiles_n * nbatch;
    let target = split_target();
    let splits = if tiles < target / 2 && k >= 1024 {
        (target / tiles).clamp(1, k / 256)
    } else {
        1
    };
    let k_chunk = k.div_ceil(splits).next_multiple_of(8);
    p.extend([splits as u32, k_chunk as u32]);
    let mut operands = vec![buffer(a), buffer(b)];
    match bias {
        Some(t) => {
            p.extend([t.layout().offset as u32, t.layout().strides[0] as u32]);
            operands.push(buffer(t));
        }
        None => p.extend([0, 0]),
    }
    let workgroups = (tiles * splits) as u32;
    if splits == 1 {
        gpu.dispatch(
            &kernel,
            &p,
            &[&[buffer(&out)], &operands[..]].concat(),
            workgroups,
        );
        return Ok(Some(out));
    }
    let partial = fresh(&[nbatch * splits * m * n], dtype, a)?;
    gpu.dispatch(
        &kernel,
        &p,
        &[&[buffer(&partial)], &operands[..]].concat(),
        workgroups,
    );
    let total = nbatch * m * n;
    let sum = gpu.kernel(
        Family::Matmul,
        "sum_splits",
        &[
            ("A_COLUMN_MAJOR", "false"),
            ("B_COLUMN_MAJOR", "false"),
            ("BN", "128"),
            ("BK", "8"),
            ("HAS_BIAS", "false"),
            ("BIAS_DECL", ""),
            ("BIAS_LOAD", ""),
            ("TILE", &tile_text),
            ("T", ty),
        ],
    )?;
    let sp = [(m * n) as u32, splits as u32, total as u32];
    gpu.dispatch(
        &sum,
        &sp,
        &[buffer(&out), buffer(&partial)],
        groups(total, 256),
    );
    Ok(Some(out))
}

// ---- fused optimizer steps (float32 or float64, contiguous, checked by rust/optim.rs) ----

use crate::cpu::optim::{Adagrad, Adam, Adamax, Rmsprop, Sgd};

/// The P words of float params for a kernel computing in `dtype`: one f32 word each, or a
/// float64's two (read back exactly by float64.wgsl's `param_f64`).
pub(super) fn float_words(dtype: DType, v: &[f64]) -> Vec<u32> {
    match dtype {
        DType::F64 => v
            .iter()
            .flat_map(|&x| [x.to_bits() as u32, (x.to_bits() >> 32) as u32])
            .collect(),
        _ => v.iter().map(|&x| (x as f32).to_bits()).collect(),
    }
}

/// One optimizer update of `entry` over `p` with gradient `g` and the state tensors its
/// shader binds (s1, s2, s3 in order); an absent optional state binds a one-element scratch
/// tensor its flags keep the shader from touching. None where a tensor is not a fresh-layout
/// float32 (or, with shader-f64, float64) one: the host path takes those.
fn optimizer_step(
    entry: &str,
    p: &Tensor,
    g: &Tensor,
    states: &[Option<&Tensor>],
    hyper: &[f64],
    flags: u32,
    amsgrad: &str,
) -> Result<Option<()>> {
    let gpu = gpu_of(p);
    let dtype = p.dtype();
    let (ty, words) = match types(&gpu, dtype) {
        Some(("f32", _)) => ("f32", "1"),
        Some(("f64", _)) => ("f64", "2"),
        _ => return Ok(None),
    };
    let ready = |t: &Tensor| t.dtype() == dtype && t.is_contiguous() && t.layout().offset == 0;
    if !ready(p) || !ready(g) || !states.iter().flatten().all(|t| ready(t)) {
        return Ok(None);
    }
    let n = p.numel();
    let mut params = vec![n as u32, flags];
    params.extend(float_words(dtype, hyper));
    let scratch = match states.iter().any(|s| s.is_none()) {
        true => Some(Tensor::for_overwrite(&[1], dtype, p.device())?),
        false => None,
    };
    let mut bufs = vec![buffer(p), buffer(g)];
    bufs.extend(
        states
            .iter()
            .map(|s| buffer(s.or(scratch.as_ref()).expect("a state or the scratch"))),
    );
    let subs = [("AMSGRAD", amsgrad), ("T", ty), ("W", words)];
    let k = gpu.kernel(Family::Optim, entry, &subs)?;
    gpu.dispatch(&k, &params, &bufs, groups(n, 256));
    Ok(Some(()))
}

/// Flags bits the shaders share: 1 maximize, 8 weight decay.
fn common_flags(maximize: bool, weight_decay: f64) -> u32 {
    maximize as u32 | ((weight_decay != 0.0) as u32) << 3
}

pub fn sgd(p: &Tensor, g: &Tensor, buf: Option<&Tensor>, c: &Sgd) -> Result<Option<()>> {
    let flags = c.nesterov as u32
        | (c.maximize as u32) << 1
        | (c.first as u32) << 2
        | ((c.momentum != 0.0) as u32) << 3;
    let hyper = [c.lr, c.momentum, 1.0 - c.dampening, c.weight_decay];
    optimizer_step("sgd", p, g, &[buf], &hyper, flags, "")
}

pub fn adam(
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    vmax: Option<&Tensor>,
    c: &Adam,
) -> Result<Option<()>> {
    let bc1 = 1.0 - c.beta1.powi(c.step as i32);
    let bc2 = 1.0 - c.beta2.powi(c.step as i32);
    // Without weight decay, the decoupled branch with a factor of one changes nothing.
    let decoupled = c.decoupled || c.weight_decay == 0.0;
    let flags = c.amsgrad as u32 | (c.maximize as u32) << 1 | (decoupled as u32) << 2;
    let hyper = [
        c.lr,
        c.beta1,
        c.beta2,
        1.0 - c.beta1,
        1.0 - c.beta2,
        c.lr / bc1,
        bc2.sqrt(),
        c.eps,
        c.weight_decay,
        1.0 - c.lr * c.weight_decay,
    ];
    let mut states = vec![Some(m), Some(v)];
    let amsgrad = if vmax.is_some() {
        states.push(vmax);
        "second = max(s3[i], v); s3[i] = second;"
    } else {
        ""
    };
    optimizer_step("adam", p, g, &states, &hyper, flags, amsgrad)
}

pub fn rmsprop(
    p: &Tensor,
    g: &Tensor,
    square_avg: &Tensor,
    grad_avg: Option<&Tensor>,
    buf: Option<&Tensor>,
    c: &Rmsprop,
) -> Result<Option<()>> {
    let flags = common_flags(c.maximize, c.weight_decay)
        | (c.centered as u32) << 1
        | ((c.momentum > 0.0) as u32) << 2;
    let hyper = [
        c.lr,
        c.alpha,
        1.0 - c.alpha,
        c.eps,
        c.weight_decay,
        c.momentum,
    ];
    let states = [Some(square_avg), grad_avg, buf];
    optimizer_step("rmsprop", p, g, &states, &hyper, flags, "")
}

pub fn adagrad(p: &Tensor, g: &Tensor, sum: &Tensor, c: &Adagrad) -> Result<Option<()>> {
    // In f64, as Python computes it from the float step count.
    let clr = c.lr / (1.0 + (c.step as f64 - 1.0) * c.lr_decay);
    let flags = common_flags(c.maximize, c.weight_decay);
    let hyper = [clr, c.eps, c.weight_decay];
    optimizer_step("adagrad", p, g, &[Some(sum)], &hyper, flags, "")
}

pub fn adamax(
    p: &Tensor,
    g: &Tensor,
    exp_avg: &Tensor,
    exp_inf: &Tensor,
    c: &Adamax,
) -> Result<Option<()>> {
    let clr = c.lr / (1.0 - c.beta1.powf(c.step as f64));
    let flags = common_flags(c.maximize, c.weight_decay);
    let hyper = [c.beta2, clr, c.eps, c.weight_decay, 1.0 - c.beta1];
    let states = [Some(exp_avg), Some(exp_inf)];
    optimizer_step("adamax", p, g, &states, &hyper, flags, "")
}
