// Helpers shared by every shader family: the linear invocation index, strided offsets, float math.
// Params live in `P` (binding 0, u32 words); a strided operand is described there as
// `offset, strides[ndim]` over a shape stored at `P[shape_at..shape_at + ndim]`.

@group(0) @binding(0) var<storage, read> P: array<u32>;

// The workgroup's linear index: dispatches above the per-dimension limit fold into a 2-D grid.
fn group_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// Element offset of the i-th element (row-major over the shape at `shape_at`) of the operand
// whose description starts at `desc_at`.
fn strided_offset(i: u32, ndim: u32, shape_at: u32, desc_at: u32) -> u32 {
    var rem = i;
    var off = P[desc_at];
    for (var d = ndim; d > 0u; d--) {
        let size = P[shape_at + d - 1u];
        off += (rem % size) * P[desc_at + d];
        rem = rem / size;
    }
    return off;
}

fn param_f32(k: u32) -> f32 {
    return bitcast<f32>(P[k]);
}

// NaN tests on the bits: drivers may fold `x != x` to false.
fn isnan_f32(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn nan_f32() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

fn inf_f32() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

// float16 bits (the low half of `h`) as float32: exact, NaN and infinities kept.
fn half_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if (e == 0x1fu) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
    if (e == 0u) {
        let v = f32(m) * 5.9604644775390625e-8;
        return select(v, -v, sign != 0u);
    }
    return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// float32 to float16 bits, to nearest even as the CPU's `half` crate (NaN stays NaN, overflow
// goes to infinity, subnormals kept).
fn f32_to_half(v: f32) -> u32 {
    let x = bitcast<u32>(v);
    let sign = (x >> 16u) & 0x8000u;
    let e = (x >> 23u) & 0xffu;
    let m = x & 0x7fffffu;
    if (e == 0xffu) {
        return sign | 0x7c00u | select(0u, 0x200u, m != 0u) | (m >> 13u);
    }
    let he = i32(e) - 112;
    if (he >= 0x1f) {
        return sign | 0x7c00u;
    }
    if (he <= 0) {
        // Subnormal in float16: the implicit bit joins the mantissa before the shift.
        let shift = u32(14 - he);
        if (shift > 24u) {
            return sign;
        }
        let mm = m | 0x800000u;
        let round = 1u << (shift - 1u);
        let up = (mm & round) != 0u && (mm & (3u * round - 1u)) != 0u;
        return sign | ((mm >> shift) + select(0u, 1u, up));
    }
    // Round to nearest, ties to even; a carry out of the mantissa bumps the exponent.
    let up = (m & 0x1000u) != 0u && (m & 0x2fffu) != 0u;
    return (sign | (u32(he) << 10u) | (m >> 13u)) + select(0u, 1u, up);
}

// bfloat16 bits (the low half of `h`) as float32: exact.
fn bfloat16_to_f32(h: u32) -> f32 {
    return bitcast<f32>(h << 16u);
}

// float32 to bfloat16 bits, to nearest even (NaN kept quiet), as the CPU's `half` crate.
fn f32_to_bfloat16(v: f32) -> u32 {
    let x = bitcast<u32>(v);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (x >> 16u) | 0x40u;
    }
    return (x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u;
}

// x rounded to the nearest float16 / bfloat16 value, kept in float32 (for kernels that compute a
// packed half tensor's float32 stand-in and must round as its own arithmetic would).
fn round_half_f32(x: f32) -> f32 {
    return half_to_f32(f32_to_half(x));
}

fn round_bfloat16_f32(x: f32) -> f32 {
    return bfloat16_to_f32(f32_to_bfloat16(x));
}

// The float32 members of the math families `{name}_{type}` that shaders written for both
// float32 and float64 call (float64.wgsl has the others).
fn exp_f32(x: f32) -> f32 {
    return exp(x);
}

fn log_f32(x: f32) -> f32 {
    return log(x);
}

// erf: its Maclaurin series below 1/2 (relative accuracy for small x), else to within 1.2e-7
// by Numerical Recipes' erfc Chebyshev fit.
fn erf_f32(x: f32) -> f32 {
    let z = abs(x);
    if (x == 0.0) {
        return x;
    }
    if (z < 0.5) {
        // 2/sqrt(pi) sum_k (-1)^k x^(2k+1) / (k! (2k+1)), eight terms.
        let z2 = x * x;
        var term = x;
        var sum = x;
        for (var k = 1; k < 8; k++) {
            term = -term * z2 / f32(k);
            sum += term / f32(2 * k + 1);
        }
        return 1.1283791670955126 * sum;
    }
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    return select(1.0 - r, r - 1.0, x < 0.0);
}

// log(1 + x) without losing small x: near 0 by the series of 2 atanh(x / (2 + x)), never
// forming 1 + x (compilers may fold `log(1 + x) * x / ((1 + x) - 1)`, the usual trick, into
// plain log(1 + x): Mesa's does).
fn log1p_f32(x: f32) -> f32 {
    if (x > -0.2928932 && x < 0.41421356) {
        let s = x / (2.0 + x);
        let s2 = s * s;
        var t = 0.0;
        for (var k = 13; k >= 3; k -= 2) {
            t = (t + 1.0 / f32(k)) * s2;
        }
        return 2.0 * s + 2.0 * s * t;
    }
    return log(1.0 + x);
}

// exp(x) - 1 without losing small x: its Taylor series below 1/2.
fn expm1_f32(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        var p = 1.0;
        for (var k = 10; k > 1; k--) {
            p = 1.0 + p * x / f32(k);
        }
        return x * p;
    }
    return exp(x) - 1.0;
}

// tanh as t / (t + 2), t = expm1(2|x|): drivers' tanh may lose small arguments (lavapipe's is
// 12% off at 1e-7) or return NaN for large ones.
fn tanh_f32(x: f32) -> f32 {
    if (abs(x) > 15.0 || x == 0.0) {
        return select(sign(x), x, x == 0.0);
    }
    let t = expm1_f32(2.0 * abs(x));
    let r = t / (t + 2.0);
    return select(r, -r, x < 0.0);
}

fn sigmoid_f32(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

fn softplus_f32(x: f32) -> f32 {
    return select(log1p_f32(exp(x)), x, x > 20.0);
}

fn pow_f32(a: f32, b: f32) -> f32 {
    if (b == 0.0) { return 1.0; }
    let r = pow(abs(a), b);
    if (a >= 0.0 || isnan_f32(a)) { return select(r, 0.0, a == 0.0 && b > 0.0); }
    // A negative base needs an integral exponent; odd exponents keep the sign.
    if (floor(b) != b) { return nan_f32(); }
    let odd = abs(b) < 16777216.0 && (i32(b) & 1) == 1;
    return select(r, -r, odd);
}

fn sign_f32(x: f32) -> f32 {
    return select(sign(x), x, isnan_f32(x));
}

fn maximum_f32(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), a, isnan_f32(a)), b, isnan_f32(b));
}

fn minimum_f32(a: f32, b: f32) -> f32 {
    return select(select(min(a, b), a, isnan_f32(a)), b, isnan_f32(b));
}

// Python's `%`: the result takes the divisor's sign. WGSL's `%` is a - b * trunc(a / b), NaN
// for an infinite divisor where C's fmod (the CPU) keeps `a`: 5 % -inf is -inf, as PyTorch.
fn remainder_f32(a: f32, b: f32) -> f32 {
    let b_inf = (bitcast<u32>(b) & 0x7fffffffu) == 0x7f800000u;
    let a_finite = (bitcast<u32>(a) & 0x7f800000u) != 0x7f800000u;
    let r = select(a % b, a, b_inf && a_finite);
    return select(r, r + b, r != 0.0 && ((r < 0.0) != (b < 0.0)));
}

// The truncated remainder, without `%` on negative integers: GLSL leaves that undefined (wgpu's
// GL backend passes it through) and llvmpipe answers as if the operands were unsigned.
fn rem_trunc_i32(a: i32, b: i32) -> i32 {
    return a - (a / b) * b;
}

fn floor_divide_i32(a: i32, b: i32) -> i32 {
    if (b == 0) { return 0; }
    let q = a / b;
    return select(q, q - 1, (rem_trunc_i32(a, b) != 0) && ((a < 0) != (b < 0)));
}

fn remainder_i32(a: i32, b: i32) -> i32 {
    if (b == 0) { return 0; }
    let r = rem_trunc_i32(a, b);
    return select(r, r + b, r != 0 && ((r < 0) != (b < 0)));
}

// int64 as two u32 words (low, high), two's complement, wrapping like the CPU's.
fn i64_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn i64_sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn i64_neg(a: vec2<u32>) -> vec2<u32> {
    return i64_sub(vec2<u32>(0u), a);
}

fn i64_negative(a: vec2<u32>) -> bool {
    return (a.y & 0x80000000u) != 0u;
}

fn i64_lt(a: vec2<u32>, b: vec2<u32>) -> bool {
    return bitcast<i32>(a.y) < bitcast<i32>(b.y) || (a.y == b.y && a.x < b.x);
}

// The full 64-bit product of two u32, from 16-bit halves.
fn u32_wide_mul(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let mid = p01 + p10;
    let mid_carry = select(0u, 0x10000u, mid < p01);
    let lo = p00 + (mid << 16u);
    let hi = a1 * b1 + (mid >> 16u) + mid_carry + select(0u, 1u, lo < p00);
    return vec2<u32>(lo, hi);
}

// x held between lo and hi (torch.clamp: hi wins where lo > hi).
fn i64_clamp(x: vec2<u32>, lo: vec2<u32>, hi: vec2<u32>) -> vec2<u32> {
    let up = select(x, lo, i64_lt(x, lo));
    return select(up, hi, i64_lt(hi, up));
}

fn i64_mul(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let low = u32_wide_mul(a.x, b.x);
    return vec2<u32>(low.x, low.y + a.x * b.y + a.y * b.x);
}

// Unsigned 64-bit `a / b` and `a % b` as (quotient, remainder) words, for magnitudes of int64
// (at most 2^63, so the running remainder never outgrows 64 bits); b != 0.
fn u64_divmod(a: vec2<u32>, b: vec2<u32>) -> vec4<u32> {
    if (a.y == 0u && b.y == 0u) {
        return vec4<u32>(a.x / b.x, 0u, a.x % b.x, 0u);
    }
    var q = vec2<u32>(0u);
    var r = vec2<u32>(0u);
    for (var k = 0u; k < 64u; k++) {
        let i = 63u - k;
        let bit = (select(a.x, a.y, i >= 32u) >> (i & 31u)) & 1u;
        r = vec2<u32>((r.x << 1u) | bit, (r.y << 1u) | (r.x >> 31u));
        q = vec2<u32>(q.x << 1u, (q.y << 1u) | (q.x >> 31u));
        if (r.y > b.y || (r.y == b.y && r.x >= b.x)) {
            r = i64_sub(r, b);
            q.x = q.x | 1u;
        }
    }
    return vec4<u32>(q, r);
}

fn i64_abs(a: vec2<u32>) -> vec2<u32> {
    return select(a, i64_neg(a), i64_negative(a));
}

fn i64_is_zero(a: vec2<u32>) -> bool {
    return a.x == 0u && a.y == 0u;
}

// Rust's wrapping_div and wrapping_rem (truncating; MIN / -1 wraps to MIN) as (q, r); 0 for a
// zero divisor, as the CPU kernel answers.
fn i64_divmod(a: vec2<u32>, b: vec2<u32>) -> vec4<u32> {
    if (i64_is_zero(b)) { return vec4<u32>(0u); }
    let m = u64_divmod(i64_abs(a), i64_abs(b));
    let q = select(m.xy, i64_neg(m.xy), i64_negative(a) != i64_negative(b));
    let r = select(m.zw, i64_neg(m.zw), i64_negative(a));
    return vec4<u32>(q, r);
}

// Python's `//`: rounds toward negative infinity.
fn floor_divide_i64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let qr = i64_divmod(a, b);
    let down = !i64_is_zero(qr.zw) && i64_negative(a) != i64_negative(b);
    return select(qr.xy, i64_sub(qr.xy, vec2<u32>(1u, 0u)), down);
}

// Python's `%`: the result takes the divisor's sign.
fn remainder_i64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let r = i64_divmod(a, b).zw;
    let shift = !i64_is_zero(r) && i64_negative(r) != i64_negative(b);
    return select(r, i64_add(r, b), shift);
}

// Integer powers wrap as Rust's wrapping_pow (which reads the exponent as u32); a negative
// exponent gives 1 for a base of 1, else 0, as the CPU kernel answers.
fn pow_i32(a: i32, b: i32) -> i32 {
    if (b < 0) { return select(0, 1, a == 1); }
    var e = u32(b);
    var base = a;
    var r = 1;
    while (e != 0u) {
        if ((e & 1u) != 0u) { r = r * base; }
        e = e >> 1u;
        base = base * base;
    }
    return r;
}

fn pow_i64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    if (i64_negative(b)) {
        return select(vec2<u32>(0u), vec2<u32>(1u, 0u), a.x == 1u && a.y == 0u);
    }
    var e = b.x;
    var base = a;
    var r = vec2<u32>(1u, 0u);
    while (e != 0u) {
        if ((e & 1u) != 0u) { r = i64_mul(r, base); }
        e = e >> 1u;
        base = i64_mul(base, base);
    }
    return r;
}
