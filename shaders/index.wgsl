// Index family: gather, scatter(-add), flip, cumsum, argsort, the int64 casts and the integer
// matmul. Elements are moved as {T} (int64 and float64 as vec2<u32>, bool as u32); {SUM} is how
// scatter-add adds two of them, `v` and `s`, {MULADD} how the matmul accumulates `acc + x * y`
// (wrapping, as the CPU's). Each entry point declares its own bindings
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

// int64 -> float64 bits as the CPU's `as f64`: rounded to 53 significant bits, ties to even.
fn i64_to_f64_bits(v: vec2<u32>) -> vec2<u32> {
    if (i64_is_zero(v)) { return v; }
    let m = round64(i64_abs(v), 53u);
    let p = select(31u - countLeadingZeros(m.x), 63u - countLeadingZeros(m.y), m.y != 0u);
    // The significand with its leading bit at bit 52, which the exponent field then covers.
    let frac = select(shl64(m, 52u - p), shr64(m, p - 52u), p >= 52u);
    return vec2<u32>(frac.x, (frac.y & 0xfffffu) | ((p + 1023u) << 20u) | (v.y & 0x80000000u));
}

// float64 bits -> int64 as the CPU's `as`: toward zero, saturating, NaN to 0.
fn f64_bits_to_i64(b: vec2<u32>) -> vec2<u32> {
    let e = (b.y >> 20u) & 0x7ffu;
    let neg = (b.y & 0x80000000u) != 0u;
    let nan = e == 0x7ffu && ((b.y & 0xfffffu) != 0u || b.x != 0u);
    if (nan || e < 1023u) { return vec2<u32>(0u, 0u); }
    if (e >= 1023u + 63u) {
        return select(vec2<u32>(0xffffffffu, 0x7fffffffu), vec2<u32>(0u, 0x80000000u), neg);
    }
    let m = vec2<u32>(b.x, (b.y & 0xfffffu) | 0x100000u);
    let p = e - 1023u;
    let a = select(shr64(m, 52u - p), shl64(m, p - 52u), p >= 52u);
    return select(a, i64_neg(a), neg);
}

// int64 -> float16 bits as the CPU's `from_value(v as f64)`: to 11 significant bits, ties to
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

// int64 <-> float64, both as bits: P = n, kind (0: to float64, 1: from it), input offset.
@compute @workgroup_size(256)
fn i64_f64(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) { return; }
    let v = c_in64[P[2] + i];
    c_out64[i] = select(f64_bits_to_i64(v), i64_to_f64_bits(v), P[1] == 0u);
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
// P = rows, len, inner, x_offset; x contiguous. `cumsum` sums floats as {T} (through the
// gather bindings), `cumsum_i64` int64 as two words.

@group(0) @binding(1) var<storage, read_write> u_out: array<u32>;
@group(0) @binding(2) var<storage, read> u_x: array<u32>;

fn cumsum_row(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> vec2<u32> {
    let r = group_index(wid, nwg) * 64u + lid;
    let inner = P[2];
    let dst = (r / inner) * P[1] * inner + r % inner;
    return vec2<u32>(select(dst, 0xffffffffu, r >= P[0]), P[3] + dst);
}

@compute @workgroup_size(64)
fn cumsum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let row = cumsum_row(wid, nwg, lid);
    if (row.x == 0xffffffffu) { return; }
    var f = {T}(0);
    for (var k = 0u; k < P[1]; k++) {
        f = f + g_x[row.y + k * P[2]];
        g_out[row.x + k * P[2]] = f;
    }
}

@compute @workgroup_size(64)
fn cumsum_i64(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = cumsum_row(wid, nwg, lid);
    if (row.x == 0xffffffffu) { return; }
    var w = vec2<u32>(0u, 0u);
    for (var k = 0u; k < P[1]; k++) {
        let s = row.y + k * P[2];
        let o = row.x + k * P[2];
        w = i64_add(w, vec2<u32>(u_x[2u * s], u_x[2u * s + 1u]));
        u_out[2u * o] = w.x;
        u_out[2u * o + 1u] = w.y;
    }
}

// ---- integer matmul: one invocation per output element, K in order ----
// P = total, M, N, K, nb, batch_shape[nb], a_offset, a_batch_strides[nb], b_offset,
// b_batch_strides[nb], a_row_stride, a_col_stride, b_row_stride, b_col_stride.

@group(0) @binding(3) var<storage, read> mm_b: array<{T}>;

@compute @workgroup_size(256)
fn matmul_int(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let e = group_index(wid, nwg) * 256u + lid;
    if (e >= P[0]) { return; }
    let M = P[1];
    let N = P[2];
    let nb = P[4];
    let ao = 5u + nb;
    let bo = ao + 1u + nb;
    let st = bo + 1u + nb;
    let n = e % N;
    let m = (e / N) % M;
    var rest = e / (M * N);
    var a_at = P[ao];
    var b_at = P[bo];
    for (var d = nb; d > 0u; d--) {
        let c = rest % P[4u + d];
        rest = rest / P[4u + d];
        a_at += c * P[ao + d];
        b_at += c * P[bo + d];
    }
    a_at += m * P[st];
    b_at += n * P[st + 3u];
    var acc = {T}();
    for (var k = 0u; k < P[3]; k++) {
        let x = g_x[a_at + k * P[st + 1u]];
        let y = mm_b[b_at + k * P[st + 2u]];
        acc = {MULADD};
    }
    g_out[e] = acc;
}

// ---- argsort: a bitonic sort of (key, index) pairs per row ----
// Keys are made so that comparing (key, index) as unsigned words orders as the CPU kernel does:
// NaN above +inf, -0 level with 0, ties by index (so any correct sort gives its one answer);
// descending inverts the key, never the index. Rows are padded to a power of two `pad` with
// keys and indices above every real one. The network is the one where every comparator puts
// the smaller pair first: stage k first compares each k-block's mirror pairs, then halves.
//
// sort_local holds SORT_CHUNK pairs in workgroup memory: a chunk of rows (pad <= SORT_CHUNK) or
// a chunk of one row. P = rows, len, pad, kind (0 float32, 1 float16, 2 int32, 3 bool, 4 int64,
// 5 float64), descending, mode (1: load from x, else from o_keys/o_idx; 2: store the int64
// result, else to o_keys/o_idx; 4: all stages up to min(pad, SORT_CHUNK), else only the
// half-steps of distance SORT_CHUNK / 2 down to 1), inner (elements after dim), nr,
// row_shape[nr] (the shape without dim), x_offset, row_strides[nr], dim_stride.

const SORT_CHUNK: u32 = 1024u;

var<workgroup> sort_keys: array<vec2<u32>, 1024>;
var<workgroup> sort_idx: array<u32, 1024>;

@group(0) @binding(1) var<storage, read_write> o_out: array<u32>;
@group(0) @binding(2) var<storage, read> o_x: array<u32>;
@group(0) @binding(3) var<storage, read_write> o_keys: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> o_idx: array<u32>;

// float32 bits whose unsigned order is the CPU's order: one NaN above +inf, -0 as 0.
fn float_key(bits: u32) -> u32 {
    var b = bits;
    if ((b & 0x7fffffffu) > 0x7f800000u) { b = 0x7fc00000u; }
    if (b == 0x80000000u) { b = 0u; }
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// The same for float16 bits (the low half of `h`).
fn half_key(h: u32) -> u32 {
    var b = h & 0xffffu;
    if ((b & 0x7fffu) > 0x7c00u) { b = 0x7e00u; }
    if (b == 0x8000u) { b = 0u; }
    return select(b | 0x8000u, ~b & 0xffffu, (b & 0x8000u) != 0u);
}

// The same for float64 words.
fn double_key(v: vec2<u32>) -> vec2<u32> {
    var b = v;
    let e = b.y & 0x7fffffffu;
    if (e > 0x7ff00000u || (e == 0x7ff00000u && b.x != 0u)) { b = vec2<u32>(0u, 0x7ff80000u); }
    if (b.y == 0x80000000u && b.x == 0u) { b = vec2<u32>(0u); }
    return select(vec2<u32>(b.x, b.y | 0x80000000u), ~b, (b.y & 0x80000000u) != 0u);
}

// int64: the CPU compares `v as f64`, so values that round to one float64 tie. The rounded
// magnitude 2^63 becomes 2^63 - 1, which no other rounded magnitude is, to stay in 64 bits.
fn long_key(v: vec2<u32>) -> vec2<u32> {
    var m = round64(i64_abs(v), 53u);
    if (m.y >= 0x80000000u) { m = vec2<u32>(0xffffffffu, 0x7fffffffu); }
    let s = select(m, i64_neg(m), i64_negative(v));
    return vec2<u32>(s.x, s.y ^ 0x80000000u);
}

// The key of the element at offset `e` of x; 32-bit keys go in the high word.
fn sort_key_at(e: u32) -> vec2<u32> {
    var k = vec2<u32>(0u);
    switch (P[3]) {
        case 0u: { k.y = float_key(o_x[e]); }
        case 1u: { k.y = half_key(o_x[e / 2u] >> (16u * (e & 1u))); }
        case 2u: { k.y = o_x[e] ^ 0x80000000u; }
        case 3u: { k.y = select(0u, 1u, o_x[e] != 0u); }
        case 4u: { k = long_key(vec2<u32>(o_x[2u * e], o_x[2u * e + 1u])); }
        default: { k = double_key(vec2<u32>(o_x[2u * e], o_x[2u * e + 1u])); }
    }
    return select(k, ~k, P[4] != 0u);
}

// Whether (ka, ia) sorts after (kb, ib).
fn sort_after(ka: vec2<u32>, ia: u32, kb: vec2<u32>, ib: u32) -> bool {
    if (ka.y != kb.y) { return ka.y > kb.y; }
    if (ka.x != kb.x) { return ka.x > kb.x; }
    return ia > ib;
}

// The lower position of comparator `c` among pairs `d` apart (d a power of two).
fn sort_low(c: u32, d: u32) -> u32 {
    return ((c & ~(d - 1u)) << 1u) | (c & (d - 1u));
}

fn sort_exchange(a: u32, b: u32) {
    let ka = sort_keys[a];
    let kb = sort_keys[b];
    let ia = sort_idx[a];
    let ib = sort_idx[b];
    if (sort_after(ka, ia, kb, ib)) {
        sort_keys[a] = kb;
        sort_keys[b] = ka;
        sort_idx[a] = ib;
        sort_idx[b] = ia;
    }
}

// One step over the chunk: the mirror pairs of k-blocks (`mirror`), or pairs `d` apart.
fn sort_chunk_step(lid: u32, d: u32, mirror: bool) {
    for (var c = lid; c < SORT_CHUNK / 2u; c += 256u) {
        let lo = sort_low(c, d);
        sort_exchange(lo, select(lo + d, lo ^ (2u * d - 1u), mirror));
    }
    workgroupBarrier();
}

fn sort_row_base(r: u32) -> u32 {
    let nr = P[7];
    var rem = r;
    var off = P[8u + nr];
    for (var d = nr; d > 0u; d--) {
        let size = P[7u + d];
        off += (rem % size) * P[8u + nr + d];
        rem = rem / size;
    }
    return off;
}

@compute @workgroup_size(256)
fn sort_local(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let base = group_index(wid, nwg) * SORT_CHUNK;
    let rows = P[0];
    let len = P[1];
    let pad = P[2];
    let mode = P[5];
    for (var c = lid; c < SORT_CHUNK; c += 256u) {
        let g = base + c;
        let row = g / pad;
        let t = g % pad;
        var k = vec2<u32>(0xffffffffu);
        var i = t;
        if ((mode & 1u) == 0u) {
            k = o_keys[g];
            i = o_idx[g];
        } else if (row < rows && t < len) {
            k = sort_key_at(sort_row_base(row) + t * P[9u + 2u * P[7]]);
        }
        sort_keys[c] = k;
        sort_idx[c] = i;
    }
    workgroupBarrier();
    if ((mode & 4u) != 0u) {
        for (var k = 2u; k <= min(pad, SORT_CHUNK); k = k << 1u) {
            sort_chunk_step(lid, k >> 1u, true);
            for (var d = k >> 2u; d > 0u; d = d >> 1u) {
                sort_chunk_step(lid, d, false);
            }
        }
    } else {
        for (var d = SORT_CHUNK >> 1u; d > 0u; d = d >> 1u) {
            sort_chunk_step(lid, d, false);
        }
    }
    let inner = P[6];
    for (var c = lid; c < SORT_CHUNK; c += 256u) {
        let g = base + c;
        if ((mode & 2u) == 0u) {
            o_keys[g] = sort_keys[c];
            o_idx[g] = sort_idx[c];
            continue;
        }
        let row = g / pad;
        let t = g % pad;
        if (row < rows && t < len) {
            let o = (row / inner) * len * inner + row % inner + t * inner;
            o_out[2u * o] = sort_idx[c];
            o_out[2u * o + 1u] = 0u;
        }
    }
}

// One step of a stage k > SORT_CHUNK over all rows' pairs in o_keys/o_idx, whose partners lie in
// other chunks. P = pairs, k, d (0: the mirror step, else the distance).

@group(0) @binding(1) var<storage, read_write> t_keys: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> t_idx: array<u32>;

@compute @workgroup_size(256)
fn sort_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let c = group_index(wid, nwg) * 256u + lid;
    if (c >= P[0]) { return; }
    let k = P[1];
    let d = select(P[2], k >> 1u, P[2] == 0u);
    let lo = sort_low(c, d);
    let hi = select(lo + d, lo ^ (k - 1u), P[2] == 0u);
    let ka = t_keys[lo];
    let kb = t_keys[hi];
    let ia = t_idx[lo];
    let ib = t_idx[hi];
    if (sort_after(ka, ia, kb, ib)) {
        t_keys[lo] = kb;
        t_keys[hi] = ka;
        t_idx[lo] = ib;
        t_idx[hi] = ia;
    }
}
