// Index family: gather, scatter(-add), flip, cumsum, argsort and the int64 casts. Elements are
// moved as {T} (int64 and float64 as vec2<u32>, bool as u32); {SUM} is how scatter-add adds
// two of them, `v` and `s`. Each entry point declares its own bindings
// (only the ones it uses count for its pipeline). An index operand is int64 (two words, little
// endian) or int32, as `P[3]` says; out-of-range indices read nothing and are counted in `bad`.

// ---- 64-bit integers as vec2<u32>(lo, hi) ----

fn shl64(m: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) { return m; }
    if (s >= 64u) { return vec2<u32>(0u, 0u); }
    if (s >= 32u) { return vec2<u32>(0u, m.x << (s - 32u)); }
    return vec2<u32>(m.x << s, (m.y << s) | (m.x >> (32u - s)));
}

fn shr64(m: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) { return m; }
    if (s >= 64u) { return vec2<u32>(0u, 0u); }
    if (s >= 32u) { return vec2<u32>(m.y >> (s - 32u), 0u); }
    return vec2<u32>((m.x >> s) | (m.y << (32u - s)), m.y >> s);
}

fn gt64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y > b.y || (a.y == b.y && a.x > b.x);
}

// The unsigned `m` rounded to `k` significant bits, ties to even (what a cast to a float with a
// k-bit significand does).
fn round64(m: vec2<u32>, k: u32) -> vec2<u32> {
    if (m.x == 0u && m.y == 0u) { return m; }
    let p = select(31u - countLeadingZeros(m.x), 63u - countLeadingZeros(m.y), m.y != 0u);
    if (p < k) { return m; }
    let s = p + 1u - k;
    var q = shr64(m, s);
    let r = i64_sub(m, shl64(q, s));
    let half = shl64(vec2<u32>(1u, 0u), s - 1u);
    if (gt64(r, half) || (all(r == half) && (q.x & 1u) == 1u)) {
        q = i64_add(q, vec2<u32>(1u, 0u));
    }
    return shl64(q, s);
}

// int64 -> float32 through float64, as the CPU's `v as f64 as f32`.
fn i64_to_f32(v: vec2<u32>) -> f32 {
    let neg = (v.y & 0x80000000u) != 0u;
    let m = select(v, i64_neg(v), neg);
    let r = round64(round64(m, 53u), 24u);
    let f = f32(r.y) * 4294967296.0 + f32(r.x);
    return select(f, -f, neg);
}

// float32 -> int64 as Rust's `as`: toward zero, saturating, NaN to 0.
fn f32_to_i64(x: f32) -> vec2<u32> {
    if (isnan_f32(x)) { return vec2<u32>(0u, 0u); }
    if (x >= 9223372036854775808.0) { return vec2<u32>(0xffffffffu, 0x7fffffffu); }
    if (x <= -9223372036854775808.0) { return vec2<u32>(0u, 0x80000000u); }
    let a = trunc(abs(x));
    let hi = floor(a / 4294967296.0);
    let lo = a - hi * 4294967296.0;
    let m = vec2<u32>(u32(lo), u32(hi));
    return select(m, i64_neg(m), x < 0.0);
}

// int64 -> int32 through float64: saturating.
fn i64_to_i32(v: vec2<u32>) -> i32 {
    let hi = bitcast<i32>(v.y);
    if (hi > 0 || (hi == 0 && v.x > 0x7fffffffu)) { return 2147483647; }
    if (hi < -1 || (hi == -1 && v.x < 0x80000000u)) { return bitcast<i32>(0x80000000u); }
    return bitcast<i32>(v.x);
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

// int64 -> float16 bits as the CPU's `from_f64(v as f64)`: to 11 significant bits, ties to
// even, infinity from 65520 on (below 2^16 the trip through float64 is exact).
fn i64_to_half(v: vec2<u32>) -> u32 {
    let neg = i64_negative(v);
    let m = i64_abs(v);
    let sign = select(0u, 0x8000u, neg);
    if (m.y != 0u || m.x >= 65520u) { return sign | 0x7c00u; }
    let r = round64(m, 11u).x;
    if (r == 0u) { return sign; }
    let p = 31u - countLeadingZeros(r);
    let frac = select(r << (10u - p), r >> (p - 10u), p >= 10u) & 0x3ffu;
    return sign | ((p + 15u) << 10u) | frac;
}

// The CPU's `(a as f64 + b as f64) as i64`, what its scatter-add does for int64: both rounded
// to 53 bits, their sum rounded again, out-of-range sums saturating.
fn i64_add_as_f64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let na = i64_negative(a);
    let nb = i64_negative(b);
    let ma = round64(i64_abs(a), 53u);
    let mb = round64(i64_abs(b), 53u);
    var neg = na;
    var m = vec2<u32>(0u);
    var huge = false;
    if (na == nb) {
        m = i64_add(ma, mb);
        huge = gt64(ma, m); // carried out of 64 bits
    } else if (gt64(mb, ma)) {
        m = i64_sub(mb, ma);
        neg = nb;
    } else {
        m = i64_sub(ma, mb);
    }
    // From 2^63 on (where rounding could also carry out) only the saturated ends remain.
    let top = 0x80000000u;
    if (huge || m.y >= top) { return select(vec2<u32>(0xffffffffu, 0x7fffffffu), vec2<u32>(0u, top), neg); }
    let r = round64(m, 53u);
    if (r.y >= top) { return select(vec2<u32>(0xffffffffu, 0x7fffffffu), vec2<u32>(0u, top), neg); }
    return select(r, i64_neg(r), neg);
}

// The CPU's `(a as f64 + b as f64) as i32` for its int32 scatter-add: a saturating add.
fn i32_add_saturating(a: i32, b: i32) -> i32 {
    let s = a + b;
    if ((a < 0) == (b < 0) && (s < 0) != (a < 0)) {
        return select(2147483647, bitcast<i32>(0x80000000u), a < 0);
    }
    return s;
}

// ---- casts: P = n, kind, input offset; contiguous ----

@group(0) @binding(1) var<storage, read_write> c_out32: array<u32>;
@group(0) @binding(2) var<storage, read> c_in64: array<vec2<u32>>;

// kind 0: float32, 1: int32, 2: bool (float16: `i64_to_halves`).
@compute @workgroup_size(256)
fn from_i64(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) { return; }
    let v = c_in64[P[2] + i];
    var r = 0u;
    switch (P[1]) {
        case 0u: { r = bitcast<u32>(i64_to_f32(v)); }
        case 1u: { r = bitcast<u32>(i64_to_i32(v)); }
        default: { r = select(0u, 1u, v.x != 0u || v.y != 0u); }
    }
    c_out32[i] = r;
}

// float16 packs two elements per word: an invocation per output word.
@compute @workgroup_size(256)
fn i64_to_halves(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let w = group_index(wid, nwg) * 256u + lid;
    let i = 2u * w;
    if (i >= P[0]) { return; }
    var bits = i64_to_half(c_in64[P[2] + i]);
    if (i + 1u < P[0]) { bits = bits | (i64_to_half(c_in64[P[2] + i + 1u]) << 16u); }
    c_out32[w] = bits;
}

@group(0) @binding(1) var<storage, read_write> c_out64: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> c_in32: array<u32>;

@compute @workgroup_size(256)
fn to_i64(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) { return; }
    let e = P[2] + i;
    var r = vec2<u32>(0u, 0u);
    switch (P[1]) {
        case 0u: { r = f32_to_i64(bitcast<f32>(c_in32[e])); }
        case 1u: {
            let v = c_in32[e];
            r = vec2<u32>(v, select(0u, 0xffffffffu, bitcast<i32>(v) < 0));
        }
        case 2u: { r = vec2<u32>(select(0u, 1u, c_in32[e] != 0u), 0u); }
        // float16, two to a word; exact in float32, so one conversion as on the CPU.
        default: { r = f32_to_i64(half_to_f32(c_in32[e / 2u] >> (16u * (e & 1u)))); }
    }
    c_out64[i] = r;
}

// ---- gather ----
// P = n (index numel), ndim, dim, index is int64, index_shape[ndim], x_size_at_dim,
//     x_offset, x_strides[ndim], index_offset, index_strides[ndim].

@group(0) @binding(1) var<storage, read_write> g_out: array<{T}>;
@group(0) @binding(2) var<storage, read> g_x: array<{T}>;
@group(0) @binding(3) var<storage, read> g_index: array<u32>;
@group(0) @binding(4) var<storage, read_write> g_bad: array<atomic<u32>>;

// The index at element offset `o` if it lies in 0..size, else -1.
fn gather_index(o: u32, size: u32) -> i32 {
    var lo = 0u;
    var hi = 0u;
    if (P[3] != 0u) {
        lo = g_index[2u * o];
        hi = g_index[2u * o + 1u];
    } else {
        lo = g_index[o];
        hi = select(0u, 0xffffffffu, bitcast<i32>(lo) < 0);
    }
    if (hi != 0u || lo >= size) { return -1; }
    return i32(lo);
}

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) { return; }
    let ndim = P[1];
    let dim = P[2];
    let xo = 5u + ndim;
    let io = xo + 1u + ndim;
    var rem = i;
    var xoff = P[xo];
    var ioff = P[io];
    for (var d = ndim; d > 0u; d--) {
        let size = P[3u + d];
        let c = rem % size;
        rem = rem / size;
        if (d - 1u != dim) { xoff += c * P[xo + d]; }
        ioff += c * P[io + d];
    }
    let at = gather_index(ioff, P[4u + ndim]);
    if (at < 0) {
        atomicAdd(&g_bad[0], 1u);
        g_out[i] = {T}();
        return;
    }
    g_out[i] = g_x[xoff + u32(at) * P[xo + 1u + dim]];
}

// ---- scatter: one invocation per output element walks the index entries that could land
// on it in order, so duplicates resolve as on the CPU (last write wins, adds in order) ----
// P = n (x numel), ndim, dim, index is int64, add, x_shape[ndim], index_shape[ndim],
//     x_offset, x_strides[ndim], index_offset, index_strides[ndim], src_offset, src_strides[ndim].

@group(0) @binding(1) var<storage, read_write> s_out: array<{T}>;
@group(0) @binding(2) var<storage, read> s_x: array<{T}>;
@group(0) @binding(3) var<storage, read> s_index: array<u32>;
@group(0) @binding(4) var<storage, read> s_src: array<{T}>;
@group(0) @binding(5) var<storage, read_write> s_bad: array<atomic<u32>>;

@compute @workgroup_size(256)
fn scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) { return; }
    let ndim = P[1];
    let dim = P[2];
    let xs = 5u;
    let is = 5u + ndim;
    let xo = 5u + 2u * ndim;
    let io = xo + 1u + ndim;
    let so = io + 1u + ndim;
    var rem = i;
    var xoff = P[xo];
    var ioff = P[io];
    var soff = P[so];
    var cdim = 0u;
    var inside = true;
    for (var d = ndim; d > 0u; d--) {
        let size = P[xs + d - 1u];
        let c = rem % size;
        rem = rem / size;
        xoff += c * P[xo + d];
        if (d - 1u == dim) {
            cdim = c;
        } else {
            inside = inside && c < P[is + d - 1u];
            ioff += c * P[io + d];
            soff += c * P[so + d];
        }
    }
    var v = s_x[xoff];
    if (inside) {
        let size = P[xs + dim];
        for (var k = 0u; k < P[is + dim]; k++) {
            let o = ioff + k * P[io + 1u + dim];
            var lo = 0u;
            var hi = 0u;
            if (P[3] != 0u) {
                lo = s_index[2u * o];
                hi = s_index[2u * o + 1u];
            } else {
                lo = s_index[o];
                hi = select(0u, 0xffffffffu, bitcast<i32>(lo) < 0);
            }
            if (hi != 0u || lo >= size) {
                if (cdim == 0u) { atomicAdd(&s_bad[0], 1u); }
                continue;
            }
            if (lo == cdim) {
                let s = s_src[soff + k * P[so + 1u + dim]];
                if (P[4] != 0u) {
                    v = {SUM};
                } else {
                    v = s;
                }
            }
        }
    }
    s_out[i] = v;
}

// ---- flip: P = n, ndim, shape[ndim], x_offset, x_strides[ndim], flip mask (bit per dim) ----

@group(0) @binding(1) var<storage, read_write> f_out: array<{T}>;
@group(0) @binding(2) var<storage, read> f_x: array<{T}>;

@compute @workgroup_size(256)
fn flip(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) { return; }
    let ndim = P[1];
    let xo = 2u + ndim;
    let mask = P[xo + 1u + ndim];
    var rem = i;
    var off = P[xo];
    for (var d = ndim; d > 0u; d--) {
        let size = P[1u + d];
        var c = rem % size;
        rem = rem / size;
        if (((mask >> (d - 1u)) & 1u) != 0u) { c = size - 1u - c; }
        off += c * P[xo + d];
    }
    f_out[i] = f_x[off];
}

// ---- cumsum: one invocation per row, summing in order as the CPU does ----
// P = rows, len, inner, x_offset, kind (0 float32, 2 int64); x contiguous.

@group(0) @binding(1) var<storage, read_write> u_out: array<u32>;
@group(0) @binding(2) var<storage, read> u_x: array<u32>;

@compute @workgroup_size(64)
fn cumsum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let r = group_index(wid, nwg) * 64u + lid;
    if (r >= P[0]) { return; }
    let len = P[1];
    let inner = P[2];
    let dst = (r / inner) * len * inner + r % inner;
    let src = P[3] + dst;
    var f = 0.0;
    var w = vec2<u32>(0u, 0u);
    for (var k = 0u; k < len; k++) {
        let s = src + k * inner;
        let o = dst + k * inner;
        if (P[4] == 0u) {
            f = f + bitcast<f32>(u_x[s]);
            u_out[o] = bitcast<u32>(f);
        } else {
            w = i64_add(w, vec2<u32>(u_x[2u * s], u_x[2u * s + 1u]));
            u_out[2u * o] = w.x;
            u_out[2u * o + 1u] = w.y;
        }
    }
}
