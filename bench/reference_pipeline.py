#!/usr/bin/env python3
"""Reference pipeline for the `kvscope analyze` benchmark.

What a researcher would write with the seed's stack (transformers, matplotlib, seaborn,
scikit-learn, pandas) to draw the same thirteen KV-cache figures kvscope draws, plus a
metrics.json. It is the baseline kvscope is timed against, so it does the same work in the
ordinary way: eager attention with output_attentions=True, numpy for the numbers, seaborn
heatmaps for matrices, sklearn PCA, pandas tables, figures saved at dpi 100.

Usage:
  reference_pipeline.py --model DIR --tokens L --out DIR [--threads N]
                        [--prompt-out FILE] [--prompt-only] [--tick-labels all|auto]

The prompt is a paragraph repeated and cut, at a character boundary, to a text that
tokenizes to exactly L tokens; --prompt-out writes that text (no trailing newline) so that
another tool can be given the very same prompt. The last stdout line is one JSON object of
per-phase wall-clock seconds: load, forward, analysis, drawing, total.
"""

import argparse
import json
import os
import sys
import time

T_START = time.perf_counter()

PARAGRAPH = (
    "Article: A car crash occurred on Highway 15 today, involving three cars. Authorities "
    "were called to the scene shortly after the crash was reported, and an investigation is "
    "underway to determine the cause of the accident. Paramedics arrived on the scene, "
    "offering medical assistance to those involved in the crash, and all three individuals "
    "were taken to the nearby hospital for further treatment. TL;DR: "
)

STOP_WORDS = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "had", "has",
    "have", "he", "her", "his", "i", "in", "is", "it", "its", "of", "on", "or", "she",
    "that", "the", "their", "them", "they", "this", "those", "to", "was", "were", "which",
    "who", "will", "with", "you",
}
CATEGORIES = ["special", "whitespace", "number", "punctuation", "stop_word", "word_start",
              "word_continuation"]
BITS = [8, 4, 3, 2]
GROUPINGS = ["per_tensor", "per_token", "per_channel"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--model", required=True, help="GPT-2 model folder (config, safetensors, tokenizer)")
    p.add_argument("--tokens", type=int, required=True, help="prompt length in tokens")
    p.add_argument("--out", required=True, help="output folder for figures and metrics.json")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--prompt-out", help="also write the prompt text to this file")
    p.add_argument("--prompt-only", action="store_true", help="write --prompt-out and stop")
    p.add_argument("--tick-labels", choices=["all", "auto"], default="auto",
                   help="token tick labels on the attention grid: every token (as the notebook "
                        "does; very slow at hundreds of tokens) or about 16 per axis")
    return p.parse_args()


def prompt_with_tokens(tokenizer, n_tokens):
    """The shortest prefix of a repeated paragraph that tokenizes to exactly n_tokens."""
    def count(text):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    text = PARAGRAPH
    while count(text) < n_tokens:
        text += PARAGRAPH
    # Token count grows with the prefix length (nearly monotonically for byte-level BPE), so
    # bisect on characters, then step to an exact hit; a trailing space would tokenize
    # differently on its own, so the cut is trimmed of it.
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(text[:mid]) < n_tokens:
            lo = mid + 1
        else:
            hi = mid
    for end in range(lo, len(text) + 1):
        cut = text[:end].rstrip()
        if count(cut) == n_tokens:
            return cut
    raise SystemExit(f"could not cut the prompt to exactly {n_tokens} tokens")


# ---------------------------------------------------------------- analysis (numpy, sklearn)

def quant_dequant(x, bits, axes):
    """Uniform asymmetric min-max quantization, round to nearest; one group per slice that
    `axes` reduce over (None = the whole tensor)."""
    levels = 2 ** bits - 1
    lo = x.min(axis=axes, keepdims=True)
    hi = x.max(axis=axes, keepdims=True)
    scale = (hi - lo) / levels
    safe = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.round((x - lo) / safe), 0, levels)
    return np.where(scale > 0, lo + q * safe, x)


def quant_error(x, bits, grouping):
    x = x.astype(np.float64)
    axes = {"per_tensor": None, "per_token": 2, "per_channel": 1}[grouping]  # x is [H, S, D]
    xq = quant_dequant(x, bits, axes)
    err = x - xq
    denom = float((x ** 2).sum())
    return (float((err ** 2).sum()) / denom if denom > 0 else 0.0), float(np.abs(err).max())


def tensor_stats(x, threshold=0.01):
    x = x.astype(np.float64).ravel()
    mean = x.mean()
    c = x - mean
    m2 = (c ** 2).mean()
    m4 = (c ** 4).mean()
    max_abs = np.abs(x).max()
    return {
        "sparsity": float((np.abs(x) < threshold * max_abs).mean()),
        "mean": float(mean),
        "std": float(np.sqrt(m2)),
        "mean_abs": float(np.abs(x).mean()),
        "max_abs": float(max_abs),
        "kurtosis": float(m4 / m2 ** 2 - 3.0) if m2 > 0 else 0.0,
    }


def classify(tokens, special):
    cats = []
    prev_boundary = True
    for i, t in enumerate(tokens):
        body = t[1:] if t[:1] in (" ", "\u0120", "\u2581") else t
        marker = body is not t
        stripped = "".join(ch for ch in t if not (ch.isspace() or ch in "\u0120\u2581\u010a\u00a0"))
        if i in special or (t.startswith("<|") and t.endswith("|>")):
            cat = "special"
        elif not stripped:
            cat = "whitespace"
        elif all(ch.isdigit() or ch in ".," for ch in stripped) and any(ch.isdigit() for ch in stripped):
            cat = "number"
        elif all(not ch.isalnum() for ch in stripped):
            cat = "punctuation"
        elif (marker or prev_boundary) and body.lower() in STOP_WORDS:
            cat = "stop_word"
        elif marker or prev_boundary:
            cat = "word_start"
        else:
            cat = "word_continuation"
        cats.append(cat)
        last = t[-1:] if t else " "
        prev_boundary = (not last.isalnum()) or last in "\u0120\u010a"
    return cats


def analyse(keys, values, attn, tokens, special, layer, n_listed=12):
    """keys, values: [L, H, S, D] float32; attn: [L, H, S, S]."""
    n_layer, n_head, seq, head_dim = keys.shape
    res = {}

    rows = []
    for l in range(n_layer):
        ks, vs = tensor_stats(keys[l]), tensor_stats(values[l])
        corr = float(np.corrcoef(keys[l].ravel(), values[l].ravel())[0, 1])
        row = {"layer": l, "kv_correlation": corr}
        row.update({f"key_{k}": v for k, v in ks.items()})
        row.update({f"value_{k}": v for k, v in vs.items()})
        rows.append(row)
    res["stats"] = pd.DataFrame(rows).set_index("layer")
    res["key_channel_max"] = np.abs(keys).max(axis=2)  # [L, H, D]
    res["value_channel_max"] = np.abs(values).max(axis=2)

    pca_layers = sorted({0, n_layer // 2, n_layer - 1})
    res["pca_layers"] = pca_layers
    res["pca"] = {}
    for l in pca_layers:
        for part, t in (("key", keys), ("value", values)):
            vecs = t[l].transpose(1, 0, 2).reshape(seq, n_head * head_dim)  # [S, H*D]
            p = PCA(n_components=2).fit(vecs)
            res["pca"][(l, part)] = (p.transform(vecs), p.explained_variance_ratio_)

    key_norms = np.linalg.norm(keys, axis=3)  # [L, H, S]
    value_norms = np.linalg.norm(values, axis=3)
    res["key_norms_layer"] = key_norms[layer]
    res["value_norms_layer"] = value_norms[layer]
    a = attn[layer].astype(np.float64)  # [H, S, S]
    plogp = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
    dist = np.arange(seq)[:, None] - np.arange(seq)[None, :]
    flat = a.reshape(n_head, -1)
    unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    res["heads"] = pd.DataFrame({
        "head": np.arange(n_head),
        "entropy": -plogp.sum(axis=2).mean(axis=1),
        "mean_distance": (a * np.clip(dist, 0, None)).sum(axis=2).mean(axis=1),
        "sink_share": a[:, :, 0].mean(axis=1),
    }).set_index("head")
    res["head_similarity"] = unit @ unit.T

    qrows = []
    for g in GROUPINGS:
        for b in BITS:
            for l in range(n_layer):
                for part, t in (("key", keys), ("value", values)):
                    rel, mx = quant_error(t[l], b, g)
                    qrows.append({"grouping": g, "bits": b, "layer": l, "part": part,
                                  "relative_mse": rel, "max_abs_error": mx})
    res["quant"] = pd.DataFrame(qrows)

    tok = pd.DataFrame({
        "position": np.arange(seq),
        "token": tokens,
        "key_magnitude": key_norms.mean(axis=(0, 1)),
        "value_magnitude": value_norms.mean(axis=(0, 1)),
    })
    tok["importance"] = tok["key_magnitude"] + tok["value_magnitude"]
    tok["category"] = classify(tokens, special)
    res["tokens"] = tok
    res["lowest"] = tok.sort_values(["importance", "position"]).head(n_listed)
    res["highest"] = tok.sort_values(["importance", "position"], ascending=[False, True]).head(n_listed)
    return res


# ---------------------------------------------------------------- drawing (matplotlib, seaborn)

def fig_kv_cache_layers(keys, values, tokens, path):
    # imshow, not seaborn: sns.heatmap redraws the whole figure on every call, which makes a
    # 24-panel figure of [S, 768] meshes quadratic in the panel count.
    n_layer, n_head, seq, head_dim = keys.shape
    fig, axes = plt.subplots(n_layer, 2, figsize=(16, 3 * n_layer))
    for l in range(n_layer):
        for j, (name, t) in enumerate((("Keys", keys), ("Values", values))):
            mat = t[l].transpose(1, 0, 2).reshape(seq, n_head * head_dim)
            lim = np.abs(mat).max()
            im = axes[l, j].imshow(mat, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                                   interpolation="nearest")
            fig.colorbar(im, ax=axes[l, j])
            axes[l, j].set_xticks(range(0, n_head * head_dim, head_dim))
            axes[l, j].set_title(f"Layer {l} {name} (tokens x heads*dims)")
            axes[l, j].set_ylabel("Token position")
    axes[-1, 0].set_xlabel("Head * head dim")
    axes[-1, 1].set_xlabel("Head * head dim")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_kv_cache_statistics(res, path):
    st = res["stats"]
    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    panels = [("sparsity", "Sparsity (|x| < 1% of max)"), ("std", "Standard deviation"),
              ("mean_abs", "Mean |x|"), ("max_abs", "Max |x|"), ("kurtosis", "Excess kurtosis")]
    for ax, (col, title) in zip(axes.ravel(), panels):
        df = pd.DataFrame({"layer": st.index, "Keys": st[f"key_{col}"], "Values": st[f"value_{col}"]})
        sns.lineplot(data=df.melt("layer", var_name="part", value_name=col), x="layer", y=col,
                     hue="part", marker="o", ax=ax)
        ax.set_title(title)
    sns.lineplot(x=st.index, y=st["kv_correlation"], marker="o", ax=axes[1, 2])
    axes[1, 2].set_title("Key-value correlation")
    axes[1, 2].set_ylabel("Pearson r")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_kv_value_distribution(keys, values, path):
    fig, axes = plt.subplots(1, 2, figsize=(15, 5))
    for ax, name, t in ((axes[0], "Keys", keys), (axes[1], "Values", values)):
        sns.histplot(t.ravel(), bins=100, ax=ax, log_scale=(False, True))
        ax.set_title(f"Distribution of all {name.lower()} entries")
        ax.set_xlabel("Value")
        ax.set_ylabel("Count (log)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_kv_pca_by_position(res, path):
    layers = res["pca_layers"]
    fig, axes = plt.subplots(2, len(layers), figsize=(6 * len(layers), 10), squeeze=False)
    for j, l in enumerate(layers):
        for i, part in enumerate(("key", "value")):
            coords, ratio = res["pca"][(l, part)]
            ax = axes[i, j]
            sc = ax.scatter(coords[:, 0], coords[:, 1], c=np.arange(len(coords)), cmap="viridis", s=15)
            fig.colorbar(sc, ax=ax, label="Token position")
            ax.set_title(f"Layer {l} {part}s: PCA by position")
            ax.set_xlabel(f"PC1 ({ratio[0]:.1%})")
            ax.set_ylabel(f"PC2 ({ratio[1]:.1%})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_head_specialization(res, layer, path):
    fig, axes = plt.subplots(2, 3, figsize=(20, 11))
    sns.heatmap(res["key_norms_layer"], ax=axes[0, 0], cmap="viridis", cbar_kws={"label": "L2 norm"})
    axes[0, 0].set(title=f"Layer {layer}: key norm per head and token", xlabel="Token position", ylabel="Head")
    sns.heatmap(res["value_norms_layer"], ax=axes[0, 1], cmap="viridis", cbar_kws={"label": "L2 norm"})
    axes[0, 1].set(title=f"Layer {layer}: value norm per head and token", xlabel="Token position", ylabel="Head")
    sns.heatmap(res["head_similarity"], ax=axes[0, 2], cmap="coolwarm", annot=True, fmt=".2f",
                annot_kws={"size": 6}, cbar_kws={"label": "cosine"})
    axes[0, 2].set(title="Head similarity (attention patterns)", xlabel="Head", ylabel="Head")
    heads = res["heads"].reset_index()
    for ax, col, title in ((axes[1, 0], "entropy", "Attention entropy (nats)"),
                           (axes[1, 1], "mean_distance", "Mean attention distance (tokens)"),
                           (axes[1, 2], "sink_share", "Attention on token 0")):
        sns.barplot(data=heads, x="head", y=col, ax=ax, color="steelblue")
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_kv_quantization_error(res, path):
    q = res["quant"]
    mean = q.groupby(["grouping", "bits", "part"], as_index=False)["relative_mse"].mean()
    fig, axes = plt.subplots(2, 2, figsize=(16, 11))
    for j, part in enumerate(("key", "value")):
        sns.lineplot(data=mean[mean.part == part], x="bits", y="relative_mse", hue="grouping",
                     marker="o", ax=axes[0, j])
        axes[0, j].set_yscale("log")
        axes[0, j].set_title(f"{part.capitalize()}s: relative MSE vs bits (mean over layers)")
        pivot = q[(q.part == part) & (q.grouping == "per_token")].pivot(index="layer", columns="bits",
                                                                         values="relative_mse")
        sns.heatmap(pivot, ax=axes[1, j], annot=True, fmt=".1e", cmap="magma",
                    norm=LogNorm(), annot_kws={"size": 7}, cbar_kws={"label": "relative MSE"})
        axes[1, j].set_title(f"{part.capitalize()}s: per-token relative MSE by layer")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_low_importance_tokens(res, path):
    low = res["lowest"].copy()
    low["label"] = [f"{p}: {t!r}" for p, t in zip(low.position, low.token)]
    fig, ax = plt.subplots(figsize=(12, 7))
    sns.barplot(data=low, y="label", x="importance", ax=ax, color="indianred", orient="h")
    ax.set_title("Lowest-importance tokens (key + value magnitude)")
    ax.set_xlabel("Key + value L2 magnitude (mean over layers and heads)")
    ax.set_ylabel("Token")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_token_importance_comparison(res, path):
    both = pd.concat([res["highest"].assign(group="highest"), res["lowest"].assign(group="lowest")])
    both["label"] = [f"{p}: {t!r}" for p, t in zip(both.position, both.token)]
    fig, ax = plt.subplots(figsize=(12, 10))
    sns.barplot(data=both, y="label", x="importance", hue="group", dodge=False, ax=ax, orient="h",
                palette={"highest": "seagreen", "lowest": "indianred"})
    ax.set_title("Highest vs lowest importance tokens")
    ax.set_xlabel("Key + value L2 magnitude")
    ax.set_ylabel("Token")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_token_magnitude_distributions(res, path):
    tok = res["tokens"]
    long = tok.melt(id_vars=["position", "category"], value_vars=["key_magnitude", "value_magnitude"],
                    var_name="part", value_name="magnitude")
    order = [c for c in CATEGORIES if (tok.category == c).any()]
    fig, axes = plt.subplots(1, 2, figsize=(16, 6))
    for ax, part in zip(axes, ("key_magnitude", "value_magnitude")):
        sns.boxplot(data=long[long.part == part], x="category", y="magnitude", order=order, ax=ax)
        sns.stripplot(data=long[long.part == part], x="category", y="magnitude", order=order, ax=ax,
                      color="black", size=2, alpha=0.4)
        ax.set_title(f"{part.replace('_', ' ').capitalize()} by token category")
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_token_magnitudes(res, path):
    tok = res["tokens"]
    fig, ax = plt.subplots(figsize=(15, 6))
    sns.lineplot(data=tok, x="position", y="key_magnitude", label="Key", ax=ax)
    sns.lineplot(data=tok, x="position", y="value_magnitude", label="Value", ax=ax)
    ax.set_title("Token magnitude by position (mean over layers and heads)")
    ax.set_xlabel("Token position")
    ax.set_ylabel("L2 magnitude")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_token_key_value_scatter(res, path):
    tok = res["tokens"]
    fig, ax = plt.subplots(figsize=(12, 9))
    sns.scatterplot(data=tok, x="key_magnitude", y="value_magnitude", hue="category", ax=ax, s=30)
    for _, r in pd.concat([res["highest"].head(5), res["lowest"].head(5)]).iterrows():
        ax.annotate(repr(r.token), (r.key_magnitude, r.value_magnitude), fontsize=7)
    ax.set_title("Tokens by key and value magnitude")
    ax.set_xlabel("Key L2 magnitude")
    ax.set_ylabel("Value L2 magnitude")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_attention_patterns(attn, tokens, tick_labels, path):
    """Every layer and head with token tick labels, laid out as the notebook does. Drawn with
    imshow rather than one sns.heatmap per panel: seaborn redraws the whole figure on each
    call, so 144 panels cost ~10,000 panel draws (hours at 512 tokens)."""
    n_layer, n_head, seq = attn.shape[:3]
    step = 1 if tick_labels == "all" else max(1, -(-seq // 16))
    ticks = list(range(0, seq, step))
    labels = [tokens[i] for i in ticks]
    fig, axes = plt.subplots(n_layer, n_head, figsize=(20, 20), squeeze=False)
    fig.suptitle("Attention patterns", fontsize=16, y=0.95)
    for l in range(n_layer):
        for h in range(n_head):
            ax = axes[l, h]
            ax.imshow(attn[l, h], cmap="viridis", interpolation="nearest")
            ax.set_xticks(ticks, labels, rotation=45, ha="right")
            ax.set_yticks(ticks, labels)
            if h == 0:
                ax.set_ylabel(f"Layer {l}")
            if l == 0:
                ax.set_title(f"Head {h}")
    fig.tight_layout()
    fig.subplots_adjust(top=0.92)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_kv_cache_details(keys, values, tokens, layer, head, path):
    fig, axes = plt.subplots(1, 2, figsize=(15, 5))
    head_dim = keys.shape[-1]
    for ax, name, t in ((axes[0], "Key", keys), (axes[1], "Value", values)):
        sns.heatmap(t[layer, head], xticklabels=range(head_dim), yticklabels=tokens, cmap="viridis", ax=ax)
        ax.set_title(f"{name} States (Layer {layer}, Head {head})")
        ax.set_xlabel("Embedding Dimension")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def metrics_json(res, n_tokens, layer, path):
    q = res["quant"]
    out = {
        "tokens": n_tokens,
        "layer_stats": res["stats"].reset_index().to_dict(orient="records"),
        "quantization": q.to_dict(orient="records"),
        "pca_explained_variance_ratio": {f"{l}.{part}": ratio.tolist()
                                         for (l, part), (_, ratio) in res["pca"].items()},
        "head_specialization": {"layer": layer, **res["heads"].to_dict(orient="list")},
        "lowest_importance": res["lowest"][["position", "token", "importance"]].to_dict(orient="records"),
        "highest_importance": res["highest"][["position", "token", "importance"]].to_dict(orient="records"),
        "category_counts": res["tokens"].category.value_counts().to_dict(),
    }
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


def main():
    args = parse_args()
    if args.tokens < 2:
        raise SystemExit("--tokens must be at least 2")

    global np, pd, plt, sns, PCA, LogNorm
    import numpy as np
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    prompt = prompt_with_tokens(tokenizer, args.tokens)
    if args.prompt_out:
        with open(args.prompt_out, "w", encoding="utf-8") as f:
            f.write(prompt)
    if args.prompt_only:
        return

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns
    from matplotlib.colors import LogNorm
    from sklearn.decomposition import PCA

    model = GPT2LMHeadModel.from_pretrained(args.model, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    input_ids = enc["input_ids"]
    assert input_ids.shape[1] == args.tokens, input_ids.shape
    tokens = tokenizer.convert_ids_to_tokens(input_ids[0])
    special = {i for i, t in enumerate(input_ids[0].tolist()) if t in set(tokenizer.all_special_ids)}
    t_loaded = time.perf_counter()

    with torch.no_grad():
        out = model(input_ids, output_attentions=True, use_cache=True)
    cache = out.past_key_values
    n_layer = model.config.n_layer
    # Cache layers hold K and V as [batch, heads, seq, head_dim].
    keys = np.stack([cache.layers[l].keys[0].numpy() for l in range(n_layer)])
    values = np.stack([cache.layers[l].values[0].numpy() for l in range(n_layer)])
    attn = np.stack([a[0].numpy() for a in out.attentions])  # [L, H, S, S]
    t_forward = time.perf_counter()

    layer = n_layer // 2
    res = analyse(keys, values, attn, tokens, special, layer)
    t_analysis = time.perf_counter()

    os.makedirs(args.out, exist_ok=True)
    figures = [
        ("kv_cache_layers.png", lambda p: fig_kv_cache_layers(keys, values, tokens, p)),
        ("kv_cache_statistics.png", lambda p: fig_kv_cache_statistics(res, p)),
        ("kv_value_distribution.png", lambda p: fig_kv_value_distribution(keys, values, p)),
        ("kv_pca_by_position.png", lambda p: fig_kv_pca_by_position(res, p)),
        ("head_specialization.png", lambda p: fig_head_specialization(res, layer, p)),
        ("kv_quantization_error.png", lambda p: fig_kv_quantization_error(res, p)),
        ("low_importance_tokens.png", lambda p: fig_low_importance_tokens(res, p)),
        ("token_importance_comparison.png", lambda p: fig_token_importance_comparison(res, p)),
        ("token_magnitude_distributions.png", lambda p: fig_token_magnitude_distributions(res, p)),
        ("token_magnitudes.png", lambda p: fig_token_magnitudes(res, p)),
        ("token_key_value_scatter.png", lambda p: fig_token_key_value_scatter(res, p)),
        ("attention_patterns.png", lambda p: fig_attention_patterns(attn, tokens, args.tick_labels, p)),
        ("kv_cache_details.png", lambda p: fig_kv_cache_details(keys, values, tokens, layer, 0, p)),
    ]
    figure_seconds = {}
    for name, draw in figures:
        t0 = time.perf_counter()
        draw(os.path.join(args.out, name))
        figure_seconds[name] = round(time.perf_counter() - t0, 3)
    metrics_json(res, args.tokens, layer, os.path.join(args.out, "metrics.json"))
    t_end = time.perf_counter()

    print(json.dumps({
        "tokens": args.tokens,
        "threads": args.threads,
        "load": round(t_loaded - T_START, 3),
        "forward": round(t_forward - t_loaded, 3),
        "analysis": round(t_analysis - t_forward, 3),
        "drawing": round(t_end - t_analysis, 3),
        "total": round(t_end - T_START, 3),
        "figures": figure_seconds,
    }))


if __name__ == "__main__":
    sys.exit(main())
