#!/usr/bin/env python3
"""Expected results of kvscope's analysis layer for a synthetic capture, computed with numpy.

The capture's values come from closed formulas (below, and mirrored in
tests/unit/analysis_fixture.hpp) evaluated in float64 with the C library's sin/cos/exp and no
fused multiply-adds, then rounded to float32, so C++ rebuilds it bit for bit. Every analysis
is then recomputed here independently of the C++ code and written to
tests/fixtures/analysis/synthetic.json.

Shapes: L=2 layers, H=4 query heads, KH=2 key/value heads (grouped-query attention), S=12
tokens, D=8 head_dim.

Usage: make_analysis_fixtures.py [output.json]
"""
import json
import math
import os
import sys

import numpy as np

L, H, KH, S, D = 2, 4, 2, 12, 8
BINS = 10
PERCENTILES = [0.1, 1.0, 50.0, 99.0, 99.9]
BITS = [8, 4, 3, 2]
GROUPINGS = ["per_tensor", "per_token", "per_channel"]


def f32(x):
    return float(np.float32(x))


def key(l, h, i, c):
    return f32(math.sin(0.37 * i + 1.3 * l + 0.11 * h + 0.23 * c) * (5.0 if c % 7 == 0 else 1.0))


def key_pre_rope(l, h, i, c):
    return f32(math.cos(0.41 * i + 0.9 * l + 0.2 * h + 0.19 * c))


def value(l, h, i, c):
    return f32(math.cos(0.29 * i + 0.7 * l + 0.17 * h + 0.31 * c) * (3.0 if c % 5 == 0 else 1.0) + 0.05 * c)


def pattern_row(l, h, i):
    """Causal softmax of 2 cos(0.5 i - 0.3 j + 0.7 h + 0.2 l) over j <= i; zeros after."""
    scores = [2.0 * math.cos(0.5 * i - 0.3 * j + 0.7 * h + 0.2 * l) for j in range(i + 1)]
    top = max(scores)
    e = [math.exp(s - top) for s in scores]
    total = 0.0
    for x in e:
        total += x
    return [f32(x / total) for x in e] + [0.0] * (S - i - 1)


def build():
    k = np.array([[[[key(l, h, i, c) for c in range(D)] for i in range(S)] for h in range(KH)]
                  for l in range(L)], dtype=np.float32)
    kp = np.array([[[[key_pre_rope(l, h, i, c) for c in range(D)] for i in range(S)] for h in range(KH)]
                   for l in range(L)], dtype=np.float32)
    v = np.array([[[[value(l, h, i, c) for c in range(D)] for i in range(S)] for h in range(KH)]
                  for l in range(L)], dtype=np.float32)
    p = np.array([[[pattern_row(l, h, i) for i in range(S)] for h in range(H)] for l in range(L)],
                 dtype=np.float32)
    return k, kp, v, p


def tensor_stats(x, threshold=0.01, scale="max_abs"):
    x = x.astype(np.float64)
    flat = x.ravel()
    mean = flat.mean()
    m2 = ((flat - mean) ** 2).mean()
    m4 = ((flat - mean) ** 4).mean()
    max_abs = np.abs(flat).max()
    ref = {"max_abs": max_abs, "std": math.sqrt(m2), "absolute": 1.0}[scale]
    return {
        "sparsity": float((np.abs(flat) < threshold * ref).mean()),
        "mean": float(mean),
        "std": float(np.std(flat)),
        "mean_abs": float(np.abs(flat).mean()),
        "max_abs": float(max_abs),
        "kurtosis": float(m4 / m2 ** 2 - 3.0),
        "channel_max_abs": np.abs(x).max(axis=1).tolist(),  # [KH, D]
    }


def fake_quant(x, bits, axis):
    """Min-max round-to-nearest quantize-dequantize; min/max reduced over `axis`."""
    x = x.astype(np.float64)
    lo = x.min(axis=axis, keepdims=True)
    hi = x.max(axis=axis, keepdims=True)
    levels = 2.0 ** bits - 1
    step = (hi - lo) / levels
    div = np.where(step > 0, step, 1.0)
    q = np.clip(np.round((x - lo) / div), 0, levels)
    return lo + q * step


AXES = {"per_tensor": (0, 1, 2), "per_token": (2,), "per_channel": (1,)}


def pca(x, k):
    x = x.astype(np.float64)
    xc = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:k].copy()
    for r in range(k):
        if comps[r, np.argmax(np.abs(comps[r]))] < 0:
            comps[r] = -comps[r]
    total = (s ** 2).sum()
    return {
        "coords": (xc @ comps.T).tolist(),
        "components": comps.tolist(),
        "explained_variance": (s[:k] ** 2 / (x.shape[0] - 1)).tolist(),
        "explained_variance_ratio": (s[:k] ** 2 / total).tolist(),
    }


def cosine(rows):
    rows = rows.astype(np.float64)
    n = np.linalg.norm(rows, axis=1)
    return ((rows @ rows.T) / np.outer(n, n)).tolist()


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "analysis", "synthetic.json")
    k, kp, v, p = build()
    kv_of = [h // (H // KH) for h in range(H)]
    res = {"shape": {"L": L, "H": H, "KH": KH, "S": S, "D": D}}

    # Raw float32 values, so the C++ test can first prove it rebuilt the same capture.
    res["capture_checksums"] = {
        "k_sum": float(k.astype(np.float64).sum()), "k_pre_rope_sum": float(kp.astype(np.float64).sum()),
        "v_sum": float(v.astype(np.float64).sum()), "pattern_sum": float(p.astype(np.float64).sum()),
        "k_0_1_5": k[0, 1, 5].astype(np.float64).tolist(), "v_1_0_11": v[1, 0, 11].astype(np.float64).tolist(),
        "pattern_1_3_7": p[1, 3, 7].astype(np.float64).tolist(),
    }

    res["layer_stats"] = [{
        "key": tensor_stats(k[l]),
        "value": tensor_stats(v[l]),
        "key_pre_rope": tensor_stats(kp[l]),
        "kv_correlation": float(np.corrcoef(k[l].astype(np.float64).ravel(), v[l].astype(np.float64).ravel())[0, 1]),
        "key_std_rule": tensor_stats(k[l], threshold=0.5, scale="std")["sparsity"],
        "value_absolute_rule": tensor_stats(v[l], threshold=0.2, scale="absolute")["sparsity"],
    } for l in range(L)]

    def distribution(x):
        allv = x.astype(np.float64).ravel()
        counts, edges = np.histogram(allv, bins=BINS)
        return {
            "edges": edges.tolist(),
            "counts": counts.tolist(),
            "per_layer_counts": [np.histogram(x[l].astype(np.float64).ravel(), bins=edges)[0].tolist()
                                 for l in range(L)],
            "percentiles": np.percentile(allv, PERCENTILES).tolist(),
            "per_layer_percentiles": [np.percentile(x[l].astype(np.float64).ravel(), PERCENTILES).tolist()
                                      for l in range(L)],
        }
    res["distribution"] = {"bins": BINS, "q": PERCENTILES, "key": distribution(k), "value": distribution(v)}

    tok = lambda x, l: x[l].transpose(1, 0, 2).reshape(S, KH * D)
    res["pca"] = {"layer": 1, "k": 2, "key": pca(tok(k, 1), 2), "value": pca(tok(v, 1), 2),
                  "key_pre_rope_k3": pca(tok(kp, 0), 3)}

    layer = 1
    ent, dist, sink = [], [], []
    for h in range(H):
        e = d = s = 0.0
        for i in range(S):
            row = p[layer, h, i, : i + 1].astype(np.float64)
            nz = row[row > 0]
            e += float(-(nz * np.log(nz)).sum())
            d += float((row * (i - np.arange(i + 1))).sum())
            s += float(row[0])
        ent.append(e / S)
        dist.append(d / S)
        sink.append(s / S)
    res["heads"] = {
        "layer": layer,
        "kv_head": kv_of,
        "key_norms": [np.linalg.norm(k[layer, kv_of[h]].astype(np.float64), axis=1).tolist() for h in range(H)],
        "value_norms": [np.linalg.norm(v[layer, kv_of[h]].astype(np.float64), axis=1).tolist() for h in range(H)],
        "entropy": ent,
        "mean_distance": dist,
        "sink_share": sink,
        "similarity": cosine(p[layer].reshape(H, S * S)),
        "similarity_without_attention": cosine(
            np.stack([k[layer, kv_of[h]].astype(np.float64).mean(axis=0) for h in range(H)])),
    }

    quant = []
    for g in GROUPINGS:
        for b in BITS:
            entry = {"grouping": g, "bits": b, "key": [], "value": []}
            for l in range(L):
                for name, x in (("key", k[l]), ("value", v[l])):
                    x64 = x.astype(np.float64)
                    err = x64 - fake_quant(x, b, AXES[g])
                    entry[name].append({"relative_mse": float((err ** 2).sum() / (x64 ** 2).sum()),
                                        "max_abs_error": float(np.abs(err).max())})
            quant.append(entry)
    res["quantization"] = quant
    res["quantized_key_l0_3bit_per_channel"] = fake_quant(k[0], 3, AXES["per_channel"]).astype(
        np.float32).astype(np.float64).ravel().tolist()

    kmag = np.linalg.norm(k.astype(np.float64), axis=3).mean(axis=(0, 1))  # [S]
    vmag = np.linalg.norm(v.astype(np.float64), axis=3).mean(axis=(0, 1))
    received = p.astype(np.float64).sum(axis=(0, 1, 2))  # over layers, heads, queries
    res["tokens"] = {
        "key_magnitude": kmag.tolist(),
        "value_magnitude": vmag.tolist(),
        "attention_received": received.tolist(),
        "attention_received_per_visible_query": (received / (S - np.arange(S))).tolist(),
        # Ranking of key + value magnitude: 3 lowest ascending, 3 highest descending.
        "lowest3": np.argsort(kmag + vmag, kind="stable")[:3].tolist(),
        "highest3": np.argsort(-(kmag + vmag), kind="stable")[:3].tolist(),
    }

    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
