// Matmul family, in element type {T} (f32, or f64 where the adapter has shader-f64):
// C[b] = A[b] · B[b] for strided, batch-broadcast A [.., M, K] and B [.., K, N]
// into a contiguous C. A workgroup of 16×16 invocations computes a 128×BN tile (BN 128 or 64)
// from BK-deep slices (8 or 16) of A and B staged in workgroup memory as vec4s; each invocation
// holds an 8×8 (or 8×4) block in vec4 registers (rows 4ty.. and 64+4ty.., columns 4tx.. and
// 64+4tx..), so every workgroup-memory read feeds four or eight multiply-adds.
// Params: M, N, K, tiles_m, tiles_n, nb, batch_shape[nb], a_offset, a_batch_strides[nb],
// b_offset, b_batch_strides[nb], a_row_stride, a_col_stride, b_row_stride, b_col_stride,
// splits, k_chunk, bias_offset, bias_stride. With splits > 1 (few tiles over a long K: weight gradients) each workgroup
// covers one k_chunk of K and writes its partial tile to C as [batch, split, M, N];
// `sum_splits` then adds the partials.

@group(0) @binding(1) var<storage, read_write> c: array<{T}>;
@group(0) @binding(2) var<storage, read> a: array<{T}>;
@group(0) @binding(3) var<storage, read> b: array<{T}>;

const BM: u32 = 128u;
const BN: u32 = {BN}u;
const BK: u32 = {BK}u;
const WIDE: bool = BN == 128u;
// vec4 slots per k: of A's 128 rows, of B's BN columns. Each k's row of a tile is padded by
// one vec4: an operand staged along k (row-major A, column-major B) has neighbouring
// invocations store to neighbouring k, which would otherwise all land in the same banks.
const SA: u32 = 32u;
const SB: u32 = BN / 4u;
const PA: u32 = SA + 1u;
const PB: u32 = SB + 1u;
const HAS_BIAS: bool = {HAS_BIAS};
const A_COLUMN_MAJOR: bool = {A_COLUMN_MAJOR};
const B_COLUMN_MAJOR: bool = {B_COLUMN_MAJOR};

{BIAS_DECL}

// The bias of columns n.. (`linear`'s epilogue), zero past N. Params: its offset and stride.
fn bias4(n: u32, N: u32, at: u32, stride: u32) -> vec4<{T}> {
    var v = vec4<{T}>(0.0);
    {BIAS_LOAD}
    return v;
}

// {TILE} vec4 slots each: 528 (16 k of 33) for float32; BK·PA for float64, whose 16-deep tiles
// would pass the 32 KiB of workgroup memory many adapters allow.
var<workgroup> tile_a: array<vec4<{T}>, {TILE}>; // [k][m / 4], rows of PA
var<workgroup> tile_b: array<vec4<{T}>, {TILE}>; // [k][n / 4], rows of PB

// Four rows of A (from row m) at column k, zero outside the matrix or past k_hi. (Loading
// aligned neighbours as one vec4 through a second binding measured slower on an H200.)
fn load_a(base: u32, k: u32, k_hi: u32, m: u32, M: u32, sak: u32, sam: u32) -> vec4<{T}> {
    var v = vec4<{T}>(0.0);
    if (k < k_hi) {
        let at = base + k * sak;
        for (var i = 0u; i < 4u; i++) {
            if (m + i < M) {
                v[i] = a[at + (m + i) * sam];
            }
        }
    }
    return v;
}

// Four columns of B (from column n) at row k, zero outside the matrix or past k_hi.
fn load_b(base: u32, k: u32, k_hi: u32, n: u32, N: u32, sbk: u32, sbn: u32) -> vec4<{T}> {
    var v = vec4<{T}>(0.0);
    if (k < k_hi) {
        let bt = base + k * sbk;
        for (var j = 0u; j < 4u; j++) {
            if (n + j < N) {
                v[j] = b[bt + (n + j) * sbn];
            }
        }
    }
    return v;
}

fn store4(base: u32, m: u32, n: u32, M: u32, N: u32, v: vec4<{T}>) {
    if (m >= M) {
        return;
    }
    let row = base + m * N;
    if (n + 3u < N) {
        c[row + n] = v.x;
        c[row + n + 1u] = v.y;
        c[row + n + 2u] = v.z;
        c[row + n + 3u] = v.w;
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (n + j < N) {
            c[row + n + j] = v[j];
        }
    }
}

// The (k, vec4 slot) that staging element e of a tile stands for: neighbouring invocations
// take neighbouring memory, along k where the operand is contiguous in k (row-major A,
// column-major B: runs of BK words), along m or n otherwise (16-byte runs).
fn slot_of(e: u32, along_k: bool, slots: u32) -> vec2<u32> {
    if (along_k) {
        return vec2<u32>(e % BK, e / BK);
    }
    return vec2<u32>(e / slots, e % slots);
}

@compute @workgroup_size(256)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let M = P[0];
    let N = P[1];
    let K = P[2];
    let tiles_m = P[3];
    let tiles_n = P[4];
    let nb = P[5];
    let g = group_index(wid, nwg);
    let s = 8u + 3u * nb;
    let splits = P[s + 4u];
    let tiles = tiles_m * tiles_n;
    let batch = g / (tiles * splits);
    let split = (g / tiles) % splits;
    let tile = g % tiles;
    let m0 = (tile / tiles_n) * BM;
    let n0 = (tile % tiles_n) * BN;
    let k_lo = split * P[s + 5u];
    let k_hi = min(K, k_lo + P[s + 5u]);
    var nbatch = 1u;
    for (var d = 0u; d < nb; d++) {
        nbatch *= P[6u + d];
    }
    // Tail groups of a folded 2-D grid leave at once (uniform per workgroup).
    if (batch >= nbatch) {
        return;
    }
    let a_base = strided_offset(batch, nb, 6u, 6u + nb);
    let b_base = strided_offset(batch, nb, 6u, 7u + 2u * nb);
    let sam = P[s];
    let sak = P[s + 1u];
    let sbk = P[s + 2u];
    let sbn = P[s + 3u];
    let ty = lid / 16u;
    let tx = lid % 16u;
    // Each invocation stages BK / 8 vec4s of A and BK·BN / 1024 of B per slice (for a
    // 64-wide tile over 8-deep slices, only the first half of the invocations stage B).
    let la0 = slot_of(lid, !A_COLUMN_MAJOR, SA);
    let la1 = slot_of(lid + 256u, !A_COLUMN_MAJOR, SA);
    let lb0 = slot_of(lid, B_COLUMN_MAJOR, SB);
    let lb1 = slot_of(lid + 256u, B_COLUMN_MAJOR, SB);
    let two_a = BK == 16u;
    let two_b = BK * SB > 256u;
    let stage_b = lid < BK * SB;
    var c00 = vec4<{T}>(0.0); var c01 = vec4<{T}>(0.0);
    var c10 = vec4<{T}>(0.0); var c11 = vec4<{T}>(0.0);
    var c20 = vec4<{T}>(0.0); var c21 = vec4<{T}>(0.0);
    var c30 = vec4<{T}>(0.0); var c31 = vec4<{T}>(0.0);
    var c40 = vec4<{T}>(0.0); var c41 = vec4<{T}>(0.0);
    var c50 = vec4<{T}>(0.0); var c51 = vec4<{T}>(0.0);
    var c60 = vec4<{T}>(0.0); var c61 = vec4<{T}>(0.0);
    var c70 = vec4<{T}>(0.0); var c71 = vec4<{T}>(0.0);
    // Double buffering in registers: the next slice's global loads are issued before this
    // slice's multiply-adds, so their latency hides behind the arithmetic.
    var va0 = load_a(a_base, k_lo + la0.x, k_hi, m0 + 4u * la0.y, M, sak, sam);
    var va1 = vec4<{T}>(0.0);
    if (two_a) {
        va1 = load_a(a_base, k_lo + la1.x, k_hi, m0 + 4u * la1.y, M, sak, sam);
    }
    var vb0 = vec4<{T}>(0.0);
    var vb1 = vec4<{T}>(0.0);
    if (stage_b) {
        vb0 = load_b(b_base, k_lo + lb0.x, k_hi, n0 + 4u * lb0.y, N, sbk, sbn);
    }
    if (two_b) {
        vb1 = load_b(b_base, k_lo + lb1.x, k_hi, n0 + 4u * lb1.y, N, sbk, sbn);
    }
    for (var k0 = k_lo; k0 < k_hi; k0 += BK) {
        tile_a[la0.x * PA + la0.y] = va0;
        if (two_a) {
            tile_a[la1.x * PA + la1.y] = va1;
        }
        if (stage_b) {
            tile_b[lb0.x * PB + lb0.y] = vb0;
        }
        if (two_b) {
            tile_b[lb1.x * PB + lb1.y] = vb1;
        }
        workgroupBarrier();
        let kn = k0 + BK;
        if (kn < k_hi) {
            va0 = load_a(a_base, kn + la0.x, k_hi, m0 + 4u * la0.y, M, sak, sam);
            if (two_a) {
                va1 = load_a(a_base, kn + la1.x, k_hi, m0 + 4u * la1.y, M, sak, sam);
            }
            if (stage_b) {
                vb0 = load_b(b_base, kn + lb0.x, k_hi, n0 + 4u * lb0.y, N, sbk, sbn);
            }
            if (two_b) {
                vb1 = load_b(b_base, kn + lb1.x, k_hi, n0 + 4u * lb1.y, N, sbk, sbn);
            }
        }
        for (var k = 0u; k < BK; k++) {
            let a0 = tile_a[k * PA + ty];
            let a1 = tile_a[k * PA + 16u + ty];
            let b0 = tile_b[k * PB + tx];
            c00 = fma(vec4<{T}>(a0.x), b0, c00);
            c10 = fma(vec4<{T}>(a0.y), b0, c10);
            c20 = fma(vec4<{T}>(a0.z), b0, c20);
            c30 = fma(vec4<{T}>(a0.w), b0, c30);
            c40 = fma(vec4<{T}>(a1.x), b0, c40);
            c50 = fma(vec4<{T}>(a1.y), b0, c50);
            c60 = fma(vec4<{T}>(a1.z), b0, c60);
            c70 = fma(vec4<{T}>(a1.w), b0, c70);
            if (WIDE) {
                let b1 = tile_b[k * PB + 16u + tx];
                c01 = fma(vec4<{T}>(a0.x), b1, c01);
                c11 = fma(vec4<{T}>(a0.y), b1, c11);
                c21 = fma(vec4<{T}>(a0.z), b1, c21);
                c31 = fma(vec4<{T}>(a0.w), b1, c31);
                c41 = fma(vec4<{T}>(a1.x), b1, c41);
                c51 = fma(vec4<{T}>(a1.y), b1, c51);
                c61 = fma(vec4<{T}>(a1.z), b1, c61);
                c71 = fma(vec4<{T}>(a1.w), b1, c71);
            }
        }
        workgroupBarrier();
    }
    let base = (batch * splits + split) * M * N;
    let r0 = m0 + 4u * ty;
    let r1 = m0 + 64u + 4u * ty;
    let n_0 = n0 + 4u * tx;
    let n_1 = n0 + 64u + 4u * tx;
    // The bias goes into one split's partial only, so the sum of the splits holds it once.
    var bias_0 = vec4<{T}>(0.0);
    var bias_1 = vec4<{T}>(0.0);
    if (HAS_BIAS && split == 0u) {
        bias_0 = bias4(n_0, N, P[s + 6u], P[s + 7u]);
        bias_1 = bias4(n_1, N, P[s + 6u], P[s + 7u]);
    }
    store4(base, r0, n_0, M, N, c00 + bias_0);
    store4(base, r0 + 1u, n_0, M, N, c10 + bias_0);
    store4(base, r0 + 2u, n_0, M, N, c20 + bias_0);
    store4(base, r0 + 3u, n_0, M, N, c30 + bias_0);
    store4(base, r1, n_0, M, N, c40 + bias_0);
    store4(base, r1 + 1u, n_0, M, N, c50 + bias_0);
    store4(base, r1 + 2u, n_0, M, N, c60 + bias_0);
    store4(base, r1 + 3u, n_0, M, N, c70 + bias_0);
    if (WIDE) {
        store4(base, r0, n_1, M, N, c01 + bias_1);
        store4(base, r0 + 1u, n_1, M, N, c11 + bias_1);
        store4(base, r0 + 2u, n_1, M, N, c21 + bias_1);
        store4(base, r0 + 3u, n_1, M, N, c31 + bias_1);
        store4(base, r1, n_1, M, N, c41 + bias_1);
        store4(base, r1 + 1u, n_1, M, N, c51 + bias_1);
        store4(base, r1 + 2u, n_1, M, N, c61 + bias_1);
        store4(base, r1 + 3u, n_1, M, N, c71 + bias_1);
    }
}

// C[b, e] = Σ_s partial[b, s, e] over the split-K partials. Params: M·N, splits, total outputs.
@group(0) @binding(1) var<storage, read_write> summed: array<{T}>;
@group(0) @binding(2) var<storage, read> partial: array<{T}>;

@compute @workgroup_size(256)
fn sum_splits(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[2]) {
        return;
    }
    let mn = P[0];
    let splits = P[1];
    let at = (i / mn) * splits * mn + i % mn;
    var acc: {T} = 0.0;
    for (var s = 0u; s < splits; s++) {
        acc += partial[at + s * mn];
    }
    summed[i] = acc;
}
