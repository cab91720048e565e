// float64 math, appended to every shader variant that names f64 (adapters with shader-f64):
// SPIR-V's exp, log, pow and trigonometry take 32-bit floats only, so these are written out from
// what 64-bit hardware has (arithmetic, sqrt, fma, floor/round, ldexp, frexp). Each agrees with
// the CPU's libm to a few units in the last place over finite inputs. WGSL has no 64-bit
// bitcast, so NaN is tested on the value narrowed to float32 (NaN stays NaN there).

fn isnan_f64(x: f64) -> bool {
    return isnan_f32(f32(x));
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
    let n = round(x * 1.4426950408889634);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    var p = f64(1.0);
    for (var k = 14; k > 0; k--) {
        p = 1.0 + p * r / f64(k);
    }
    return ldexp(p, i32(n));
}

fn log_f64(x: f64) -> f64 {
    if (isnan_f64(x) || x == inf_f64()) { return x; }
    if (x < 0.0) { return nan_f64(); }
    if (x == 0.0) { return -inf_f64(); }
    // x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1).
    // (naga's frexp of f64 needs 64-bit integers: the exponent is found by halving steps.)
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

// (sin x, cos x): x = n pi/2 + r (pi/2 in three parts, exact products for |n| < 2^20), then
// Taylor series on |r| <= pi/4 and the quadrant's signs.
fn sincos_f64(x: f64) -> vec2<f64> {
    if (isnan_f64(x) || abs(x) == inf_f64()) { return vec2<f64>(nan_f64()); }
    let n = round(x * 0.6366197723675814);
    let r = ((x - n * 1.57079632673412561417) - n * 6.07710050630396597660e-11) -
        n * 2.02226624871116645580e-21;
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
    switch (i32(n) & 3) {
        case 0: { return vec2<f64>(s, c); }
        case 1: { return vec2<f64>(c, -s); }
        case 2: { return vec2<f64>(-s, -c); }
        default: { return vec2<f64>(-c, s); }
    }
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
    return select(r, -r, x < 0.0);
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
// the rest as e^(b log |a|).
fn pow_f64(a: f64, b: f64) -> f64 {
    if (b == 0.0 || a == 1.0 || (a == -1.0 && abs(b) == inf_f64())) { return f64(1.0); }
    if (isnan_f64(a) || isnan_f64(b)) { return a + b; }
    let integral = floor(b) == b;
    let m = abs(a);
    if (a < 0.0 && !integral && m != inf_f64()) { return nan_f64(); }
    let odd = integral && abs(b) < 9007199254740992.0 && floor(b * 0.5) * 2.0 != b;
    var r: f64;
    if (b == 0.5 && a >= 0.0) {
        r = sqrt(a);
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
