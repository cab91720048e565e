// Reduction family: one workgroup folds one chunk of one output's reduced elements with a
// tree in workgroup memory. Params: n_out, r (reduced count), chunk, chunks, nk, nr,
// keep_shape[nk], 0, keep_strides[nk], red_shape[nr], 0, red_strides[nr], input offset.
// With chunks > 1 the output holds per-chunk partials that a second pass folds.

@group(0) @binding(1) var<storage, read_write> out: array<{OUT}>;
@group(0) @binding(2) var<storage, read> x: array<{IN}>;

var<workgroup> acc: array<{CT}, 256>;
var<workgroup> arg: array<u32, 256>;

fn nan_(v: {CT}) -> bool {
    return {NAN};
}

// Folds (b, bi) into (a, ai): max and min prefer NaN, arg* prefer the lower index on ties.
fn fold(a: {CT}, ai: u32, b: {CT}, bi: u32) -> {CT} {
    {FOLD}
}

fn fold_index(a: {CT}, ai: u32, b: {CT}, bi: u32) -> u32 {
    {FOLD_INDEX}
}

// A running fold: the value so far and (for arg*) its index.
struct Folded {
    v: {CT},
    i: u32,
}

fn fold_in(a: Folded, e: {CT}, ei: u32) -> Folded {
    return Folded(fold(a.v, a.i, e, ei), fold_index(a.v, a.i, e, ei));
}

// Folds x[base + offset of r] for r = first, first + step, .. below end: four loads in flight
// per iteration where the range allows, then the tail.
fn fold_range(base: u32, first: u32, end: u32, step: u32, nr: u32, red_at: u32) -> Folded {
    var f = Folded({IDENTITY}, 0u);
    let one_dim = nr == 1u;
    let stride = P[red_at + 2u * nr];
    var r = first;
    for (; one_dim && r + 3u * step < end; r += 4u * step) {
        let e0 = {CT}(x[base + r * stride]);
        let e1 = {CT}(x[base + (r + step) * stride]);
        let e2 = {CT}(x[base + (r + 2u * step) * stride]);
        let e3 = {CT}(x[base + (r + 3u * step) * stride]);
        f = fold_in(f, e0, r);
        f = fold_in(f, e1, r + step);
        f = fold_in(f, e2, r + 2u * step);
        f = fold_in(f, e3, r + 3u * step);
    }
    for (; r < end; r += step) {
        var at: u32;
        if (one_dim) {
            at = base + r * stride; // one reduced dim: no unravelling
        } else {
            at = base + strided_offset(r, nr, red_at, red_at + nr);
        }
        f = fold_in(f, {CT}(x[at]), r);
    }
    return f;
}

@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let g = group_index(wid, nwg);
    let n_out = P[0];
    let chunks = P[3];
    if (g >= n_out * chunks) {
        return;
    }
    let nk = P[4];
    let nr = P[5];
    let o = g / chunks;
    let c = g % chunks;
    let red_at = 6u + 2u * nk + 1u;
    let base = P[red_at + 2u * nr + 1u] + strided_offset(o, nk, 6u, 6u + nk);
    let r0 = c * P[2];
    let r1 = min(r0 + P[2], P[1]);
    let f = fold_range(base, r0 + lid, r1, 256u, nr, red_at);
    acc[lid] = f.v;
    arg[lid] = f.i;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let ni = fold_index(acc[lid], arg[lid], acc[lid + s], arg[lid + s]);
            acc[lid] = fold(acc[lid], arg[lid], acc[lid + s], arg[lid + s]);
            arg[lid] = ni;
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        store(g, acc[0], arg[0]);
    }
}

fn store(g: u32, v: {CT}, vi: u32) {
    {STORE}
}

// One invocation per output, folding its elements in order: for many outputs over few
// elements, or outputs adjacent in memory (column sums: neighbours read neighbours). Same
// params as `reduce`, with chunks = 1.
@compute @workgroup_size(256)
fn reduce_threads(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let o = group_index(wid, nwg) * 256u + lid;
    if (o >= P[0]) {
        return;
    }
    let nk = P[4];
    let nr = P[5];
    let red_at = 6u + 2u * nk + 1u;
    let base = P[red_at + 2u * nr + 1u] + strided_offset(o, nk, 6u, 6u + nk);
    let f = fold_range(base, 0u, P[1], 1u, nr, red_at);
    store(o, f.v, f.i);
}

// Outputs adjacent in memory (column sums of a row-major matrix: bias and norm-weight
// gradients): a workgroup folds 64 neighbouring outputs over one chunk of the reduced elements,
// four invocations per output striding through the chunk, so every load instruction reads 64
// neighbouring words. Same params as `reduce`; with chunks > 1 the output holds [chunks, n_out]
// partials that a second pass folds the same way.
@compute @workgroup_size(256)
fn reduce_columns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let g = group_index(wid, nwg);
    let n_out = P[0];
    let chunks = P[3];
    let col_groups = (n_out + 63u) / 64u;
    if (g >= col_groups * chunks) {
        return;
    }
    let c = g / col_groups;
    let o = (g % col_groups) * 64u + lid % 64u;
    let lane = lid / 64u;
    let r0 = c * P[2];
    let r1 = min(r0 + P[2], P[1]);
    var f = Folded({IDENTITY}, 0u);
    if (o < n_out) {
        let nk = P[4];
        let nr = P[5];
        let red_at = 6u + 2u * nk + 1u;
        let base = P[red_at + 2u * nr + 1u] + strided_offset(o, nk, 6u, 6u + nk);
        f = fold_range(base, r0 + lane, r1, 4u, nr, red_at);
    }
    acc[lid] = f.v;
    arg[lid] = f.i;
    workgroupBarrier();
    if (lid < 64u && o < n_out) {
        for (var l = 1u; l < 4u; l++) {
            f = fold_in(f, acc[lid + 64u * l], arg[lid + 64u * l]);
        }
        store(c * n_out + o, f.v, f.i);
    }
}
