// Packed 16-bit family: bfloat16 (always) and float16 (where the adapter lacks shader-f16) live in
// buffers as u32 words of two elements, WGSL having no 16-bit storage. `widen` reads such
// elements into float32; `narrow` rounds float32 into them, to nearest even as the CPU's `half`
// crate does (NaN stays NaN, overflow goes to infinity, float16 keeps subnormals).
// Params: n, ndim, shape[ndim], then `offset, strides[ndim]` (in elements) for dst and for src,
// then, for narrow, the parity of the dst positions this dispatch writes.
//
// One file serves both directions: widen binds (dst: f32, src: u32), narrow (dst: u32,
// src: f32), and every access converts, so each entry type-checks under either substitution.

@group(0) @binding(1) var<storage, read_write> dst: array<{DST}>;
@group(0) @binding(2) var<storage, read> src: array<{SRC}>;

const BFLOAT: bool = {BFLOAT};

fn packed_to_f32(h: u32) -> f32 {
    if (BFLOAT) {
        return bfloat16_to_f32(h);
    }
    return half_to_f32(h);
}

fn f32_to_packed(v: f32) -> u32 {
    if (BFLOAT) {
        return f32_to_bfloat16(v);
    }
    return f32_to_half(v);
}

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return group_index(wid, nwg) * 256u + lid;
}

@compute @workgroup_size(256)
fn widen(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    let ndim = P[1];
    if (i >= P[0]) {
        return;
    }
    let s = strided_offset(i, ndim, 2u, 3u + 2u * ndim);
    let word = u32(src[s >> 1u]);
    let o = strided_offset(i, ndim, 2u, 2u + ndim);
    dst[o] = {DST}(packed_to_f32((word >> ((s & 1u) * 16u)) & 0xffffu));
}

// Two neighbouring elements share a word, so one dispatch writes the even positions and a
// second the odd ones: no two invocations of a dispatch touch the same word.
@compute @workgroup_size(256)
fn narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    let ndim = P[1];
    if (i >= P[0]) {
        return;
    }
    let o = strided_offset(i, ndim, 2u, 2u + ndim);
    if ((o & 1u) != P[4u + 3u * ndim]) {
        return;
    }
    let v = f32(src[strided_offset(i, ndim, 2u, 3u + 2u * ndim)]);
    let shift = (o & 1u) * 16u;
    let kept = u32(dst[o >> 1u]) & ~(0xffffu << shift);
    dst[o >> 1u] = {DST}(kept | (f32_to_packed(v) << shift));
}
