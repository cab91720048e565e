// Index family: gather, scatter(-add), flip, cumsum and the int64 casts. Elements are moved as
// {T} (int64 and float64 as vec2<u32>, bool as u32). Each entry point declares its own bindings
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

// ---- casts: P = n, kind, input offset; contiguous ----

@group(0) @binding(1) var<storage, read_write> c_out32: array<u32>;
@group(0) @binding(2) var<storage, read> c_in64: array<vec2<u32>>;

// kind 0: float32, 1: int32, 2: bool.
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

@group(0) @binding(1) var<storage, read_write> c_out64: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> c_in32: array<u32>;

@compute @workgroup_size(256)
fn to_i64(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) { return; }
    let v = c_in32[P[2] + i];
    var r = vec2<u32>(0u, 0u);
    switch (P[1]) {
        case 0u: { r = f32_to_i64(bitcast<f32>(v)); }
        case 1u: { r = vec2<u32>(v, select(0u, 0xffffffffu, bitcast<i32>(v) < 0)); }
        default: { r = vec2<u32>(select(0u, 1u, v != 0u), 0u); }
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
                    v = v + s;
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
