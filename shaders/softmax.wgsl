// Softmax family: one workgroup per row of a contiguous tensor viewed as [outer, d, inner];
// the row is the d elements at stride `inner`. Params: rows, d, inner. {LOG} picks log-softmax;
// {CT} is the compute type (f32, also for f16 storage, or f64).

@group(0) @binding(1) var<storage, read_write> out: array<{OUT}>;
@group(0) @binding(2) var<storage, read> x: array<{OUT}>;

var<workgroup> part: array<{CT}, 256>;

fn row_max(lid: u32) -> {CT} {
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] = maximum_{CT}(part[lid], part[lid + s]);
        }
        workgroupBarrier();
    }
    return part[0];
}

fn row_sum(lid: u32) -> {CT} {
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    return part[0];
}

@compute @workgroup_size(256)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let row = group_index(wid, nwg);
    if (row >= P[0]) {
        return;
    }
    let d = P[1];
    let inner = P[2];
    let base = (row / inner) * d * inner + row % inner;
    var m = -inf_{CT}();
    for (var j = lid; j < d; j += 256u) {
        m = maximum_{CT}(m, {CT}(x[base + j * inner]));
    }
    part[lid] = m;
    m = row_max(lid);
    workgroupBarrier();
    var s = {CT}(0.0);
    for (var j = lid; j < d; j += 256u) {
        s += exp_{CT}({CT}(x[base + j * inner]) - m);
    }
    part[lid] = s;
    s = row_sum(lid);
    for (var j = lid; j < d; j += 256u) {
        let e = {CT}(x[base + j * inner]) - m;
        if ({LOG}) {
            out[base + j * inner] = {OUT}(e - log_{CT}(s));
        } else {
            out[base + j * inner] = {OUT}(exp_{CT}(e) / s);
        }
    }
}
