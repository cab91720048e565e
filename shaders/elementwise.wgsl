// Elementwise family: out = op(inputs) over up to three strided, broadcast inputs; `out` may be a
// strided view too. Params: n, ndim, shape[ndim], then `offset, strides[ndim]` for out and for
// each input, then the op's scalars as raw bits.

@group(0) @binding(1) var<storage, read_write> out: array<{OUT}>;
{DECLS}

const CONTIG: bool = {CONTIG};

// Offsets of element i in out (component 0) and in each input (1..): the index is unravelled
// once for all operands. Strided variants only; contiguous ones add `i` to each base.
fn offsets(i: u32) -> vec4<u32> {
    let ndim = P[1];
    let w = ndim + 1u;
    let desc = 2u + ndim;
    var off = vec4<u32>(0u);
    for (var k = 0u; k < {NOPS}u; k++) {
        off[k] = P[desc + k * w];
    }
    var rem = i;
    for (var d = ndim; d > 0u; d--) {
        let size = P[1u + d];
        let c = rem % size;
        rem = rem / size;
        for (var k = 0u; k < {NOPS}u; k++) {
            off[k] += c * P[desc + k * w + d];
        }
    }
    return off;
}

fn scalar_at(k: u32) -> u32 {
    let ndim = P[1];
    return P[2u + ndim + ({NOPS}u) * (ndim + 1u) + k];
}

// The op on one element's operands.
fn op_({PARAMS}) -> {OUT} {
    return {OUT}({EXPR});
}

// Each invocation maps four elements, 256 apart, so neighbours touch neighbouring memory.
// Contiguous variants load all four elements' operands before the first store, so the
// loads are in flight together; the loop serves strided variants and the tail.
@compute @workgroup_size(256)
fn map(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
    let first = group_index(wid, nwg) * 1024u + lid;
    let n = P[0];
{BASES}
{FAST}
    for (var j = 0u; j < 4u; j++) {
        let i = first + j * 256u;
        if (i >= n) {
            return;
        }
{LOADS}
        out[{OUT_AT}] = op_({ARGS});
    }
}
