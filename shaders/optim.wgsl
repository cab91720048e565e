// Optimizer family: one invocation updates one parameter element in place, with its state, in
// {T}. Params: n, flags, then the step's hyper-parameters as {T} bits, {W} words each (see
// rust/gpu/kernels.rs).

@group(0) @binding(1) var<storage, read_write> p: array<{T}>;
@group(0) @binding(2) var<storage, read> g: array<{T}>;
@group(0) @binding(3) var<storage, read_write> s1: array<{T}>;
@group(0) @binding(4) var<storage, read_write> s2: array<{T}>;
@group(0) @binding(5) var<storage, read_write> s3: array<{T}>;

fn hp(k: u32) -> {T} {
    return param_{T}(2u + {W}u * k);
}

// A running average moved towards `e` by weight `w`, rounded as the CPU kernel rounds it.
fn lerp_state(s: {T}, e: {T}, w: {T}) -> {T} {
    if (abs(w) < 0.5) {
        return s + w * (e - s);
    }
    return e - (e - s) * (1.0 - w);
}

// The gradient after maximize and weight decay (flags bit 1: maximize, bit 8: decay).
fn direction(i: u32, flags: u32, wd: {T}) -> {T} {
    var d = g[i];
    if ((flags & 1u) != 0u) {
        d = -d;
    }
    if ((flags & 8u) != 0u) {
        d += wd * p[i];
    }
    return d;
}

// SGD: hp = lr, momentum, 1 - dampening, weight_decay, flags (1 nesterov, 2 maximize, 4 first, 8 momentum)
@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) {
        return;
    }
    let flags = P[1];
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
    let flags = P[1];
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

// RMSprop: hp = lr, alpha, 1 - alpha, eps, weight_decay, momentum; flags (1 maximize,
// 2 centered: grad_avg in s2, 4 momentum: buffer in s3, 8 weight decay). s1 is square_avg.
@compute @workgroup_size(256)
fn rmsprop(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) {
        return;
    }
    let flags = P[1];
    let d = direction(i, flags, hp(4u));
    let w = p[i];
    let s = hp(1u) * s1[i] + hp(2u) * d * d;
    s1[i] = s;
    var root = sqrt(s);
    if ((flags & 2u) != 0u) {
        let m = lerp_state(s2[i], d, hp(2u));
        s2[i] = m;
        root = sqrt(s - m * m);
    }
    let avg = root + hp(3u);
    if ((flags & 4u) != 0u) {
        let b = hp(5u) * s3[i] + d / avg;
        s3[i] = b;
        p[i] = w - hp(0u) * b;
    } else {
        p[i] = w - (hp(0u) * d) / avg;
    }
}

// Adagrad: hp = lr / (1 + (step - 1) * lr_decay), eps, weight_decay; flags (1 maximize,
// 8 weight decay). s1 is the sum of squares.
@compute @workgroup_size(256)
fn adagrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) {
        return;
    }
    let flags = P[1];
    let d = direction(i, flags, hp(2u));
    let w = p[i];
    let s = s1[i] + d * d;
    s1[i] = s;
    p[i] = w - (hp(0u) * d) / (sqrt(s) + hp(1u));
}

// Adamax: hp = beta2, lr / (1 - beta1^step), eps, weight_decay, 1 - beta1; flags (1 maximize,
// 8 weight decay). s1 is exp_avg, s2 exp_inf.
@compute @workgroup_size(256)
fn adamax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = group_index(wid, nwg) * 256u + lid;
    if (i >= P[0]) {
        return;
    }
    let flags = P[1];
    let d = direction(i, flags, hp(3u));
    let w = p[i];
    let m = lerp_state(s1[i], d, hp(4u));
    s1[i] = m;
    let u = maximum_{T}(s2[i] * hp(0u), abs(d) + hp(2u));
    s2[i] = u;
    p[i] = w - (hp(1u) * m) / u;
}
