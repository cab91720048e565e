// Nn family: the fused nn row kernels in {T} ({T} or f64), one workgroup of 256 per row: softmax cross
// entropy (forward and gradient), normalisation over the last dim (forward and gradient), and
// the row steps of attention (masked scaled softmax of the scores; the softmax gradient).
// Each entry point declares its own bindings (the same numbers, other names): only the ones an
// entry point uses enter its pipeline. Offsets in params are in elements of the bound array
// (int64 targets are bound as u32 words, two per element, low word first); float params come
// last, as {T} bits (param_{T}).

var<workgroup> part: array<{T}, 256>;

// The sum over the workgroup of each invocation's `v` (called in uniform control flow).
fn wg_sum(lid: u32, v: {T}) -> {T} {
    part[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    let r = part[0];
    workgroupBarrier();
    return r;
}

// The NaN-propagating max over the workgroup of each invocation's `v`.
fn wg_max(lid: u32, v: {T}) -> {T} {
    part[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] = maximum_{T}(part[lid], part[lid + s]);
        }
        workgroupBarrier();
    }
    let r = part[0];
    workgroupBarrier();
    return r;
}

// ---- cross entropy ----
// Params: n, c, flags (1: weight given, 2: label smoothing), ignore_index (lo, hi words),
// x offset, target offset (words), weight offset, smoothing.

@group(0) @binding(1) var<storage, read_write> ce_loss: array<{T}>;
@group(0) @binding(2) var<storage, read_write> ce_denom: array<{T}>;
@group(0) @binding(3) var<storage, read_write> ce_bad: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read> ce_x: array<{T}>;
@group(0) @binding(5) var<storage, read> ce_t: array<u32>;
@group(0) @binding(6) var<storage, read> ce_w: array<{T}>;

fn ce_weight(k: u32) -> {T} {
    if ((P[2] & 1u) != 0u) {
        return ce_w[P[7] + k];
    }
    return 1.0;
}

// Per-row loss (0 where ignored) and the row's weight in a `mean` denominator; the first row
// whose target is out of range goes to `ce_bad[0]` (atomicMin), its loss NaN.
@compute @workgroup_size(256)
fn cross_entropy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    if (row >= P[0]) {
        return;
    }
    let c = P[1];
    let lo = ce_t[P[6] + 2u * row];
    let hi = ce_t[P[6] + 2u * row + 1u];
    if (lo == P[3] && hi == P[4]) {
        if (lid == 0u) {
            ce_loss[row] = 0.0;
            ce_denom[row] = 0.0;
        }
        return;
    }
    if (hi != 0u || lo >= c) {
        if (lid == 0u) {
            atomicMin(&ce_bad[0], row);
            ce_loss[row] = nan_{T}();
            ce_denom[row] = 0.0;
        }
        return;
    }
    let base = P[5] + row * c;
    var m = -inf_{T}();
    for (var j = lid; j < c; j += 256u) {
        m = maximum_{T}(m, ce_x[base + j]);
    }
    m = wg_max(lid, m);
    m = select(m, 0.0, m == -inf_{T}());
    var s = {T}(0.0);
    for (var j = lid; j < c; j += 256u) {
        s += exp_{T}(ce_x[base + j] - m);
    }
    let lse = log_{T}(wg_sum(lid, s));
    let wt = ce_weight(lo);
    let nll = -(ce_x[base + lo] - m - lse) * wt;
    var v = nll;
    if ((P[2] & 2u) != 0u) {
        let eps = param_{T}(8u);
        var a = {T}(0.0);
        for (var j = lid; j < c; j += 256u) {
            a -= ce_weight(j) * (ce_x[base + j] - m - lse);
        }
        let smoothed = wg_sum(lid, a) / {T}(c);
        v = (1.0 - eps) * nll + eps * smoothed;
    }
    if (lid == 0u) {
        ce_loss[row] = v;
        ce_denom[row] = wt;
    }
}

// `dx[i, k] = scale[i] * d loss_i / d x[i, k]`. Params as the forward's.
@group(0) @binding(1) var<storage, read_write> cb_dx: array<{T}>;
@group(0) @binding(2) var<storage, read> cb_x: array<{T}>;
@group(0) @binding(3) var<storage, read> cb_t: array<u32>;
@group(0) @binding(4) var<storage, read> cb_w: array<{T}>;
@group(0) @binding(5) var<storage, read> cb_scale: array<{T}>;

fn cb_weight(k: u32) -> {T} {
    if ((P[2] & 1u) != 0u) {
        return cb_w[P[7] + k];
    }
    return 1.0;
}

@compute @workgroup_size(256)
fn cross_entropy_backward(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    if (row >= P[0]) {
        return;
    }
    let c = P[1];
    let lo = cb_t[P[6] + 2u * row];
    let hi = cb_t[P[6] + 2u * row + 1u];
    let out = row * c;
    if (lo == P[3] && hi == P[4]) {
        for (var j = lid; j < c; j += 256u) {
            cb_dx[out + j] = 0.0;
        }
        return;
    }
    let base = P[5] + row * c;
    var m = -inf_{T}();
    for (var j = lid; j < c; j += 256u) {
        m = maximum_{T}(m, cb_x[base + j]);
    }
    m = wg_max(lid, m);
    m = select(m, 0.0, m == -inf_{T}());
    var s = {T}(0.0);
    var ws = {T}(0.0);
    for (var j = lid; j < c; j += 256u) {
        s += exp_{T}(cb_x[base + j] - m);
        ws += cb_weight(j);
    }
    let lse = log_{T}(wg_sum(lid, s));
    let wsum = wg_sum(lid, ws);
    let eps = param_{T}(8u);
    let smoothing = (P[2] & 2u) != 0u;
    let inv_c = 1.0 / {T}(c);
    let t = min(lo, c - 1u);
    let wt = cb_weight(t);
    let scale = cb_scale[row];
    for (var k = lid; k < c; k += 256u) {
        let p = exp_{T}(cb_x[base + k] - m - lse);
        let hit = select({T}(0.0), {T}(1.0), k == lo && hi == 0u);
        var g = (1.0 - eps) * wt * (p - hit);
        if (smoothing) {
            g = g + eps * inv_c * (wsum * p - cb_weight(k));
        }
        cb_dx[out + k] = scale * g;
    }
}

// ---- normalisation over the last dim ----
// Forward params: rows, k, center, x offset, eps.

@group(0) @binding(1) var<storage, read_write> nf_y: array<{T}>;
@group(0) @binding(2) var<storage, read_write> nf_mean: array<{T}>;
@group(0) @binding(3) var<storage, read_write> nf_rstd: array<{T}>;
@group(0) @binding(4) var<storage, read> nf_x: array<{T}>;

@compute @workgroup_size(256)
fn norm_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    if (row >= P[0]) {
        return;
    }
    let k = P[1];
    let center = P[2] != 0u;
    let base = P[3] + row * k;
    let inv_k = 1.0 / {T}(k);
    var mu = {T}(0.0);
    if (center) {
        var s = {T}(0.0);
        for (var j = lid; j < k; j += 256u) {
            s += nf_x[base + j];
        }
        mu = wg_sum(lid, s) * inv_k;
    }
    var q = {T}(0.0);
    for (var j = lid; j < k; j += 256u) {
        let d = nf_x[base + j] - mu;
        q += d * d;
    }
    let r = 1.0 / sqrt(wg_sum(lid, q) * inv_k + param_{T}(4u));
    for (var j = lid; j < k; j += 256u) {
        nf_y[row * k + j] = (nf_x[base + j] - mu) * r;
    }
    if (lid == 0u) {
        nf_mean[row] = mu;
        nf_rstd[row] = r;
    }
}

// `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))` (no `mean(g)` when not centred).
// Params: rows, k, center, x offset, g offset, mean offset, rstd offset.
@group(0) @binding(1) var<storage, read_write> nb_dx: array<{T}>;
@group(0) @binding(2) var<storage, read> nb_x: array<{T}>;
@group(0) @binding(3) var<storage, read> nb_g: array<{T}>;
@group(0) @binding(4) var<storage, read> nb_mean: array<{T}>;
@group(0) @binding(5) var<storage, read> nb_rstd: array<{T}>;

@compute @workgroup_size(256)
fn norm_rows_backward(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    if (row >= P[0]) {
        return;
    }
    let k = P[1];
    let center = P[2] != 0u;
    let xb = P[3] + row * k;
    let gb = P[4] + row * k;
    let mu = nb_mean[P[5] + row];
    let r = nb_rstd[P[6] + row];
    let inv_k = 1.0 / {T}(k);
    var sg = {T}(0.0);
    var sgx = {T}(0.0);
    for (var j = lid; j < k; j += 256u) {
        let g = nb_g[gb + j];
        sg += g;
        sgx += g * (nb_x[xb + j] - mu) * r;
    }
    let mg = select(0.0, wg_sum(lid, sg) * inv_k, center);
    let mgx = wg_sum(lid, sgx) * inv_k;
    for (var j = lid; j < k; j += 256u) {
        let xhat = (nb_x[xb + j] - mu) * r;
        nb_dx[row * k + j] = r * (nb_g[gb + j] - mg - xhat * mgx);
    }
}

// ---- attention rows ----
// Probabilities from raw scores `[b*l, s]`: softmax(scores * scale + mask), keys after the
// query hidden when causal. Params: rows, l, s, flags (1: mask given, 2: causal), mask offset,
// scale.
@group(0) @binding(1) var<storage, read_write> as_p: array<{T}>;
@group(0) @binding(2) var<storage, read> as_scores: array<{T}>;
@group(0) @binding(3) var<storage, read> as_mask: array<{T}>;

fn as_score(row: u32, i: u32, j: u32) -> {T} {
    let s = P[2];
    var x = as_scores[row * s + j] * param_{T}(5u);
    if ((P[3] & 1u) != 0u) {
        x += as_mask[P[4] + row * s + j];
    }
    if ((P[3] & 2u) != 0u && j > i) {
        x = -inf_{T}();
    }
    return x;
}

@compute @workgroup_size(256)
fn attention_softmax(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    if (row >= P[0]) {
        return;
    }
    let i = row % P[1];
    let s = P[2];
    var m = -inf_{T}();
    for (var j = lid; j < s; j += 256u) {
        m = maximum_{T}(m, as_score(row, i, j));
    }
    m = wg_max(lid, m);
    var sum = {T}(0.0);
    for (var j = lid; j < s; j += 256u) {
        let e = exp_{T}(as_score(row, i, j) - m);
        as_p[row * s + j] = e;
        sum += e;
    }
    let inv = 1.0 / wg_sum(lid, sum);
    for (var j = lid; j < s; j += 256u) {
        as_p[row * s + j] = as_p[row * s + j] * inv;
    }
}

// In place over `dp [b*l, s]`: `ds = p * (dp - rowsum(dp * p)) * scale`. Params: rows, s,
// p offset, scale.
@group(0) @binding(1) var<storage, read_write> ad_ds: array<{T}>;
@group(0) @binding(2) var<storage, read> ad_p: array<{T}>;

@compute @workgroup_size(256)
fn attention_softmax_backward(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    if (row >= P[0]) {
        return;
    }
    let s = P[1];
    let scale = param_{T}(3u);
    let pb = P[2] + row * s;
    var dot = {T}(0.0);
    for (var j = lid; j < s; j += 256u) {
        dot += ad_ds[row * s + j] * ad_p[pb + j];
    }
    dot = wg_sum(lid, dot);
    for (var j = lid; j < s; j += 256u) {
        ad_ds[row * s + j] = ad_p[pb + j] * (ad_ds[row * s + j] - dot) * scale;
    }
}
