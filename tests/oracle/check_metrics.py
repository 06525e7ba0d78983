#!/usr/bin/env python3
"""Recompute every number of a kvscope metrics.json from a tensor dump, with numpy alone.

Usage: check_metrics.py DUMP.safetensors METRICS.json

DUMP is what `kvscope dump --attention` writes for the same model and prompt (tensors
blocks.{l}.attn.k / .v / .pattern, metadata token_ids). Prints one line per check and exits 0
when all agree, 1 when any disagrees, 2 on unusable input.
"""
import json
import sys

import numpy as np
from safetensors import safe_open

RTOL = 1e-4
ATOL = 1e-6

failures = 0


def check(name, got, want, rtol=RTOL, atol=ATOL):
    """Compares metrics.json values (got) with numpy's (want); None in got stands for NaN."""
    global failures
    g = np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(got, dtype=object))], dtype=np.float64)
    w = np.asarray(want, dtype=np.float64).ravel()
    if g.shape != w.shape:
        failures += 1
        print(f"FAIL {name}: {g.size} values in metrics.json, {w.size} recomputed")
        return
    ok = np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    if ok.all():
        err = float(np.nanmax(np.abs(g - w))) if g.size else 0.0
        print(f"ok   {name} ({g.size} values, max abs diff {err:.3g})")
    else:
        failures += 1
        i = int(np.argmin(ok))
        print(f"FAIL {name}: {int((~ok).sum())} of {g.size} differ; first at {i}: {g[i]!r} vs {w[i]!r}")


def load_dump(path):
    tensors, meta = {}, {}
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
        for k in f.keys():
            tensors[k] = f.get_tensor(k).astype(np.float64)
    return tensors, meta


def tensor_stats(x, rule):
    x = x.ravel()
    mean = x.mean()
    std = x.std()
    c = x - mean
    m2 = (c**2).mean()
    m4 = (c**4).mean()
    kurt = m4 / m2**2 - 3 if m2 > 0 else 0.0
    max_abs = np.abs(x).max()
    scale = {"max_abs": max_abs, "std": std, "absolute": 1.0}[rule["scale"]]
    sparsity = float((np.abs(x) < rule["threshold"] * scale).mean())
    return {"sparsity": sparsity, "mean": mean, "std": std, "mean_abs": np.abs(x).mean(), "max_abs": max_abs,
            "kurtosis": kurt}


def quant_dequant(x, bits):
    """Min-max uniform quantization of one group (any shape), round half to even."""
    lo, hi = x.min(), x.max()
    if hi == lo:
        return x.copy()
    levels = 2**bits - 1
    scale = (hi - lo) / levels
    q = np.clip(np.round((x - lo) / scale), 0, levels)
    return lo + q * scale


def quant_error(x, bits, grouping):
    """x [KH, S, D] -> (relative_mse, max_abs_error)."""
    if grouping == "per_tensor":
        y = quant_dequant(x, bits)
    elif grouping == "per_token":
        y = np.empty_like(x)
        for h in range(x.shape[0]):
            for s in range(x.shape[1]):
                y[h, s] = quant_dequant(x[h, s], bits)
    else:
        y = np.empty_like(x)
        for h in range(x.shape[0]):
            for d in range(x.shape[2]):
                y[h, :, d] = quant_dequant(x[h, :, d], bits)
    den = (x**2).sum()
    rel = ((x - y) ** 2).sum() / den if den > 0 else 0.0
    return rel, np.abs(x - y).max()


def pca_ratio_and_coords(X, k):
    Xc = X - X.mean(axis=0)
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    var = s**2 / max(X.shape[0] - 1, 1)
    total = var.sum()
    comps = Vt[:k].copy()
    for i in range(k):
        j = int(np.argmax(np.abs(comps[i])))
        if comps[i, j] < 0:
            comps[i] = -comps[i]
    return var[:k], (var[:k] / total if total > 0 else np.zeros(k)), Xc @ comps.T


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    tensors, meta = load_dump(argv[1])
    with open(argv[2], encoding="utf-8") as f:
        m = json.load(f)
    L = m["model"]["n_layer"]
    H = m["model"]["n_head"]
    KH = m["model"]["n_kv_head"]
    ks = [tensors[f"blocks.{l}.attn.k"] for l in range(L)]
    vs = [tensors[f"blocks.{l}.attn.v"] for l in range(L)]
    pats = [tensors.get(f"blocks.{l}.attn.pattern") for l in range(L)]
    S = ks[0].shape[1]

    if m["model"]["seq_len"] != S:
        print(f"FAIL seq_len: metrics.json has {m['model']['seq_len']} tokens, the dump {S}: not the same capture")
        return 1
    check("seq_len", [m["model"]["seq_len"]], [S], rtol=0, atol=0)
    if "token_ids" in meta:
        ids = json.loads(meta["token_ids"])
        check("token ids", [t["id"] for t in m["tokens"]], ids, rtol=0, atol=0)

    # Per-layer statistics.
    rule = m["sparsity_rule"]
    for part, xs in (("key", ks), ("value", vs)):
        for stat in ("sparsity", "mean", "std", "mean_abs", "max_abs", "kurtosis"):
            got = [m["layer_stats"]["layers"][l][part][stat] for l in range(L)]
            want = [tensor_stats(xs[l], rule)[stat] for l in range(L)]
            check(f"layer_stats {part} {stat}", got, want, atol=1e-5 if stat == "mean" else ATOL)
    corr = [np.corrcoef(ks[l].ravel(), vs[l].ravel())[0, 1] for l in range(L)]
    check("layer_stats kv_correlation", [m["layer_stats"]["layers"][l]["kv_correlation"] for l in range(L)], corr)

    # Distributions: percentiles and histograms over all layers.
    q = m["distribution"]["percent_levels"]
    for part, xs in (("key", ks), ("value", vs)):
        allx = np.concatenate([x.ravel() for x in xs])
        d = m["distribution"][part]
        check(f"distribution {part} percentiles", d["percentiles"], np.percentile(allx, q))
        per_layer = [np.percentile(x.ravel(), q) for x in xs]
        check(f"distribution {part} per-layer percentiles", d["per_layer_percentiles"], per_layer)
        edges = np.asarray(d["histogram"]["edges"], dtype=np.float64)
        check(f"distribution {part} histogram range", [edges[0], edges[-1]], [allx.min(), allx.max()])
        counts, _ = np.histogram(allx, bins=len(edges) - 1, range=(allx.min(), allx.max()))
        # A value on a bin edge may fall either side by one ulp of the edge computation.
        check(f"distribution {part} histogram counts", d["histogram"]["counts"], counts, rtol=0,
              atol=max(2, int(1e-4 * allx.size)))

    # PCA of each listed layer.
    for r in m["pca"]["results"]:
        l = r["layer"]
        x = (ks if r["part"] == "key" else vs)[l]
        X = np.transpose(x, (1, 0, 2)).reshape(S, -1)
        k = len(r["explained_variance_ratio"])
        var, ratio, coords = pca_ratio_and_coords(X, k)
        check(f"pca layer {l} {r['part']} explained_variance_ratio", r["explained_variance_ratio"], ratio)
        check(f"pca layer {l} {r['part']} explained_variance", r["explained_variance"], var)
        scale = max(np.abs(coords).max(), 1e-12)
        check(f"pca layer {l} {r['part']} coords", r["coords"], coords, rtol=1e-3, atol=1e-3 * scale)

    # Head specialization of the chosen layer.
    hs = m["head_specialization"]
    l = hs["layer"]
    group = H // KH
    kn = np.stack([np.linalg.norm(ks[l][h // group], axis=-1) for h in range(H)])
    vn = np.stack([np.linalg.norm(vs[l][h // group], axis=-1) for h in range(H)])
    check(f"head_specialization layer {l} key_norms", hs["key_norms"], kn)
    check(f"head_specialization layer {l} value_norms", hs["value_norms"], vn)
    if pats[l] is not None and hs["has_attention"]:
        P = pats[l]
        ent, dist, sink = [], [], []
        for h in range(H):
            e = d_ = s_ = 0.0
            for i in range(S):
                p = P[h, i, : i + 1]
                nz = p[p > 0]
                e += -(nz * np.log(nz)).sum()
                d_ += (p * (i - np.arange(i + 1))).sum()
                s_ += p[0]
            ent.append(e / S)
            dist.append(d_ / S)
            sink.append(s_ / S)
        check(f"head_specialization layer {l} entropy_nats", hs["entropy_nats"], ent)
        check(f"head_specialization layer {l} mean_distance_tokens", hs["mean_distance_tokens"], dist)
        check(f"head_specialization layer {l} sink_share", hs["sink_share"], sink)
        flat = P.reshape(H, -1)
        norms = np.linalg.norm(flat, axis=1)
        sim = (flat @ flat.T) / np.where(np.outer(norms, norms) > 0, np.outer(norms, norms), np.inf)
        check(f"head_specialization layer {l} similarity", hs["similarity"], sim)

    # Quantization errors.
    for c in m["quantization"]["curves"]:
        for part, xs in (("key", ks), ("value", vs)):
            errs = [quant_error(xs[l], c["bits"], c["grouping"]) for l in range(L)]
            check(f"quantization {c['grouping']} {c['bits']}-bit {part} relative_mse", c[part]["relative_mse"],
                  [e[0] for e in errs])
            check(f"quantization {c['grouping']} {c['bits']}-bit {part} max_abs_error", c[part]["max_abs_error"],
                  [e[1] for e in errs])

    # Token magnitudes and importance.
    kmag = np.mean([np.linalg.norm(ks[l], axis=-1) for l in range(L)], axis=(0, 1))
    vmag = np.mean([np.linalg.norm(vs[l], axis=-1) for l in range(L)], axis=(0, 1))
    check("token_magnitudes key", m["token_magnitudes"]["key"], kmag)
    check("token_magnitudes value", m["token_magnitudes"]["value"], vmag)
    measure = m["importance"]["measure"]
    if measure == "key_norm":
        imp = kmag
    elif measure == "value_norm":
        imp = vmag
    elif measure == "key_value_norm":
        imp = kmag + vmag
    else:
        if pats[0] is None:
            print("FAIL importance: attention_received needs the dump's attention patterns")
            return 1
        imp = sum(np.tril(p).sum(axis=(0, 1)) for p in pats)
        if m["importance"]["per_visible_query"]:
            imp = imp / (S - np.arange(S))
    check(f"importance {measure}", m["importance"]["scores"], imp)
    k_listed = len(m["ranking"]["lowest"])
    order = sorted(range(S), key=lambda i: (imp[i], i))
    lowest_scores = [imp[i] for i in order[:k_listed]]
    check("ranking lowest scores", [t["score"] for t in m["ranking"]["lowest"]], lowest_scores)
    highest_scores = sorted(imp, reverse=True)[: len(m["ranking"]["highest"])]
    check("ranking highest scores", [t["score"] for t in m["ranking"]["highest"]], highest_scores)

    # Cache size.
    D = ks[0].shape[2]
    check("cache fp32_bytes", [m["cache"]["fp32_bytes"]], [2 * L * KH * S * D * 4], rtol=0, atol=0)

    print(f"{'all checks passed' if failures == 0 else f'{failures} checks FAILED'}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
