#!/usr/bin/env python3
"""Ground truth for `kvscope compress`: the compression lab's protocol computed with Hugging Face
transformers, and the gguf package's block quantizers on test vectors.

Writes tests/fixtures/compress/:
  <model>.json      per tiny model (and the default model with --default-model): token ids, the
                    reference perplexity and, per method and budget, kl_mean, top1_agree, ppl,
                    delta_p_mean, delta_p_rms
  gguf_quants.json  input vectors, the packed blocks gguf.quants.quantize makes of them (hex)
                    and what gguf.quants.dequantize makes of those

The protocol (README "kvscope compress"): window k of the text's ids is
ids[k(C+S+1), (k+1)(C+S+1)). The model prefills window[0:C] (eager attention, so the prefill's
attention probabilities are at hand), the cache is edited, then window[C:C+S] runs in one chunk
at positions C..C+S-1 on the edited cache. Quantizers replace the cache's K/V tensors by their
dequantized values; an eviction adds -inf to the evicted keys' scores in every continuation
query of that layer and KV head (each layer's attention gets its own additive mask), so the
evicted entries get probability 0 and no position moves. The reference is one forward over
window[0:C+S]. Metrics in float64 numpy, natural logs, full vocabulary.

Everything here is written from the method definitions in the README, not from kvscope's code.

Run from the repository root, in the environment of requirements.txt (or of
make_venv_debian_torch.sh):  python3 tests/oracle/make_compress_fixtures.py [--default-model]
"""

import argparse
import importlib.metadata
import json
from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "compress"
DEFAULT_GGUF = REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"

TEXT = (
    "The lighthouse keeper climbed the stairs every evening at seven. He lit the lamp, wiped the "
    "glass, and wrote the weather in a small book. On the first night of winter the wind was so "
    "strong that the door would not stay shut. Ships passed far out at sea. Some were heavy with "
    "grain, some with coal, and one, he was sure, carried nothing but letters. A transformer "
    "reads a sentence one token at a time. Each layer writes a key and a value for every token "
    "it has seen. The keys decide where attention looks; the values decide what it brings back. "
    "The garden behind the school had three apple trees, a bench, and a pond with four slow "
    "fish. Children ran around the pond at noon. The teacher called them in at one. ") * 4

SINKS = 4
METHODS = [  # (name, budgets or None)
    ("window", [0.5, 0.75]),
    ("streaming_llm", [0.5, 0.75]),
    ("knorm", [0.5]),
    ("keydiff", [0.5]),
    ("h2o", [0.5]),
    ("tova", [0.5]),
    ("snapkv", [0.25]),
    ("int4-token", None),
    ("int4-channel", None),
    ("kivi2", None),
    ("streaming_llm+int4-token", [0.5]),
]


# ---------------------------------------------------------------------------------------------
# Quantizers ([n, D] float32 rows of one layer and KV head, in position order).

def f16(x):
    return np.float32(np.float16(x))


def int_group(x, bits):
    """Asymmetric min-max at `bits` over all of x; fp32 codes, fp16 scale and minimum."""
    x = x.astype(np.float32)
    lo, hi = np.float32(x.min()), np.float32(x.max())
    top = np.float32(2 ** bits - 1)
    s = np.float32((hi - lo) / top)
    if s > 0:
        q = np.clip(np.rint((x - lo) / s), 0, top).astype(np.float32)
    else:
        q = np.zeros_like(x)
    return (f16(lo) + q * f16(s)).astype(np.float32)


def int_token(rows, bits):
    return np.stack([int_group(r, bits) for r in rows])


def int_channel(rows, bits):
    return np.stack([int_group(c, bits) for c in rows.T]).T


def kivi_keys(rows, bits):
    out = rows.copy()
    m = max(0, len(rows) - 32)
    for i0 in range(0, m, 32):
        out[i0:min(m, i0 + 32)] = int_channel(rows[i0:min(m, i0 + 32)], bits)
    return out


def kivi_values(rows, bits):
    out = rows.copy()
    m = max(0, len(rows) - 32)
    D = rows.shape[1]
    for i in range(m):
        for d0 in range(0, D, 32):
            out[i, d0:d0 + 32] = int_group(rows[i, d0:d0 + 32], bits)
    return out


def quantizers(name):
    """(keys, values) functions for a quantizer name, or None."""
    if name.startswith("kivi"):
        b = int(name[4:])
        return (lambda r: kivi_keys(r, b), lambda r: kivi_values(r, b))
    if name.startswith("int") and name.endswith("-token"):
        b = int(name[3:-6])
        return (lambda r: int_token(r, b),) * 2
    if name.startswith("int") and name.endswith("-channel"):
        b = int(name[3:-8])
        return (lambda r: int_channel(r, b),) * 2
    return None


# ---------------------------------------------------------------------------------------------
# Eviction: the kept positions of one layer and KV head.

def keep_highest(score, n):
    order = sorted(range(len(score)), key=lambda t: (-score[t], t))
    return sorted(order[:n])


def keep_set(rule, n_keep, C, keys, attn, g, group):
    """keys [C, D] of this KV head (after RoPE); attn [H, C, C] prefill attention of the layer."""
    if rule == "window":
        return list(range(C - n_keep, C))
    if rule == "streaming_llm":
        s = min(SINKS, n_keep)
        return list(range(s)) + list(range(max(s, C - (n_keep - s)), C))
    k = keys.astype(np.float64)
    if rule == "knorm":
        return keep_highest(list(-np.linalg.norm(k, axis=1)), n_keep)
    if rule == "keydiff":
        n = np.linalg.norm(k, axis=1)
        anchor = (k / n[:, None]).mean(axis=0)
        cos = k @ anchor / (n * np.linalg.norm(anchor))
        return keep_highest(list(-cos), n_keep)
    a = attn.astype(np.float64)
    heads = range(g * group, (g + 1) * group)
    if rule == "h2o":
        recent = n_keep // 2
        received = sum(a[h].sum(axis=0) for h in heads)[: C - recent]
        return keep_highest(list(received), n_keep - recent) + list(range(C - recent, C))
    if rule == "tova":
        return keep_highest(list(a[:, C - 1, :].mean(axis=0)), n_keep)
    if rule == "snapkv":
        W = 32
        always = min(W, n_keep)
        n_scored = max(0, C - W)
        pooled = np.zeros(n_scored)
        for h in heads:
            raw = a[h, C - min(W, C):, :n_scored].sum(axis=0)
            padded = np.concatenate([np.zeros(2), raw, np.zeros(2)])
            pooled += np.array([padded[j:j + 5].sum() / 5 for j in range(n_scored)]) / group
        return keep_highest(list(pooled), n_keep - always) + list(range(C - always, C))
    raise ValueError(rule)


# ---------------------------------------------------------------------------------------------

def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def legacy(pkv):
    return pkv.to_legacy_cache() if hasattr(pkv, "to_legacy_cache") else pkv


def attention_modules(model):
    if hasattr(model, "transformer"):  # GPT-2
        return [b.attn for b in model.transformer.h]
    return [layer.self_attn for layer in model.model.layers]


def run_method(model, cfg, win, C, S, name, n_keep, prefill):
    pkv, attns = prefill
    L = len(pkv)
    H = cfg.num_attention_heads
    G = getattr(cfg, "num_key_value_heads", None) or H
    group = H // G
    parts = name.split("+")
    rule = parts[0] if quantizers(parts[0]) is None else None
    quant = next((quantizers(p) for p in parts if quantizers(p) is not None), None)
    edited = []
    masks = []
    for l in range(L):
        k, v = pkv[l][0].clone(), pkv[l][1].clone()  # [1, G, C, D]
        mask = torch.zeros(1, H, S, C + S)
        for i in range(S):
            mask[0, :, i, C + i + 1:] = torch.finfo(torch.float32).min
        for g in range(G):
            keys = k[0, g].numpy()
            kept = list(range(C)) if rule is None else keep_set(
                rule, n_keep, C, keys, attns[l][0].numpy(), g, group)
            for t in sorted(set(range(C)) - set(kept)):
                mask[0, g * group:(g + 1) * group, :, t] = torch.finfo(torch.float32).min
            if quant is not None:
                k[0, g, kept] = torch.from_numpy(quant[0](k[0, g, kept].numpy()))
                v[0, g, kept] = torch.from_numpy(quant[1](v[0, g, kept].numpy()))
        edited.append((k, v))
        masks.append(mask)
    mods = attention_modules(model)
    originals = [m.forward for m in mods]
    try:
        for m, mask, orig in zip(mods, masks, originals):
            def fwd(*a, _orig=orig, _mask=mask, **kw):
                kw["attention_mask"] = _mask
                return _orig(*a, **kw)
            m.forward = fwd
        cache = tuple(edited) if hasattr(model, "transformer") else DynamicCache.from_legacy_cache(
            tuple(edited))
        ids = torch.tensor([win[C:C + S]])
        with torch.no_grad():
            out = model(ids, past_key_values=cache, position_ids=torch.arange(C, C + S)[None],
                        use_cache=True)
    finally:
        for m, orig in zip(mods, originals):
            m.forward = orig
    return out.logits[0].numpy()


def score(ref_logits, logits, targets):
    lr, lp = log_softmax(ref_logits), log_softmax(logits)
    pr = np.exp(lr)
    kl = np.maximum((pr * (lr - lp)).sum(axis=-1), 0)
    top1 = ref_logits.argmax(axis=-1) == logits.argmax(axis=-1)
    nll_ref = -lr[np.arange(len(targets)), targets]
    nll = -lp[np.arange(len(targets)), targets]
    dp = np.exp(-nll) - np.exp(-nll_ref)
    return kl, top1, nll_ref, nll, dp


def model_fixture(model, tok_ids, name, C, S, K, methods=METHODS):
    cfg = model.config
    rows = {}
    ref_nll = []
    for w in range(K):
        win = tok_ids[w * (C + S + 1):(w + 1) * (C + S + 1)]
        with torch.no_grad():
            full = model(torch.tensor([win[:C + S]])).logits[0, C:C + S].numpy()
            pre = model(torch.tensor([win[:C]]), use_cache=True, output_attentions=True)
        prefill = (legacy(pre.past_key_values), pre.attentions)
        targets = np.array(win[C + 1:C + S + 1])
        ref_nll.extend(score(full, full, targets)[2])
        for mname, budgets in methods:
            for b in (budgets or [None]):
                n_keep = C if b is None else int(np.floor(C * (1 - b) + 1e-9))
                logits = run_method(model, cfg, win, C, S, mname, n_keep, prefill)
                kl, top1, nll_ref, nll, dp = score(full, logits, targets)
                r = rows.setdefault((mname, b), {"kl": [], "top1": [], "nll_ref": [], "nll": [],
                                                 "dp": [], "n_keep": n_keep})
                for key, val in zip(("kl", "top1", "nll_ref", "nll", "dp"),
                                    (kl, top1, nll_ref, nll, dp)):
                    r[key].extend(val.tolist())
    results = []
    for (mname, b), r in rows.items():
        results.append({
            "method": mname, "budget": b, "n_keep": r["n_keep"],
            "kl_mean": float(np.mean(r["kl"])),
            "kl_max": float(np.max(r["kl"])),
            "top1_agree": float(np.mean(r["top1"])),
            "ppl": float(np.exp(np.mean(r["nll"]))),
            "ppl_ratio": float(np.exp(np.mean(r["nll"]) - np.mean(r["nll_ref"]))),
            "delta_p_mean": float(np.mean(r["dp"])),
            "delta_p_rms": float(np.sqrt(np.mean(np.square(r["dp"])))),
        })
    return {"model": name, "context": C, "continuation": S, "windows": K, "sinks": SINKS,
            "ids": [int(i) for i in tok_ids[:K * (C + S + 1)]],
            "reference_ppl": float(np.exp(np.mean(ref_nll))),
            "transformers_version": __import__("transformers").__version__,
            "torch_version": torch.__version__,
            "results": results}


def gguf_fixture():
    rng = np.random.default_rng(7)
    blocks = [
        rng.normal(0, 1, 32), rng.normal(0, 0.01, 32), rng.normal(3, 0.5, 32),
        rng.normal(-2, 4, 32), rng.uniform(-1, 1, 32) * 100, np.zeros(32), np.full(32, 0.75),
        np.full(32, -3.0), np.eye(1, 32, 5)[0] * -7.25, np.linspace(-1, 1, 32),
        # Values on the half steps of a q4/q8 grid, and ties of the largest magnitude.
        np.array([(i - 16) * 0.5 for i in range(32)]), np.array([1.0, -1.0] * 16),
        rng.normal(0, 1e-4, 32), rng.normal(0, 1, 32) * np.array([1] * 31 + [1000]),
        rng.normal(0, 8000, 32),
    ]
    x = np.concatenate(blocks).astype(np.float32)
    out = {"input": [float(v) for v in x], "formats": {}}
    for name, qt in [("q8_0", GGMLQuantizationType.Q8_0), ("q5_1", GGMLQuantizationType.Q5_1),
                     ("q5_0", GGMLQuantizationType.Q5_0), ("q4_1", GGMLQuantizationType.Q4_1),
                     ("q4_0", GGMLQuantizationType.Q4_0)]:
        packed = quantize(x.reshape(1, -1), qt)
        back = dequantize(packed, qt).reshape(-1).astype(np.float32)
        out["formats"][name] = {"packed_hex": packed.tobytes().hex(),
                                "dequantized": [float(v) for v in back]}
    # fp16 rounding (numpy's astype(float16)) on awkward values.
    f = np.array([0.0, -0.0, 1.0, 65504.0, 65519.0, 65520.0, 1e-8, 2.98e-8, 5.96e-8, 6.1e-5,
                  6.103515625e-05, 1.0009765625, 1.00048828125, 1.00146484375, -3.14159, 1e10,
                  2 ** -25, 2 ** -25 * 1.0000001, 2 ** -24 * 1.5, 2 ** -24 * 2.5],
                 dtype=np.float32)
    out["fp16"] = {"input": [float(v) for v in f],
                   "bits": [int(b) for b in f.astype(np.float16).view(np.uint16)]}
    out["gguf_version"] = importlib.metadata.version("gguf")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--default-model", action="store_true",
                    help="also the default model (models/SmolLM2-135M-Instruct.Q4_1.gguf)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "gguf_quants.json").write_text(json.dumps(gguf_fixture()) + "\n")
    for name in ["llama-gqa", "gpt2-a", "qwen2"]:
        d = REPO / "tests" / "fixtures" / "models" / name
        model = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager",
                                                     torch_dtype=torch.float32).eval()
        ids = AutoTokenizer.from_pretrained(d)(TEXT)["input_ids"]
        fx = model_fixture(model, ids, name, 48, 8, 2)
        (OUT / f"{name}.json").write_text(json.dumps(fx, indent=1) + "\n")
        print(name, "reference ppl", round(fx["reference_ppl"], 3),
              [(r["method"], r["budget"], round(r["kl_mean"], 5)) for r in fx["results"]])
    if args.default_model:
        model = AutoModelForCausalLM.from_pretrained(
            DEFAULT_GGUF.parent, gguf_file=DEFAULT_GGUF.name, torch_dtype=torch.float32,
            attn_implementation="eager").eval()
        # The file has no output.weight: the LM head is the token embedding. transformers 4.46
        # leaves lm_head freshly initialised when loading this GGUF, so tie it here.
        model.lm_head.weight = model.model.embed_tokens.weight
        # Check this transformers loads the file as the committed default-model fixture saw it.
        ex = json.loads((REPO / "tests" / "fixtures" / "default_model" / "expected.json").read_text())
        with torch.no_grad():
            lg = model(torch.tensor([ex["input_ids"]])).logits[0].numpy()
        for pos, p in zip(range(len(ex["input_ids"])), ex["positions"]):
            err = np.abs(lg[pos, p["top_ids"]] - np.array(p["top_logits"])).max()
            assert err < 5e-4, (pos, err)
        tok = AutoTokenizer.from_pretrained(DEFAULT_GGUF.parent, gguf_file=DEFAULT_GGUF.name)
        ids = tok(TEXT, add_special_tokens=False)["input_ids"]
        methods = [("window", [0.5]), ("streaming_llm", [0.5]), ("knorm", [0.5]),
                   ("int4-token", None), ("kivi2", None)]
        fx = model_fixture(model, ids, "SmolLM2-135M-Instruct.Q4_1", 96, 16, 1, methods)
        (OUT / "default_model.json").write_text(json.dumps(fx, indent=1) + "\n")
        print("default model", [(r["method"], r["budget"], round(r["kl_mean"], 5))
                                for r in fx["results"]])


if __name__ == "__main__":
    main()
