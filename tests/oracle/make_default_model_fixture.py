#!/usr/bin/env python3
"""Expected outputs of the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) computed by
Hugging Face transformers, written to tests/fixtures/default_model/.

Run from anywhere:  python3 tests/oracle/make_default_model_fixture.py
It needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch_default_model.sh puts it
there). transformers dequantizes every tensor to float32 and reorders the rows of the Q and K
projections from llama.cpp's order back to Hugging Face's (see README.md, "Key layout").
"""

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from gguf import GGUFReader, dequantize
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "models"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT_DIR = REPO / "tests" / "fixtures" / "default_model"

PROMPT = "The key-value cache of a transformer stores"
GREEDY_NEW_TOKENS = 30
LAYERS_KV = (0, 14, 29)
LAYERS_PATTERN = (0, 29)
TOP_K = 10
N_PROBE = 256
PROBE_SEED = 0


def forward(model, ids):
    """One prefill over `ids`; returns captured tensors (batch dim removed) and logits."""
    attn0 = model.model.layers[0].self_attn
    pre_rope = {}
    hooks = []
    for l in LAYERS_KV:
        def hook(module, inputs, output, l=l):
            # [1, seq, kv_heads * head_dim] -> [kv_heads, seq, head_dim]
            pre_rope[l] = output[0].reshape(len(ids), -1, attn0.head_dim).transpose(0, 1)

        hooks.append(model.model.layers[l].self_attn.k_proj.register_forward_hook(hook))
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, use_cache=True)
    for h in hooks:
        h.remove()
    tensors = {}
    for l in LAYERS_KV:
        tensors[f"blocks.{l}.attn.k"] = out.past_key_values.layers[l].keys[0]
        tensors[f"blocks.{l}.attn.k_pre_rope"] = pre_rope[l]
        tensors[f"blocks.{l}.attn.v"] = out.past_key_values.layers[l].values[0]
    for l in LAYERS_PATTERN:
        tensors[f"blocks.{l}.attn.pattern"] = out.attentions[l][0]
    tensors = {k: v.detach().float().contiguous().clone() for k, v in tensors.items()}
    return tensors, out.logits[0].float()


def greedy(model, tok, ids):
    """GREEDY_NEW_TOKENS greedy ids with the cache; stopping at EOS is off so the count is
    fixed. Returns the ids and each step's top-1 minus top-2 logit."""
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        gen = model.generate(torch.tensor([ids]), do_sample=False,
                             max_new_tokens=GREEDY_NEW_TOKENS, min_new_tokens=0,
                             eos_token_id=None, pad_token_id=tok.pad_token_id or 0,
                             return_dict_in_generate=True, output_logits=True)
    new_ids = gen.sequences[0, len(ids):].tolist()
    assert len(new_ids) == GREEDY_NEW_TOKENS, new_ids
    step = torch.cat([s.float() for s in gen.logits])
    assert step.argmax(-1).tolist() == new_ids
    with torch.no_grad():
        full = model(gen.sequences, use_cache=False).logits[0, len(ids) - 1:-1].float()
    assert full.argmax(-1).tolist() == new_ids, "cached and uncached greedy disagree"
    top = torch.topk(step, 2, dim=-1).values
    return new_ids, (top[:, 0] - top[:, 1]).tolist()


# ---------------------------------------------------------------------------------------------
# Independent check: layer 0's keys from the GGUF tensors themselves, in numpy.


def gguf_tensors(path, names):
    reader = GGUFReader(path)
    meta = {}
    for key in ("llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon",
                "llama.attention.head_count", "llama.attention.head_count_kv"):
        field = reader.fields[key]
        meta[key] = field.parts[field.data[0]][0].item()
    out = {t.name: dequantize(t.data, t.tensor_type).astype(np.float64)
           for t in reader.tensors if t.name in names}
    return out, meta


def check_layer0_from_gguf(ids, tensors, path):
    w, meta = gguf_tensors(path, {"token_embd.weight", "blk.0.attn_norm.weight",
                                  "blk.0.attn_k.weight"})
    n_kv = meta["llama.attention.head_count_kv"]
    x = w["token_embd.weight"][ids]  # [seq, d_model]
    eps = meta["llama.attention.layer_norm_rms_epsilon"]
    x = x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    x = x * w["blk.0.attn_norm.weight"]
    k = x @ w["blk.0.attn_k.weight"].T  # [seq, kv_heads * head_dim], llama.cpp row order
    head_dim = k.shape[1] // n_kv
    k = k.reshape(len(ids), n_kv, head_dim).transpose(1, 0, 2)  # [kv_heads, seq, head_dim]
    # llama.cpp row 2i+s of a head is Hugging Face row s*head_dim/2 + i.
    half = head_dim // 2
    k_hf = np.concatenate([k[..., 0::2], k[..., 1::2]], -1)
    err_pre = np.abs(k_hf - tensors["blocks.0.attn.k_pre_rope"].numpy()).max()
    # RoPE, Hugging Face rotate-half convention, pairs (i, i + head_dim/2).
    inv = 1.0 / meta["llama.rope.freq_base"] ** (np.arange(0, head_dim, 2) / head_dim)
    ang = np.outer(np.arange(len(ids)), inv)
    cos, sin = np.cos(ang), np.sin(ang)
    a, b = k_hf[..., :half], k_hf[..., half:]
    k_rot = np.concatenate([a * cos - b * sin, b * cos + a * sin], -1)
    err_rope = np.abs(k_rot - tensors["blocks.0.attn.k"].numpy()).max()
    # The same rotation on llama.cpp's adjacent pairs (2i, 2i+1) gives the same numbers,
    # permuted: what an engine that keeps the GGUF row order stores.
    ka, kb = k[..., 0::2], k[..., 1::2]
    k_cpp = np.stack([ka * cos - kb * sin, kb * cos + ka * sin], -1).reshape(k.shape)
    err_cpp = np.abs(np.concatenate([k_cpp[..., 0::2], k_cpp[..., 1::2]], -1) -
                     tensors["blocks.0.attn.k"].numpy()).max()
    return float(err_pre), float(err_rope), float(err_cpp)


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    path = MODEL_DIR / MODEL_FILE
    if not path.exists():
        raise SystemExit(f"{path.relative_to(REPO)} is missing; run scripts/fetch_default_model.sh")
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=MODEL_FILE,
                                                 dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    ids = tok(PROMPT)["input_ids"]
    adds_bos = tok.bos_token_id is not None and ids[0] == tok.bos_token_id
    assert tok(PROMPT, add_special_tokens=False)["input_ids"] == ids or adds_bos

    tensors, logits = forward(model, ids)
    new_ids, gaps = greedy(model, tok, ids)

    vocab = logits.shape[1]
    probe = np.sort(np.random.default_rng(PROBE_SEED).choice(vocab, N_PROBE, replace=False))
    top = torch.topk(logits, TOP_K, dim=-1)
    positions = []
    for p in range(len(ids)):
        positions.append(dict(
            top_ids=top.indices[p].tolist(),
            top_logits=top.values[p].tolist(),
            probe_logits=logits[p, torch.from_numpy(probe)].tolist(),
            min_logit=float(logits[p].min()), max_logit=float(logits[p].max())))

    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)
    save_file(tensors, OUT_DIR / "expected.safetensors")
    back = load_numpy(OUT_DIR / "expected.safetensors")
    assert back.keys() == tensors.keys()
    for k, v in tensors.items():
        assert np.array_equal(back[k], v.numpy()), k

    err_pre, err_rope, err_cpp = check_layer0_from_gguf(ids, tensors, path)
    assert max(err_pre, err_rope, err_cpp) < 1e-4, (err_pre, err_rope, err_cpp)

    cfg = model.config
    doc = dict(
        model=MODEL_FILE,
        transformers_version=__import__("transformers").__version__,
        prompt=PROMPT,
        chat_template=False,
        adds_bos=bool(adds_bos),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        vocab_size=vocab,
        num_layers=cfg.num_hidden_layers,
        num_heads=cfg.num_attention_heads,
        num_kv_heads=cfg.num_key_value_heads,
        head_dim=cfg.head_dim,
        key_layout="huggingface-rotate-half",
        input_ids=ids,
        input_tokens=tok.convert_ids_to_tokens(ids),
        greedy_new_tokens=GREEDY_NEW_TOKENS,
        greedy_ids=new_ids,
        greedy_text=tok.decode(new_ids, skip_special_tokens=False),
        greedy_top1_gaps=gaps,
        min_top1_gap=min(gaps),
        layers_kv=list(LAYERS_KV),
        layers_pattern=list(LAYERS_PATTERN),
        expected_file="expected.safetensors",
        top_k=TOP_K,
        probe_seed=PROBE_SEED,
        probe_ids=probe.tolist(),
        logit_min=float(logits.min()),
        logit_max=float(logits.max()),
        logit_range=float(logits.max() - logits.min()),
        positions=positions,
    )
    (OUT_DIR / "expected.json").write_text(json.dumps(doc, ensure_ascii=False) + "\n")
    size = sum(f.stat().st_size for f in OUT_DIR.iterdir())
    assert size < 1_100_000, size
    print(f"ids {ids} (adds BOS: {adds_bos}); greedy {tok.decode(new_ids)!r}")
    print(f"min greedy top-1 gap {min(gaps):.4f}; logit range {doc['logit_range']:.3f}; "
          f"{size} bytes")
    print(f"independent check layer 0 from GGUF: k_pre_rope {err_pre:.2e}, k {err_rope:.2e}, "
          f"k via llama.cpp pairs {err_cpp:.2e}")


if __name__ == "__main__":
    main()
