//! Scalar arithmetic the kernels are generic over: `Num` for every numeric dtype, `Float` for f32/f64.

use crate::dtype::Element;
use std::ops::{Add, Mul, Sub};

pub trait Num: Element + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    const ONE: Self;
    fn div(self, o: Self) -> Self;
    fn pow(self, o: Self) -> Self;
    /// Python's `%`: the result takes the divisor's sign.
    fn rem(self, o: Self) -> Self;
    fn floor_div(self, o: Self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    fn sign(self) -> Self;
    /// NaN-propagating max/min, as torch.maximum.
    fn max_(self, o: Self) -> Self;
    fn min_(self, o: Self) -> Self;
    fn lowest() -> Self;
    fn highest() -> Self;
    fn is_nan(self) -> bool;
}

macro_rules! float_num {
    ($t:ty) => {
        impl Num for $t {
            const ONE: Self = 1.0;
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self / o
            }
            #[inline(always)]
            fn pow(self, o: Self) -> Self {
                self.powf(o)
            }
            #[inline(always)]
            fn rem(self, o: Self) -> Self {
                let r = self % o;
                if r != 0.0 && ((r < 0.0) != (o < 0.0)) {
                    r + o
                } else {
                    r
                }
            }
            #[inline(always)]
            fn floor_div(self, o: Self) -> Self {
                (self / o).floor()
            }
            #[inline(always)]
            fn neg(self) -> Self {
                -self
            }
            #[inline(always)]
            fn abs(self) -> Self {
                self.abs()
            }
            #[inline(always)]
            fn sign(self) -> Self {
                if self > 0.0 {
                    1.0
                } else if self < 0.0 {
                    -1.0
                } else {
                    self
                }
            }
            #[inline(always)]
            fn max_(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    Self::NAN
                } else if self > o {
                    self
                } else {
                    o
                }
            }
            #[inline(always)]
            fn min_(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    Self::NAN
                } else if self < o {
                    self
                } else {
                    o
                }
            }
            #[inline(always)]
            fn lowest() -> Self {
                Self::NEG_INFINITY
            }
            #[inline(always)]
            fn highest() -> Self {
                Self::INFINITY
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                self.is_nan()
            }
        }
    };
}
float_num!(f32);
float_num!(f64);

macro_rules! int_num {
    ($t:ty) => {
        impl Num for $t {
            const ONE: Self = 1;
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                if o == 0 {
                    0
                } else {
                    self.wrapping_div(o)
                }
            }
            #[inline(always)]
            fn pow(self, o: Self) -> Self {
                if o < 0 {
                    if self == 1 {
                        1
                    } else {
                        0
                    }
                } else {
                    self.wrapping_pow(o as u32)
                }
            }
            #[inline(always)]
            fn rem(self, o: Self) -> Self {
                if o == 0 {
                    0
                } else {
                    let r = self.wrapping_rem(o);
                    if r != 0 && ((r < 0) != (o < 0)) {
                        r + o
                    } else {
                        r
                    }
                }
            }
            #[inline(always)]
            fn floor_div(self, o: Self) -> Self {
                if o == 0 {
                    0
                } else {
                    let q = self.wrapping_div(o);
                    // wrapping_rem: MIN % -1 overflows a plain `%` (the quotient wraps to MIN).
                    if (self.wrapping_rem(o) != 0) && ((self < 0) != (o < 0)) {
                        q - 1
                    } else {
                        q
                    }
                }
            }
            #[inline(always)]
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline(always)]
            fn abs(self) -> Self {
                self.wrapping_abs()
            }
            #[inline(always)]
            fn sign(self) -> Self {
                self.signum()
            }
            #[inline(always)]
            fn max_(self, o: Self) -> Self {
                std::cmp::max(self, o)
            }
            #[inline(always)]
            fn min_(self, o: Self) -> Self {
                std::cmp::min(self, o)
            }
            #[inline(always)]
            fn lowest() -> Self {
                <$t>::MIN
            }
            #[inline(always)]
            fn highest() -> Self {
                <$t>::MAX
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }
        }
    };
}
int_num!(i32);
int_num!(i64);

pub trait Float: Num {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tanh(self) -> Self;
    fn erf(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// Round half to even, as torch.round.
    fn round_even(self) -> Self;
    fn atan2(self, o: Self) -> Self;
    fn from_f32(v: f32) -> Self;
}

macro_rules! float_impl {
    ($t:ty, $erf:path) => {
        impl Float for $t {
            #[inline(always)]
            fn exp(self) -> Self {
                self.exp()
            }
            #[inline(always)]
            fn ln(self) -> Self {
                self.ln()
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                self.ln_1p()
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                self.exp_m1()
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                self.sqrt()
            }
            #[inline(always)]
            fn sin(self) -> Self {
                self.sin()
            }
            #[inline(always)]
            fn cos(self) -> Self {
                self.cos()
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                self.tanh()
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn floor(self) -> Self {
                self.floor()
            }
            #[inline(always)]
            fn ceil(self) -> Self {
                self.ceil()
            }
            #[inline(always)]
            fn round_even(self) -> Self {
                self.round_ties_even()
            }
            #[inline(always)]
            fn atan2(self, o: Self) -> Self {
                self.atan2(o)
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                v as $t
            }
        }
    };
}
float_impl!(f32, libm::erff);
float_impl!(f64, libm::erf);
