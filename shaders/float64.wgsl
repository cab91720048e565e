// float64 math, appended to every shader variant that names f64 (adapters with shader-f64):
// SPIR-V's exp, log, pow and trigonometry take 32-bit floats only, so these are written out from
// what 64-bit hardware has (arithmetic, sqrt, fma, floor/round, ldexp). Each agrees with the CPU's
// libm to a few units in the last place over finite inputs (erf to a dozen, pow: see there);
// results in the subnormal range are as exact as the adapter's float64 ldexp keeps them. WGSL
// has no 64-bit bitcast, so NaN is tested on the value narrowed to float32 (NaN stays NaN).

fn isnan_f64(x: f64) -> bool {
    return isnan_f32(f32(x));
}

// Round half to even (as the CPU and NumPy) from floor alone: lavapipe's float64 `round`
// truncates (1.5 gave 1). x - floor(x) is exact; from 2^52 on every float64 is an integer.
fn round_f64(x: f64) -> f64 {
    let f = floor(x);
    let d = x - f;
    let odd = floor(f * 0.5) * 2.0 != f;
    let up = d > 0.5 || (d == 0.5 && odd);
    let r = select(f, f + 1.0, up);
    // -0.5 rounds to -0.0, as on the CPU.
    return select(select(r, select(0.0lf, -0.0lf, x < 0.0), r == 0.0), x, !(abs(x) < 4503599627370496.0));
}

// Toward zero from floor and ceil, which lavapipe computes exactly in float64 (its `trunc` and
// `%` lose every digit past float32's). -0.5 gives -0.0, as on the CPU.
fn trunc_f64(x: f64) -> f64 {
    return select(ceil(x), floor(x), x >= 0.0);
}

// Python's `%` in float64: ((1e15 + 3) % 7 gave 0 through lavapipe's `%`). fmod(a, b) is `a`
// whenever |a| < |b|, which also keeps a finite `a` for an infinite divisor (C's fmod, the CPU);
// otherwise a - trunc(a / b) * b, stepped back once where the rounded quotient crossed an integer
// (the remainder then has the wrong sign), then moved to the divisor's sign.
fn remainder_f64(a: f64, b: f64) -> f64 {
    var r = a - trunc_f64(a / b) * b;
    r = select(r, r + select(b, -b, (a < 0.0) != (b < 0.0)), r != 0.0 && ((r < 0.0) != (a < 0.0)));
    r = select(r, a, abs(a) < abs(b));
    return select(r, r + b, r != 0.0 && ((r < 0.0) != (b < 0.0)));
}

fn inf_f64() -> f64 {
    return f64(inf_f32());
}

fn nan_f64() -> f64 {
    return f64(nan_f32());
}

// The float64 with bits (lo, hi): how a kernel's float64 params arrive (in two P words).
fn f64_from_bits(lo: u32, hi: u32) -> f64 {
    let e = i32((hi >> 20u) & 0x7ffu);
    let mantissa = f64(hi & 0xfffffu) * 4294967296.0 + f64(lo);
    var magnitude: f64;
    if (e == 0x7ff) {
        magnitude = select(inf_f64(), nan_f64(), mantissa != 0.0);
    } else if (e == 0) {
        magnitude = ldexp(mantissa, -1074);
    } else {
        magnitude = ldexp(mantissa + 4503599627370496.0, e - 1075);
    }
    return select(magnitude, -magnitude, (hi & 0x80000000u) != 0u);
}

fn param_f64(k: u32) -> f64 {
    return f64_from_bits(P[k], P[k + 1u]);
}

fn maximum_f64(a: f64, b: f64) -> f64 {
    return select(select(max(a, b), a, isnan_f64(a)), b, isnan_f64(b));
}

fn minimum_f64(a: f64, b: f64) -> f64 {
    return select(select(min(a, b), a, isnan_f64(a)), b, isnan_f64(b));
}

fn sign_f64(x: f64) -> f64 {
    return select(sign(x), x, isnan_f64(x));
}

// ln 2 in two parts: n * LN2_HI is exact for the exponents exp and log meet.
const LN2_HI: f64 = 6.93147180369123816490e-01;
const LN2_LO: f64 = 1.90821492927058770002e-10;
const PI: f64 = 3.141592653589793;
const HALF_PI: f64 = 1.5707963267948966;

fn exp_f64(x: f64) -> f64 {
    if (isnan_f64(x)) { return x; }
    if (x > 709.782712893384) { return inf_f64(); }
    if (x < -745.2) { return f64(0.0); }
    // x = n ln2 + r with |r| <= ln2 / 2; e^r by its Taylor series (14 terms leave < 1e-17).
    let n = round_f64(x * 1.4426950408889634);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    var p = f64(1.0);
    for (var k = 14; k > 0; k--) {
        p = 1.0 + p * r / f64(k);
    }
    return ldexp(p, i32(n));
}

// x (positive, finite) as m 2^e with m in [1, 2). (naga's frexp of f64 needs 64-bit integers:
// the exponent is found by halving steps, each exact.)
struct SplitF64 {
    m: f64,
    e: i32,
}

fn split_f64(x: f64) -> SplitF64 {
    var m = x;
    var e = 0;
    if (m < 1e-300) {
        m = ldexp(m, 64);
        e = -64;
    }
    for (var k = 512; k >= 1; k /= 2) {
        if (m >= ldexp(f64(1.0), k)) {
            m = ldexp(m, -k);
            e += k;
        }
        if (ldexp(m, k) < 2.0) {
            m = ldexp(m, k);
            e -= k;
        }
    }
    return SplitF64(m, e);
}

fn log_f64(x: f64) -> f64 {
    if (isnan_f64(x) || x == inf_f64()) { return x; }
    if (x < 0.0) { return nan_f64(); }
    if (x == 0.0) { return -inf_f64(); }
    // x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1).
    let split = split_f64(x);
    var m = split.m;
    var e = split.e;
    if (m > 1.4142135623730951) {
        m = m * 0.5;
        e = e + 1;
    }
    let ef = f64(e);
    return ef * LN2_HI + (log_near_one_f64(m - 1.0) + ef * LN2_LO);
}

// log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1], without forming 1 + f: 2 atanh(s) with
// s = f / (2 + f), |s| <= 0.1716, where 12 terms of the series leave < 1e-18.
fn log_near_one_f64(f: f64) -> f64 {
    let s = f / (2.0 + f);
    let s2 = s * s;
    var t = f64(0.0);
    for (var k = 23; k >= 3; k -= 2) {
        t = (t + 1.0 / f64(k)) * s2;
    }
    return 2.0 * s + 2.0 * s * t;
}

fn expm1_f64(x: f64) -> f64 {
    if (abs(x) < 0.5) {
        var p = f64(1.0);
        for (var k = 17; k > 1; k--) {
            p = 1.0 + p * x / f64(k);
        }
        return x * p;
    }
    return exp_f64(x) - 1.0;
}

// (Not log(1 + x) * x / ((1 + x) - 1): shader compilers may fold that quotient to 1.)
fn log1p_f64(x: f64) -> f64 {
    if (x > -0.2928932188134524 && x < 0.41421356237309503) {
        return log_near_one_f64(x);
    }
    return log_f64(1.0 + x);
}

// e^(-z^2) with z^2 carried in two parts, so large z loses nothing to its rounding.
fn exp_neg_square_f64(z: f64) -> f64 {
    let hi = z * z;
    return exp_f64(-hi) * (1.0 - fma(z, z, -hi));
}

// 2/pi to 1216 bits after the point, for reducing huge arguments.
const TWO_OVER_PI = array<u32, 38>(
    0xa2f9836eu, 0x4e441529u, 0xfc2757d1u, 0xf534ddc0u, 0xdb629599u, 0x3c439041u, 0xfe5163abu,
    0xdebbc561u, 0xb7246e3au, 0x424dd2e0u, 0x06492eeau, 0x09d1921cu, 0xfe1deb1cu, 0xb129a73eu,
    0xe88235f5u, 0x2ebb4484u, 0xe99c7026u, 0xb45f7e41u, 0x3991d639u, 0x835339f4u, 0x9c845f8bu,
    0xbdf9283bu, 0x1ff897ffu, 0xde05980fu, 0xef2f118bu, 0x5a0a6d1fu, 0x6d367ecfu, 0x27cb09b7u,
    0x4f463f66u, 0x9e5fea2du, 0x7527bac7u, 0xebe5f17bu, 0x3d0739f7u, 0x8a5292eau, 0x6bfb5fb1u,
    0x1f8d5d08u, 0x56033046u, 0xfc7b6babu);

fn two_over_pi_word(k: i32) -> u32 {
    if (k < 0 || k >= 38) { return 0u; }
    var table = TWO_OVER_PI;
    return table[k];
}

// The 32 bits of 2/pi from bit s on (bit 1 is the first after the point; those before are 0).
fn two_over_pi_bits(s: i32) -> u32 {
    let i0 = s - 1;
    if (i0 <= -32) { return 0u; }
    if (i0 < 0) { return two_over_pi_word(0) >> u32(-i0); }
    let sh = u32(i0 % 32);
    let k = i0 / 32;
    if (sh == 0u) { return two_over_pi_word(k); }
    return (two_over_pi_word(k) << sh) | (two_over_pi_word(k + 1) >> (32u - sh));
}

// Adds `v` at word `q` of a 192-bit little-endian integer, carrying upwards (mod 2^192).
fn add_word(r: ptr<function, array<u32, 6>>, q: u32, v: u32) {
    var c = v;
    for (var k = q; k < 6u && c != 0u; k++) {
        let t = (*r)[k] + c;
        c = select(0u, 1u, t < c);
        (*r)[k] = t;
    }
}

fn word_of(r: ptr<function, array<u32, 6>>, k: i32) -> u32 {
    if (k < 0) { return 0u; }
    return (*r)[k];
}

struct Quadrant {
    n: u32,
    r: f64,
}

// a = (4k + n + f) pi/2 for a huge a (Payne and Hanek): with a = m 2^E, only the 192 bits of 2/pi
// from bit E - 1 on reach the two low integer bits and the fraction of a 2/pi; their product
// with m, taken mod 2^192, holds n in its top two bits and f (to about 2^-120) below them.
fn reduce_huge_f64(a: f64) -> Quadrant {
    let split = split_f64(a);
    let m = ldexp(split.m, 52);
    let e = split.e - 52;
    let m_hi = floor(m / 4294967296.0);
    let words = vec2<u32>(u32(m - m_hi * 4294967296.0), u32(m_hi));
    var w: array<u32, 6>;
    for (var j = 0; j < 6; j++) {
        w[j] = two_over_pi_bits(e - 1 + 32 * (5 - j));
    }
    var r: array<u32, 6>;
    for (var i = 0u; i < 2u; i++) {
        for (var j = 0u; i + j < 6u; j++) {
            let p = u32_wide_mul(words[i], w[j]);
            add_word(&r, i + j, p.x);
            add_word(&r, i + j + 1u, p.y);
        }
    }
    var n = r[5] >> 30u;
    r[5] = r[5] & 0x3fffffffu;
    // A fraction of one half or more counts from the next quadrant, negated: |f| <= 1/2.
    let negative = (r[5] >> 29u) != 0u;
    if (negative) {
        n = (n + 1u) & 3u;
        var c = 1u;
        for (var k = 0u; k < 6u; k++) {
            let t = ~r[k] + c;
            c = select(0u, 1u, t < c);
            r[k] = t;
        }
        r[5] = r[5] & 0x3fffffffu;
    }
    var top = 5;
    while (top > 0 && r[top] == 0u) {
        top--;
    }
    if (r[top] == 0u) {
        return Quadrant(n, f64(0.0));
    }
    let lz = countLeadingZeros(r[top]);
    let hi = (r[top] << lz) | select(0u, word_of(&r, top - 1) >> (32u - lz), lz != 0u);
    let lo = (word_of(&r, top - 1) << lz) | select(0u, word_of(&r, top - 2) >> (32u - lz), lz != 0u);
    let f = ldexp(f64(hi) * 4294967296.0 + f64(lo), 32 * top + 31 - i32(lz) - 253);
    return Quadrant(n, select(f, -f, negative) * HALF_PI);
}

// (sin x, cos x): |x| = n pi/2 + r, |r| <= pi/4 (pi/2 in three parts, exact products for
// |n| < 2^20; beyond, Payne and Hanek), then Taylor series and the quadrant's signs.
fn sincos_f64(x: f64) -> vec2<f64> {
    if (isnan_f64(x) || abs(x) == inf_f64()) { return vec2<f64>(nan_f64()); }
    let a = abs(x);
    var q: Quadrant;
    if (a < 1647099.0) {
        let n = round_f64(a * 0.6366197723675814);
        q = Quadrant(u32(n) & 3u, ((a - n * 1.57079632673412561417) - n * 6.07710050630396597660e-11) -
            n * 2.02226624871116645580e-21);
    } else {
        q = reduce_huge_f64(a);
    }
    let r = q.r;
    let r2 = r * r;
    var s = f64(1.0);
    for (var k = 9; k > 0; k--) {
        s = 1.0 - s * r2 / f64((2 * k) * (2 * k + 1));
    }
    s = r * s;
    var c = f64(1.0);
    for (var k = 10; k > 0; k--) {
        c = 1.0 - c * r2 / f64((2 * k - 1) * (2 * k));
    }
    var sc: vec2<f64>;
    switch (q.n) {
        case 0u: { sc = vec2<f64>(s, c); }
        case 1u: { sc = vec2<f64>(c, -s); }
        case 2u: { sc = vec2<f64>(-s, -c); }
        default: { sc = vec2<f64>(-c, s); }
    }
    return vec2<f64>(select(sc.x, -sc.x, negative_f64(x)), sc.y);
}

fn tanh_f64(x: f64) -> f64 {
    if (x == 0.0) { return x; }
    if (abs(x) > 22.0) { return sign(x); }
    let t = expm1_f64(2.0 * abs(x));
    let r = t / (t + 2.0);
    return select(r, -r, x < 0.0);
}

fn sigmoid_f64(x: f64) -> f64 {
    return 1.0 / (1.0 + exp_f64(-x));
}

fn softplus_f64(x: f64) -> f64 {
    return select(log1p_f64(exp_f64(x)), x, x > 20.0);
}

fn erf_f64(x: f64) -> f64 {
    if (isnan_f64(x)) { return x; }
    let z = abs(x);
    var r = f64(1.0);
    if (z < 2.5) {
        // erf z = 2/sqrt(pi) e^(-z^2) sum_k 2^k z^(2k+1) / (1 3 5 ... (2k+1)): no cancellation.
        let z2 = z * z;
        var term = z;
        var sum = z;
        for (var k = 1; k < 120; k++) {
            term = term * 2.0 * z2 / f64(2 * k + 1);
            sum += term;
            if (term < sum * 1e-17) { break; }
        }
        r = 1.1283791670955126 * exp_neg_square_f64(z) * sum;
    } else if (z < 6.0) {
        // 1 - erfc z, erfc by its continued fraction, evaluated from the tail.
        var f = z;
        for (var k = 60; k > 0; k--) {
            f = z + (f64(k) * 0.5) / f;
        }
        r = 1.0 - exp_neg_square_f64(z) / f * 0.5641895835477563;
    }
    return select(r, -r, negative_f64(x));
}

fn atan_f64(x: f64) -> f64 {
    if (isnan_f64(x)) { return x; }
    let a = abs(x);
    // atan a = pi/2 - atan(1/a) above 1; then pi/4 + atan((t - 1) / (t + 1)) above tan(pi/8).
    var t = select(a, 1.0 / a, a > 1.0);
    var offset = f64(0.0);
    if (t > 0.41421356237309503) {
        t = (t - 1.0) / (t + 1.0);
        offset = 0.7853981633974483;
    }
    let t2 = t * t;
    var s = f64(0.0);
    for (var k = 43; k >= 3; k -= 2) {
        s = (s + select(f64(-1.0), f64(1.0), (k & 2) == 0) / f64(k)) * t2;
    }
    var r = offset + (t + t * s);
    if (a > 1.0) {
        r = HALF_PI - r;
    }
    return select(r, -r, x < 0.0);
}

// Whether x carries a minus sign, -0.0 included.
fn negative_f64(x: f64) -> bool {
    return x < 0.0 || (x == 0.0 && 1.0 / x < 0.0);
}

fn atan2_f64(y: f64, x: f64) -> f64 {
    if (isnan_f64(x) || isnan_f64(y)) { return x + y; }
    let ax = abs(x);
    let ay = abs(y);
    let left = negative_f64(x);
    var r: f64;
    if (ax == inf_f64() && ay == inf_f64()) {
        r = select(0.25 * PI, 0.75 * PI, left);
    } else if (ay == 0.0 || ax == inf_f64()) {
        r = select(0.0, PI, left);
    } else if (ax == 0.0 || ay == inf_f64()) {
        r = HALF_PI;
    } else {
        let a = atan_f64(ay / ax);
        r = select(a, PI - a, left);
    }
    return select(r, -r, negative_f64(y));
}

// a^b as the CPU's powf: exact rules for zeros, ones, infinities and negative bases; small
// integral exponents by repeated squaring (what x ** 2 and x ** 3 need exactly), 0.5 as sqrt,
// the rest as e^(b log |a|), whose relative error grows with |b log |a||: about that many
// units in the last place (a few hundred near overflow). A double-double log would remove it,
// but its error-free products are what shader compilers fold away.
fn pow_f64(a: f64, b: f64) -> f64 {
    if (b == 0.0 || a == 1.0 || (a == -1.0 && abs(b) == inf_f64())) { return f64(1.0); }
    if (isnan_f64(a) || isnan_f64(b)) { return a + b; }
    let integral = floor(b) == b;
    let m = abs(a);
    if (a < 0.0 && !integral && m != inf_f64()) { return nan_f64(); }
    let odd = integral && abs(b) < 9007199254740992.0 && floor(b * 0.5) * 2.0 != b;
    var r: f64;
    if (b == 0.5 && a >= 0.0) {
        r = sqrt(m);
    } else if (integral && abs(b) <= 64.0) {
        var e = u32(abs(b));
        var base = m;
        r = 1.0;
        while (e != 0u) {
            if ((e & 1u) != 0u) { r = r * base; }
            e = e >> 1u;
            base = base * base;
        }
        if (b < 0.0) { r = 1.0 / r; }
    } else if (m == 0.0) {
        r = select(0.0, inf_f64(), b < 0.0);
    } else if (m == inf_f64()) {
        r = select(inf_f64(), 0.0, b < 0.0);
    } else {
        r = exp_f64(b * log_f64(m));
    }
    return select(r, -r, negative_f64(a) && odd);
}
