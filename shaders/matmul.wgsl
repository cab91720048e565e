// Matmul family: C[b] = A[b] · B[b] for strided, batch-broadcast A [.., M, K] and B [.., K, N]
// into a contiguous C. Each workgroup of 256 computes a {BM}×{BN} tile, each invocation a
// {TM}×{TN} block of it held in registers, from {BK}-deep slices staged in workgroup memory.
// Params: M, N, K, tiles_m, tiles_n, nb, batch_shape[nb], a_offset, a_batch_strides[nb],
// b_offset, b_batch_strides[nb], a_row_stride, a_col_stride, b_row_stride, b_col_stride.

@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

const BM: u32 = {BM}u;
const BN: u32 = {BN}u;
const BK: u32 = {BK}u;
const TM: u32 = {TM}u;
const TN: u32 = {TN}u;
const RM: u32 = BM / TM; // invocations along M
const RN: u32 = BN / TN; // invocations along N

var<workgroup> tile_a: array<f32, BK * BM>; // [k][m]
var<workgroup> tile_b: array<f32, BK * BN>; // [k][n]

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
    let per_batch = tiles_m * tiles_n;
    let batch = g / per_batch;
    let m0 = ((g % per_batch) / tiles_n) * BM;
    let n0 = (g % tiles_n) * BN;
    // Inactive tail groups of a folded 2-D grid leave at once (uniform per workgroup).
    var nbatch = 1u;
    for (var d = 0u; d < nb; d++) {
        nbatch *= P[6u + d];
    }
    if (batch >= nbatch) {
        return;
    }
    let a_base = strided_offset(batch, nb, 6u, 6u + nb);
    let b_base = strided_offset(batch, nb, 6u, 7u + 2u * nb);
    let s = 8u + 3u * nb;
    let sam = P[s];
    let sak = P[s + 1u];
    let sbk = P[s + 2u];
    let sbn = P[s + 3u];
    let tm = lid / RN;
    let tn = lid % RN;
    var acc: array<f32, TM * TN>;
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = 0.0;
    }
    var ra: array<f32, TM>;
    var rb: array<f32, TN>;
    for (var k0 = 0u; k0 < K; k0 += BK) {
        for (var e = lid; e < BM * BK; e += 256u) {
            let m = e / BK;
            let k = e % BK;
            var v = 0.0;
            if (m0 + m < M && k0 + k < K) {
                v = a[a_base + (m0 + m) * sam + (k0 + k) * sak];
            }
            tile_a[k * BM + m] = v;
        }
        for (var e = lid; e < BK * BN; e += 256u) {
            let k = e / BN;
            let n = e % BN;
            var v = 0.0;
            if (n0 + n < N && k0 + k < K) {
                v = b[b_base + (k0 + k) * sbk + (n0 + n) * sbn];
            }
            tile_b[k * BN + n] = v;
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
            for (var i = 0u; i < TM; i++) {
                ra[i] = tile_a[k * BM + tm + i * RM];
            }
            for (var j = 0u; j < TN; j++) {
                rb[j] = tile_b[k * BN + tn + j * RN];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] = fma(ra[i], rb[j], acc[i * TN + j]);
                }
            }
        }
        workgroupBarrier();
    }
    let c_base = batch * M * N;
    for (var i = 0u; i < TM; i++) {
        let m = m0 + tm + i * RM;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + tn + j * RN;
            if (m < M && n < N) {
                c[c_base + m * N + n] = acc[i * TN + j];
            }
        }
    }
}
