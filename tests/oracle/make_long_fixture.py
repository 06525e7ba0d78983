#!/usr/bin/env python3
"""Builds tests/fixtures/models/llama3-long: a tiny random-weight Llama with Llama 3 RoPE
scaling (original context 1,024, scaled to 8,192) and what transformers computes for a prompt
of 4,500 token ids, longer than the original context: the ground truth for kvscope's long
prompts (run in chunks, statistics streamed).

  bash tests/oracle/make_venv_debian_torch.sh && build/oracle-venv/bin/python tests/oracle/make_long_fixture.py

Expected tensors are kept at every 16th position and at the last 16 (the whole thing would be
megabytes): keys after and before RoPE and values of every layer, logits (every 128th and the
last 16), and each head's
attention entropy and attention received (summed over queries), computed here from
transformers' full attention maps. The tokenizer files are those of the llama3-scaled fixture.
Deterministic: fixed seeds, CPU, float32, eager attention.
"""

import json
import shutil
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "tests" / "fixtures" / "models" / "llama3-scaled"
OUT = REPO / "tests" / "fixtures" / "models" / "llama3-long"
SEQ = 4500
STRIDE = 16
SEED = 11


def main():
    vocab = json.loads((SRC / "config.json").read_text())["vocab_size"]
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
        num_hidden_layers=2, intermediate_size=48, head_dim=8, rope_theta=500000.0,
        rms_norm_eps=1e-6, tie_word_embeddings=True, max_position_embeddings=8192,
        bos_token_id=510, eos_token_id=511, initializer_range=0.3,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 1024})
    config._attn_implementation = "eager"
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config)
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                scale = 0.5 if any(s in name for s in ("q_proj", "k_proj")) else 1.0
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3 * scale)
            else:
                p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.1)
    model.eval()

    ids = [510] + torch.randint(0, 500, (SEQ - 1,), generator=gen).tolist()
    pre_rope = {}
    hooks = []
    for l, layer in enumerate(model.model.layers):
        def hook(module, inputs, output, l=l):
            pre_rope[l] = output[0].reshape(SEQ, -1, config.head_dim).transpose(0, 1)
        hooks.append(layer.self_attn.k_proj.register_forward_hook(hook))
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, use_cache=True)
    for h in hooks:
        h.remove()

    keep = sorted(set(range(0, SEQ, STRIDE)) | set(range(SEQ - 16, SEQ)))
    idx = torch.tensor(keep)
    cache = out.past_key_values
    tensors = {}
    for l in range(config.num_hidden_layers):
        if hasattr(cache, "layers"):  # transformers 4.56 and later
            k, v = cache.layers[l].keys[0], cache.layers[l].values[0]
        elif hasattr(cache, "key_cache"):
            k, v = cache.key_cache[l][0], cache.value_cache[l][0]
        else:  # legacy tuples
            k, v = cache[l][0][0], cache[l][1][0]
        tensors[f"blocks.{l}.attn.k"] = k[:, idx]
        tensors[f"blocks.{l}.attn.k_pre_rope"] = pre_rope[l][:, idx]
        tensors[f"blocks.{l}.attn.v"] = v[:, idx]
        p = out.attentions[l][0].double()  # [H, S, S]
        ent = -(p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(-1)  # [H, S]
        tensors[f"blocks.{l}.attn.entropy"] = ent[:, idx]
        tensors[f"blocks.{l}.attn.received"] = p.sum(1)[:, idx]
    logit_keep = sorted(set(range(0, SEQ, 8 * STRIDE)) | set(range(SEQ - 16, SEQ)))
    tensors["logits"] = out.logits[0][torch.tensor(logit_keep)]
    tensors = {k: t.detach().float().contiguous().clone() for k, t in tensors.items()}

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    model.save_pretrained(OUT, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(SRC / f, OUT / f)
    for f in OUT.glob("generation_config.json"):
        f.unlink()
    save_file(tensors, str(OUT / "expected_long.safetensors"))
    (OUT / "expected_long.json").write_text(json.dumps({
        "made_with": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "input_ids": ids, "positions": keep, "logit_positions": logit_keep}) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}: {SEQ} tokens, {len(keep)} positions kept")


if __name__ == "__main__":
    main()
