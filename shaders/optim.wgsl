// Optimizer family: one invocation updates one parameter element in place, with its state.
// Params: n, then the step's hyper-parameters as f32 bits (see rust/gpu/kernels.rs).

@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> s1: array<f32>;
{STATE}

fn hp(k: u32) -> f32 {
    return param_f32(1u + k);
}

// SGD: hp = lr, momentum, 1 - dampening, weight_decay, flags (1 nesterov, 2 maximize, 4 first, 8 momentum)
@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) {
        return;
    }
    let flags = P[5];
    var d = g[i];
    if ((flags & 2u) != 0u) {
        d = -d;
    }
    if (hp(3u) != 0.0) {
        d += hp(3u) * p[i];
    }
    if ((flags & 8u) != 0u) {
        var b = d;
        if ((flags & 4u) == 0u) {
            b = hp(1u) * s1[i] + hp(2u) * d;
        }
        s1[i] = b;
        d = select(b, d + hp(1u) * b, (flags & 1u) != 0u);
    }
    p[i] -= hp(0u) * d;
}

// Adam / AdamW: hp = lr, beta1, beta2, 1 - beta1, 1 - beta2, lr / bias_correction1,
// sqrt(bias_correction2), eps, weight_decay, 1 - lr * weight_decay; then flags (1 amsgrad,
// 2 maximize, 4 decoupled). {AMSGRAD} keeps the running max of v in s3.
@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) {
        return;
    }
    let flags = P[11];
    var d = g[i];
    if ((flags & 2u) != 0u) {
        d = -d;
    }
    var w = p[i];
    if ((flags & 4u) != 0u) {
        w *= hp(9u);
    } else {
        d += hp(8u) * w;
    }
    let m = hp(1u) * s1[i] + hp(3u) * d;
    let v = hp(2u) * s2[i] + hp(4u) * d * d;
    s1[i] = m;
    s2[i] = v;
    var second = v;
    {AMSGRAD}
    p[i] = w - hp(5u) * (m / (sqrt(second) / hp(6u) + hp(7u)));
}
