//! THE op table: every op once, with its name (also its kernel / WGSL entry point name).
//!
//! The forward code in `ops/` dispatches on these enums, and `autograd/backward.rs` holds one
//! exhaustive match over `Op` that states every gradient rule.

use crate::dtype::DType;
use crate::shape::Shape;

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }
        impl $name {
            /// Every op of this family, in table order (tests walk the whole table).
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($s => Some($name::$variant),)* _ => None }
            }
        }
    };
}

named_enum!(
    /// Elementwise ops of one input.
    UnaryOp {
        Neg => "neg", Abs => "abs", Exp => "exp", Log => "log", Log1p => "log1p",
        Expm1 => "expm1", Sqrt => "sqrt", Rsqrt => "rsqrt", Sin => "sin", Cos => "cos",
        Tanh => "tanh", Sigmoid => "sigmoid", Relu => "relu", GeluErf => "gelu_erf",
        GeluTanh => "gelu_tanh", Silu => "silu", Softplus => "softplus", Erf => "erf",
        Sign => "sign", Floor => "floor", Ceil => "ceil", Round => "round", Trunc => "trunc",
        Reciprocal => "reciprocal", LogicalNot => "logical_not", BitwiseNot => "bitwise_not",
    }
);

named_enum!(
    /// Elementwise ops of two broadcast inputs.
    BinaryOp {
        Add => "add", Sub => "sub", Mul => "mul", Div => "div", Pow => "pow",
        Maximum => "maximum", Minimum => "minimum", Remainder => "remainder",
        FloorDivide => "floor_divide", Atan2 => "atan2",
        Eq => "eq", Ne => "ne", Lt => "lt", Le => "le", Gt => "gt", Ge => "ge",
        LogicalAnd => "logical_and", LogicalOr => "logical_or", LogicalXor => "logical_xor",
        BitwiseAnd => "bitwise_and", BitwiseOr => "bitwise_or", BitwiseXor => "bitwise_xor",
        // relu's gradient: 0 where `b` (relu's output) is <= 0, else `a`; one kernel where a
        // comparison and a select would take two (PyTorch's threshold_backward).
        ReluBackward => "relu_backward",
    }
);

named_enum!(
    /// Reductions over a set of dims.
    ReduceOp {
        Sum => "sum", Prod => "prod", Max => "amax", Min => "amin",
        ArgMax => "argmax", ArgMin => "argmin", All => "all", Any => "any",
    }
);

impl UnaryOp {
    /// Ops that take integers to float (PyTorch promotes `exp(int_tensor)` to float32).
    pub fn needs_float(self) -> bool {
        !matches!(
            self,
            UnaryOp::Neg
                | UnaryOp::Abs
                | UnaryOp::Sign
                | UnaryOp::Relu
                | UnaryOp::Floor
                | UnaryOp::Ceil
                | UnaryOp::Round
                | UnaryOp::Trunc
                | UnaryOp::LogicalNot
                | UnaryOp::BitwiseNot
        )
    }
}

impl UnaryOp {
    /// Whether the gradient rule reads the input; the others need only the output, so an
    /// in-place change of the input after the op does not invalidate the graph.
    pub fn grad_needs_input(self) -> bool {
        !matches!(
            self,
            UnaryOp::Neg
                | UnaryOp::Exp
                | UnaryOp::Expm1
                | UnaryOp::Sqrt
                | UnaryOp::Rsqrt
                | UnaryOp::Tanh
                | UnaryOp::Sigmoid
                | UnaryOp::Relu
                | UnaryOp::Reciprocal
                | UnaryOp::Sign
                | UnaryOp::Floor
                | UnaryOp::Ceil
                | UnaryOp::Round
                | UnaryOp::Trunc
                | UnaryOp::LogicalNot
                | UnaryOp::BitwiseNot
        )
    }
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }
    pub fn is_bitwise(self) -> bool {
        matches!(
            self,
            BinaryOp::BitwiseAnd | BinaryOp::BitwiseOr | BinaryOp::BitwiseXor
        )
    }
    pub fn is_logical(self) -> bool {
        matches!(
            self,
            BinaryOp::LogicalAnd | BinaryOp::LogicalOr | BinaryOp::LogicalXor
        )
    }
}

/// How a loss reduces its per-sample values (`reduction=` in PyTorch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

/// A recorded op with the parameters its gradient needs. One variant per differentiable op.
#[derive(Debug, Clone)]
pub enum Op {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// Sum/Prod/Max/Min over `dims` (sorted, non-negative) of an input of `in_shape`.
    Reduce {
        op: ReduceOp,
        dims: Vec<usize>,
        keepdim: bool,
    },
    Cast {
        from: DType,
    },
    /// A copy to another device; the gradient goes back to `from`.
    ToDevice {
        from: crate::storage::Device,
    },
    Reshape {
        from: Shape,
    },
    Permute {
        dims: Vec<usize>,
    },
    Expand {
        from: Shape,
    },
    /// `len` elements from `start` with `step` along `dim` (basic slicing and `select`).
    Slice {
        dim: usize,
        start: usize,
        len: usize,
        step: usize,
        from: Shape,
        keep_dim: bool,
    },
    Matmul,
    /// `x @ w.t() + b` over the last dim of x (PyTorch's `linear`): inputs `[x, w]` or
    /// `[x, w, b]`, saved `[x, w]`.
    Linear,
    Cat {
        dim: usize,
        sizes: Vec<usize>,
    },
    Gather {
        dim: usize,
    },
    Scatter {
        dim: usize,
    },
    ScatterAdd {
        dim: usize,
    },
    Where,
    Clamp {
        min: Option<f64>,
        max: Option<f64>,
    },
    CumSum {
        dim: usize,
    },
    Flip {
        dims: Vec<usize>,
    },
    Softmax {
        dim: usize,
    },
    LogSoftmax {
        dim: usize,
    },
    /// 2-D convolution without bias, inputs `[x, weight]`.
    Conv2d {
        geom: crate::cpu::conv::Conv2dGeom,
    },
    /// Softmax cross entropy of `[n, c]` logits against class indices (input: the logits; saved:
    /// logits, int64 targets, the 0-d total weight of the mean, the class weight if any).
    CrossEntropy {
        ignore_index: i64,
        smoothing: f64,
        reduction: Reduction,
    },
    /// Scaled dot-product attention, inputs `[query, key, value]`.
    Attention {
        attn: crate::cpu::attention::Attn,
    },
    /// Average pooling over NCHW input.
    AvgPool2d {
        geom: crate::cpu::conv::Conv2dGeom,
        include_pad: bool,
    },
    /// Normalisation over the last dim (layer/group/batch/RMS norm before the affine part).
    NormRows {
        center: bool,
    },
    /// An in-place write through a view: the base with the region `view` (a layout over the
    /// base's contiguous elements) replaced by the value. Inputs `[base, value]`.
    ViewAssign {
        view: crate::layout::Layout,
    },
    /// The region `view` of a base (re-links a view after a write through it). Input `[base]`.
    AsStrided {
        view: crate::layout::Layout,
    },
    /// `out = src` with `src` written into a copy of `base` at the view `(dim, start, len, step)`.
    SliceAssign {
        dim: usize,
        start: usize,
        len: usize,
        step: usize,
    },
}

impl Op {
    pub fn name(&self) -> String {
        match self {
            Op::Unary(u) => u.name().to_string(),
            Op::Binary(b) => b.name().to_string(),
            Op::Reduce { op, .. } => op.name().to_string(),
            other => {
                let dbg = format!("{other:?}");
                dbg.split([' ', '{']).next().unwrap_or("op").to_lowercase()
            }
        }
    }
}
