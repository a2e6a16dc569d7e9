"""Independent NumPy implementation of MARIO's forward pass and loss (paper §4).

Writes `golden.json`: a tiny fixed model (features, training interactions,
parameters) and what MARIO computes on it — every user's scores, the attention of a
batch, and the BPR / MP / L2 / total loss. The Rust test `golden_fixture` in
`trainer/src/golden_tests.rs` loads the same model into the burn implementation and
must match to 1e-5. Written from the paper's equations, not from the Rust code;
dense matrices everywhere (fine at this size).

Run: python3 trainer/tests/golden/mario_reference.py  (needs numpy)
"""

import json
import pathlib

import numpy as np

rng = np.random.default_rng(20221017)
U, I, d = 3, 6, 4
DIMS = {"visual": 5, "textual": 3}
K, LAM, MU, REG, ITEM_LAYERS, CF_LAYERS = 2, 0.9, 1.0, 0.1, 1, 2
TRAIN = [[0, 1], [1, 2, 3], [4, 5]]
BATCH = {"users": [0, 1, 2, 1], "pos": [1, 3, 4, 2], "neg": [2, 0, 1, 5]}

# Stored features are far from unit norm (like CNN features), so the scaling below matters.
raw_features = {m: 3.0 * rng.normal(size=(I, dm)) for m, dm in DIMS.items()}
params = {
    "user_embedding": rng.normal(scale=0.5, size=(U, d)),
    "item_embedding": rng.normal(scale=0.5, size=(I, d)),
}
for m, dm in DIMS.items():
    params[f"compress.{m}"] = rng.normal(scale=0.5, size=(dm, d))
    params[f"decode.{m}"] = rng.normal(scale=0.5, size=(d, dm))


# Feature scaling `unit-norm`: each modality divided by its mean row L2 norm.
features = {m: v / np.mean(np.linalg.norm(v, axis=1)) for m, v in raw_features.items()}


def cosine_matrix(x):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    return xn @ xn.T


def knn(x, k):
    """Eq. 2: top-k cosine neighbours of each row (the item itself included)."""
    s = cosine_matrix(x)
    ids = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(s, ids, axis=1)


def side_modality(m):
    v = features[m]
    compressed = v @ params[f"compress.{m}"]  # Eq. 1
    ids_a, s_a = knn(v, K)  # A^m on raw features
    ids_b, _ = knn(compressed, K)  # Ā^m on compressed embeddings
    s_b = cosine_matrix(compressed)
    g = np.zeros((I, I))  # Eq. 3: G = λA + (1 − λ)Ā
    for j in range(I):
        for p, s in zip(ids_a[j], s_a[j]):
            g[j, p] += LAM * max(s, 0.0)
        for p in ids_b[j]:
            g[j, p] += (1 - LAM) * max(s_b[j, p], 0.0)
    deg = g.sum(axis=1)
    g_norm = g / np.sqrt(deg)[:, None] / np.sqrt(deg)[None, :]  # Eq. 4
    h = compressed
    for _ in range(ITEM_LAYERS):
        h = g_norm @ h
    return h


def lightgcn():
    n = U + I
    a = np.zeros((n, n))
    for u, items in enumerate(TRAIN):
        for i in items:
            a[u, U + i] = a[U + i, u] = 1.0
    deg = a.sum(axis=1)
    a_hat = a / np.sqrt(deg)[:, None] / np.sqrt(deg)[None, :]
    e = np.concatenate([params["user_embedding"], params["item_embedding"]])
    layers = [e]
    for _ in range(CF_LAYERS):
        layers.append(a_hat @ layers[-1])
    out = np.mean(layers, axis=0)
    return out[:U], out[U:]


side = {m: side_modality(m) for m in DIMS}
users, cf_items = lightgcn()
item_tables = [side["visual"], side["textual"], cf_items]


def attention_and_score(u, j):
    vs = np.stack([t[j] for t in item_tables])  # [M, d]
    logits = vs @ u / np.sqrt(d)  # Eq. 5
    a = np.exp(logits - logits.max())
    a /= a.sum()
    personalised = a @ vs  # Eq. 6
    return a, float(u @ personalised)  # Eq. 7


scores = np.array([[attention_and_score(users[u], j)[1] for j in range(I)] for u in range(U)])
bu, bp, bn = (BATCH[k] for k in ("users", "pos", "neg"))
pos = np.array([attention_and_score(users[u], j)[1] for u, j in zip(bu, bp)])
neg = np.array([attention_and_score(users[u], j)[1] for u, j in zip(bu, bn)])
attention_pos = np.array([attention_and_score(users[u], j)[0] for u, j in zip(bu, bp)])
bpr = float(np.mean(np.log1p(np.exp(-(pos - neg)))))  # Eq. 9, batch mean
ego_u, ego_i = params["user_embedding"], params["item_embedding"]
l2 = REG * (np.sum(ego_u[bu] ** 2) + np.sum(ego_i[bp] ** 2) + np.sum(ego_i[bn] ** 2)) / (2 * len(bu))
items = bp + bn
mp = 0.0
for m in DIMS:  # Eq. 8 and 10: decode the final modality embedding; mean |v − ṽ| per
    # modality over the scaled feature elements
    decoded = side[m][items] @ params[f"decode.{m}"]
    mp += float(np.mean(np.abs(features[m][items] - decoded)))
total = bpr + l2 + MU * mp

fixture = {
    "config": {"dim": d, "knn_k": K, "lambda": LAM, "mu": MU, "reg": REG, "item_layers": ITEM_LAYERS, "cf_layers": CF_LAYERS, "feature_scaling": "unit-norm"},
    "n_users": U,
    "n_items": I,
    "train": TRAIN,
    "features": {m: {"dim": dm, "values": raw_features[m].ravel().tolist()} for m, dm in DIMS.items()},
    "params": {name: {"shape": list(v.shape), "values": v.ravel().tolist()} for name, v in params.items()},
    "batch": BATCH,
    "expected": {
        "scores": scores.ravel().tolist(),
        "attention_pos": attention_pos.ravel().tolist(),
        "bpr": bpr,
        "mp": mp,
        "l2": float(l2),
        "total": float(total),
    },
}
out = pathlib.Path(__file__).with_name("golden.json")
out.write_text(json.dumps(fixture, indent=1) + "\n")
print(f"wrote {out}: total loss {total:.6f} (bpr {bpr:.6f}, mp {mp:.6f}, l2 {l2:.6f})")
