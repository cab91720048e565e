// Conv family: direct 2-D convolution (forward, input and weight gradients), max and average
// pooling over contiguous NCHW tensors in {T} (f32 or f64), as `cpu/conv.rs` computes them.
// P = n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, oh, ow,
//     out_channels, total (invocations' elements), offset of the first input, offset of the
//     second input, offset of the output, offset of the second output, flag (include_pad).

@group(0) @binding(1) var<storage, read_write> a_out: array<{T}>;
@group(0) @binding(2) var<storage, read> a_in: array<{T}>;
@group(0) @binding(3) var<storage, read> b_in: array<{T}>;

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return group_index(wid, nwg) * 256u + lid;
}

// Input row (or column) read by output position `y` at tap `i` along one axis (`a` = 0 for
// rows, 1 for columns), or -1 in the padding.
fn src_at(y: u32, i: u32, a: u32) -> i32 {
    let v = i32(y * P[6u + a] + i * P[10u + a]) - i32(P[8u + a]);
    return select(-1, v, v >= 0 && v < i32(P[2u + a]));
}

// Output position whose tap `i` reads input position `v` along axis `a`, or -1.
fn dst_at(v: u32, i: u32, a: u32) -> i32 {
    let t = i32(v + P[8u + a]) - i32(i * P[10u + a]);
    let s = i32(P[6u + a]);
    if (t < 0 || t % s != 0) { return -1; }
    let y = t / s;
    return select(-1, y, y < i32(P[13u + a]));
}

@compute @workgroup_size(256)
fn conv_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = linear_id(wid, nwg, lid);
    if (e >= P[16]) { return; }
    let oh = P[13];
    let ow = P[14];
    let oc = P[15];
    let x = e % ow;
    let y = (e / ow) % oh;
    let o = (e / (ow * oh)) % oc;
    let n = e / (ow * oh * oc);
    let cg = P[1] / P[12];
    let og = oc / P[12];
    let c0 = (o / og) * cg;
    var acc = {T}(0.0);
    for (var c = 0u; c < cg; c++) {
        let xb = P[17] + (n * P[1] + c0 + c) * P[2] * P[3];
        let wb = P[18] + (o * cg + c) * P[4] * P[5];
        for (var i = 0u; i < P[4]; i++) {
            let iy = src_at(y, i, 0u);
            if (iy < 0) { continue; }
            for (var j = 0u; j < P[5]; j++) {
                let ix = src_at(x, j, 1u);
                if (ix < 0) { continue; }
                acc += a_in[xb + u32(iy) * P[3] + u32(ix)] * b_in[wb + i * P[5] + j];
            }
        }
    }
    a_out[P[19] + e] = acc;
}

// Input gradient: a_in = gy, b_in = w; one invocation per input element.
@compute @workgroup_size(256)
fn conv_grad_input(@builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let e = linear_id(wid, nwg, lid);
    if (e >= P[16]) { return; }
    let h = P[2];
    let w = P[3];
    let ix = e % w;
    let iy = (e / w) % h;
    let ch = (e / (w * h)) % P[1];
    let n = e / (w * h * P[1]);
    let oh = P[13];
    let ow = P[14];
    let oc = P[15];
    let cg = P[1] / P[12];
    let og = oc / P[12];
    let grp = ch / cg;
    let c = ch % cg;
    var acc = {T}(0.0);
    for (var q = 0u; q < og; q++) {
        let o = grp * og + q;
        let gb = P[17] + (n * oc + o) * oh * ow;
        let wb = P[18] + (o * cg + c) * P[4] * P[5];
        for (var i = 0u; i < P[4]; i++) {
            let y = dst_at(iy, i, 0u);
            if (y < 0) { continue; }
            for (var j = 0u; j < P[5]; j++) {
                let x = dst_at(ix, j, 1u);
                if (x < 0) { continue; }
                acc += a_in[gb + u32(y) * ow + u32(x)] * b_in[wb + i * P[5] + j];
            }
        }
    }
    a_out[P[19] + e] = acc;
}

var<workgroup> partial: array<{T}, 256>;

// Weight gradient: a_in = x, b_in = gy; one workgroup per weight element folds the batch and
// output positions.
@compute @workgroup_size(256)
fn conv_grad_weight(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let e = group_index(wid, nwg);
    if (e >= P[16]) { return; }
    let kh = P[4];
    let kw = P[5];
    let oh = P[13];
    let ow = P[14];
    let oc = P[15];
    let cg = P[1] / P[12];
    let og = oc / P[12];
    let j = e % kw;
    let i = (e / kw) % kh;
    let c = (e / (kw * kh)) % cg;
    let o = e / (kw * kh * cg);
    let ch = (o / og) * cg + c;
    let l = oh * ow;
    var acc = {T}(0.0);
    for (var r = lid; r < P[0] * l; r += 256u) {
        let n = r / l;
        let yx = r % l;
        let iy = src_at(yx / ow, i, 0u);
        let ix = src_at(yx % ow, j, 1u);
        if (iy < 0 || ix < 0) { continue; }
        acc += b_in[P[18] + (n * oc + o) * l + yx]
            * a_in[P[17] + ((n * P[1] + ch) * P[2] + u32(iy)) * P[3] + u32(ix)];
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        a_out[P[19] + e] = partial[0];
    }
}

@group(0) @binding(2) var<storage, read_write> m_idx: array<u32>;
@group(0) @binding(3) var<storage, read> m_x: array<{T}>;

// Max pooling: the value and flat `iy * w + ix` index of each window's maximum (NaN wins).
@compute @workgroup_size(256)
fn max_pool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = linear_id(wid, nwg, lid);
    if (e >= P[16]) { return; }
    let oh = P[13];
    let ow = P[14];
    let x = e % ow;
    let y = (e / ow) % oh;
    let plane = e / (ow * oh);
    let xb = P[17] + plane * P[2] * P[3];
    var best = -inf_{T}();
    var at = -1;
    for (var i = 0u; i < P[4]; i++) {
        let iy = src_at(y, i, 0u);
        if (iy < 0) { continue; }
        var stop = false;
        for (var j = 0u; j < P[5]; j++) {
            let ix = src_at(x, j, 1u);
            if (ix < 0) { continue; }
            let v = m_x[xb + u32(iy) * P[3] + u32(ix)];
            if (at < 0 || v > best || isnan_{T}(v)) {
                best = v;
                at = iy * i32(P[3]) + ix;
                if (isnan_{T}(v)) {
                    stop = true;
                    break;
                }
            }
        }
        if (stop) { break; }
    }
    a_out[P[19] + e] = best;
    m_idx[2u * (P[20] + e)] = u32(max(at, 0));
    m_idx[2u * (P[20] + e) + 1u] = 0u;
}

// The divisor of output (y, x)'s window, as `window_count` on the CPU.
fn window_count(y: u32, x: u32) -> {T} {
    if (P[21] != 0u) {
        let h_end = min(y * P[6] + P[4], P[2] + 2u * P[8]);
        let w_end = min(x * P[7] + P[5], P[3] + 2u * P[9]);
        return {T}((h_end - y * P[6]) * (w_end - x * P[7]));
    }
    var n = 0u;
    for (var i = 0u; i < P[4]; i++) {
        for (var j = 0u; j < P[5]; j++) {
            if (src_at(y, i, 0u) >= 0 && src_at(x, j, 1u) >= 0) { n++; }
        }
    }
    return {T}(n);
}

@compute @workgroup_size(256)
fn avg_pool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = linear_id(wid, nwg, lid);
    if (e >= P[16]) { return; }
    let oh = P[13];
    let ow = P[14];
    let x = e % ow;
    let y = (e / ow) % oh;
    let plane = e / (ow * oh);
    let xb = P[17] + plane * P[2] * P[3];
    var s = {T}(0.0);
    for (var i = 0u; i < P[4]; i++) {
        let iy = src_at(y, i, 0u);
        if (iy < 0) { continue; }
        for (var j = 0u; j < P[5]; j++) {
            let ix = src_at(x, j, 1u);
            if (ix < 0) { continue; }
            s += a_in[xb + u32(iy) * P[3] + u32(ix)];
        }
    }
    a_out[P[19] + e] = s / window_count(y, x);
}

// The adjoint of avg_pool: a_in = gy; one invocation per input element.
@compute @workgroup_size(256)
fn avg_pool_backward(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let e = linear_id(wid, nwg, lid);
    if (e >= P[16]) { return; }
    let h = P[2];
    let w = P[3];
    let ix = e % w;
    let iy = (e / w) % h;
    let plane = e / (w * h);
    let oh = P[13];
    let ow = P[14];
    let gb = P[17] + plane * oh * ow;
    var acc = {T}(0.0);
    for (var i = 0u; i < P[4]; i++) {
        let y = dst_at(iy, i, 0u);
        if (y < 0) { continue; }
        for (var j = 0u; j < P[5]; j++) {
            let x = dst_at(ix, j, 1u);
            if (x < 0) { continue; }
            acc += a_in[gb + u32(y) * ow + u32(x)] / window_count(u32(y), u32(x));
        }
    }
    a_out[P[19] + e] = acc;
}
