// MARIO scoring kernels (paper Eq. 5–7), one module, three entry points.
//
// score:             one thread per item of a table chunk: per-modality affinities x_m = u·v_m,
//                    attention a = softmax(x / sqrt(d)) (max subtracted), score r = Σ a_m x_m;
//                    writes the score (MASKED for training items) and the M attention weights.
// pair_attention:    one thread per training pair (user, item) whose item lies in this chunk:
//                    writes the pair's attention and adds it to per-modality histograms
//                    (workgroup-local atomics, flushed once per workgroup).
// dominant_modality: one thread per user: argmax over m of the summed attention over the
//                    user's history (first index on ties), counted per modality.
//
// Item tables are uploaded once, per chunk, modality-major and transposed so that
// neighbouring threads read neighbouring vec4s (coalesced):
//   items[(m * d4 + k) * n_items + j] = components 4k..4k+3 of item (item_offset + j), modality m.
// d is zero-padded to a multiple of 4 (user vectors too), which leaves dot products unchanged.

struct Params {
    n_items: u32,     // items in this chunk
    item_offset: u32, // global id of the chunk's first item
    d4: u32,          // embedding width in vec4s
    m: u32,           // number of modalities (<= MAX_M)
    inv_sqrt_d: f32,  // 1 / sqrt(d), with the unpadded d
    n_pairs: u32,     // training pairs (pair_attention)
    n_users: u32,     // users (dominant_modality)
    bins: u32,        // histogram bins over [0, 1] (<= MAX_BINS)
    keep: u32,        // bitmask of the modalities attended to (all of them but for what-ifs)
}

const MAX_M: u32 = 8u;
const MAX_BINS: u32 = 32u;
const WG: u32 = 64u;
// Written for masked (training) items (exactly representable; no real score comes near).
// The host reads it as -inf.
const MASKED: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> items: array<vec4<f32>>;
// score: the one user vector [d4]; pair_attention: the whole user table [n_users * d4].
@group(0) @binding(2) var<storage, read> users: array<vec4<f32>>;
// Bitset over global item ids: bit set = training item of this user.
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;     // [n_items_total]
@group(0) @binding(5) var<storage, read_write> attention: array<f32>;  // [n_items_total * m]
@group(0) @binding(6) var<storage, read> pair_user: array<u32>;        // [n_pairs]
@group(0) @binding(7) var<storage, read> pair_item: array<u32>;        // [n_pairs]
@group(0) @binding(8) var<storage, read_write> pair_att: array<f32>;   // [n_pairs * m]
@group(0) @binding(9) var<storage, read_write> hist: array<atomic<u32>>;     // [m * bins]
@group(0) @binding(10) var<storage, read> indptr: array<u32>;                // [n_users + 1]
@group(0) @binding(11) var<storage, read_write> dominant: array<atomic<u32>>; // [m]

var<workgroup> local_hist: array<atomic<u32>, 256>; // MAX_M * MAX_BINS

// 2D dispatch when there are more than 65535 workgroups: x-major flattening.
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn kept(m: u32) -> bool {
    return ((params.keep >> m) & 1u) == 1u;
}

// Eq. 5–7 for the user vector at users[ubase..ubase + d4] and chunk item j, over the
// modalities in params.keep (a dropped modality gets weight 0 and no share of the softmax):
// writes the attention weights into `att` and returns the score.
fn attend(ubase: u32, j: u32, att: ptr<function, array<f32, MAX_M>>) -> f32 {
    var aff: array<f32, MAX_M>;
    var mx = MASKED;
    for (var m = 0u; m < params.m; m++) {
        if (!kept(m)) {
            aff[m] = 0.0;
            continue;
        }
        var acc = vec4<f32>(0.0);
        let row = m * params.d4;
        for (var k = 0u; k < params.d4; k++) {
            acc = fma(users[ubase + k], items[(row + k) * params.n_items + j], acc);
        }
        let x = (acc.x + acc.y) + (acc.z + acc.w);
        aff[m] = x;
        mx = max(mx, x * params.inv_sqrt_d);
    }
    var total = 0.0;
    for (var m = 0u; m < params.m; m++) {
        let e = select(0.0, exp(aff[m] * params.inv_sqrt_d - mx), kept(m));
        (*att)[m] = e;
        total += e;
    }
    var r = 0.0;
    for (var m = 0u; m < params.m; m++) {
        let a = (*att)[m] / total;
        (*att)[m] = a;
        r += a * aff[m];
    }
    return r;
}

@compute @workgroup_size(64)
fn score(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = flat_index(gid, nwg);
    if (j >= params.n_items) {
        return;
    }
    let g = params.item_offset + j;
    var att: array<f32, MAX_M>;
    let r = attend(0u, j, &att);
    for (var m = 0u; m < params.m; m++) {
        attention[g * params.m + m] = att[m];
    }
    let masked = ((mask[g >> 5u] >> (g & 31u)) & 1u) == 1u;
    scores[g] = select(r, MASKED, masked);
}

@compute @workgroup_size(64)
fn pair_attention(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    for (var i = lid; i < MAX_M * MAX_BINS; i += WG) {
        atomicStore(&local_hist[i], 0u);
    }
    workgroupBarrier();
    let p = flat_index(gid, nwg);
    if (p < params.n_pairs) {
        let item = pair_item[p];
        if (item >= params.item_offset && item - params.item_offset < params.n_items) {
            var att: array<f32, MAX_M>;
            _ = attend(pair_user[p] * params.d4, item - params.item_offset, &att);
            for (var m = 0u; m < params.m; m++) {
                pair_att[p * params.m + m] = att[m];
                let b = min(u32(att[m] * f32(params.bins)), params.bins - 1u);
                atomicAdd(&local_hist[m * MAX_BINS + b], 1u);
            }
        }
    }
    workgroupBarrier();
    for (var i = lid; i < params.m * MAX_BINS; i += WG) {
        let c = atomicLoad(&local_hist[i]);
        if (c > 0u) {
            atomicAdd(&hist[(i / MAX_BINS) * params.bins + i % MAX_BINS], c);
        }
    }
}

@compute @workgroup_size(64)
fn dominant_modality(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let u = flat_index(gid, nwg);
    if (u >= params.n_users) {
        return;
    }
    let start = indptr[u];
    let end = indptr[u + 1u];
    if (start == end) {
        return;
    }
    var sums: array<f32, MAX_M>;
    for (var p = start; p < end; p++) {
        for (var m = 0u; m < params.m; m++) {
            sums[m] += pair_att[p * params.m + m];
        }
    }
    var best = 0u;
    for (var m = 1u; m < params.m; m++) {
        if (sums[m] > sums[best]) {
            best = m;
        }
    }
    atomicAdd(&dominant[best], 1u);
}
