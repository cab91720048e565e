//! DType, PyTorch's promotion rules, and the trait that maps Rust scalars to a dtype.

use half::{bf16, f16};
use std::sync::atomic::{AtomicU8, Ordering};

/// The dtype of floating-point tensors made without an explicit dtype (PyTorch's
/// `torch.get_default_dtype()`): float32 unless `set_default_float` changed it.
static DEFAULT_FLOAT: AtomicU8 = AtomicU8::new(0);

pub fn default_float() -> DType {
    match DEFAULT_FLOAT.load(Ordering::Relaxed) {
        1 => DType::F64,
        2 => DType::F16,
        3 => DType::BF16,
        _ => DType::F32,
    }
}

/// Sets the default float dtype; only floating-point dtypes are accepted.
pub fn set_default_float(d: DType) -> crate::error::Result<()> {
    let code = match d {
        DType::F32 => 0,
        DType::F64 => 1,
        DType::F16 => 2,
        DType::BF16 => 3,
        other => crate::bail!(
            DType,
            "only floating-point types are supported as the default type, got {}",
            other.name()
        ),
    };
    DEFAULT_FLOAT.store(code, Ordering::Relaxed);
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Bool,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

/// The three categories promotion distinguishes: a scalar only lifts a tensor to a higher one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Bool,
    Int,
    Float,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// PyTorch's name (`torch.float32` prints as `float32`).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "bool" => DType::Bool,
            "int32" | "int" => DType::I32,
            "int64" | "long" => DType::I64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            _ => return None,
        })
    }

    pub fn category(self) -> Category {
        match self {
            DType::Bool => Category::Bool,
            DType::I32 | DType::I64 => Category::Int,
            _ => Category::Float,
        }
    }

    pub fn is_float(self) -> bool {
        self.category() == Category::Float
    }

    /// The smallest dtype both tensors convert to without loss, as `torch.promote_types`.
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        if a == b {
            return a;
        }
        match (a, b) {
            (Bool, x) | (x, Bool) => x,
            (F16, BF16) | (BF16, F16) => F32,
            _ => {
                let rank = |d: DType| match d {
                    Bool => 0,
                    I32 => 1,
                    I64 => 2,
                    F16 | BF16 => 3,
                    F32 => 4,
                    F64 => 5,
                };
                if rank(a) >= rank(b) {
                    a
                } else {
                    b
                }
            }
        }
    }
}

/// A Rust scalar stored in tensors of one dtype, with the conversions kernels need.
pub trait Element: Copy + Send + Sync + PartialOrd + std::fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    /// The element nearest `v` (halves: through float32, as PyTorch rounds). Not `from_f64`:
    /// `half`'s inherent `from_f64` would shadow it at `T::` call sites.
    fn from_value(v: f64) -> Self;
    fn zero() -> Self;
}

macro_rules! element {
    ($t:ty, $d:ident, $zero:expr, |$v:ident| $from:expr, |$s:ident| $to:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                let $s = self;
                $to
            }
            #[inline(always)]
            fn from_value($v: f64) -> Self {
                $from
            }
            #[inline(always)]
            fn zero() -> Self {
                $zero
            }
        }
    };
}

element!(f32, F32, 0.0, |v| v as f32, |s| s as f64);
element!(f64, F64, 0.0, |v| v, |s| s);
element!(i64, I64, 0, |v| v as i64, |s| s as f64);
element!(i32, I32, 0, |v| v as i32, |s| s as f64);
element!(bool, Bool, false, |v| v != 0.0, |s| if s {
    1.0
} else {
    0.0
});
// Halves round from float32, as PyTorch's do (a float64 goes through float32 first): `half`'s
// own f64 conversions drop the low 32 bits of the significand before rounding, which rounds a
// float32 value's last bits wrongly.
element!(f16, F16, f16::ZERO, |v| f16::from_f32(v as f32), |s| s
    .to_f64());
element!(bf16, BF16, bf16::ZERO, |v| bf16::from_f32(v as f32), |s| s
    .to_f64());

/// Runs `$body` with `$T` bound to the Rust type of `$dtype`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident, $body:block) => {
        match $dtype {
            $crate::dtype::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::dtype::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::dtype::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::dtype::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::dtype::DType::Bool => {
                type $T = bool;
                $body
            }
            $crate::dtype::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::dtype::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn promotion_follows_pytorch() {
        assert_eq!(DType::promote(DType::I64, DType::F32), DType::F32);
        assert_eq!(DType::promote(DType::Bool, DType::I32), DType::I32);
        assert_eq!(DType::promote(DType::F16, DType::BF16), DType::F32);
        assert_eq!(DType::promote(DType::F64, DType::F32), DType::F64);
    }
}
