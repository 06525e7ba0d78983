#!/usr/bin/env python3
"""Tiny random-weight fixtures for the families with sliding windows and QK-norm: gemma3_text,
qwen3 and mistral with a window, under tests/fixtures/models/ in the layout of
make_model_fixtures.py (whose tokenizers and helpers this script reuses), checked by
tests/unit/oracle_test.cpp like every other folder there.

The transformers of make_venv_debian_torch.sh (4.46) predates Gemma 3 and Qwen3; these fixtures
were made with the versions written into each expected.json ("transformers_version", and
"torch_version"), in a plain virtual environment:
    python3 -m venv build/oracle-venv-new
    build/oracle-venv-new/bin/pip install torch transformers tokenizers safetensors numpy
    build/oracle-venv-new/bin/python tests/oracle/make_window_model_fixtures.py

What each fixture exercises:
- gemma3-tiny: window 8 with prompts longer than 8, both layer kinds (layer_types), head_dim 24
  while hidden/heads is 16, query_pre_attn_scalar 20 (not head_dim), different RoPE bases for
  sliding and full layers and linear scaling on the full ones, the four sandwich norms with
  random (1 + w) gains, q/k norms, GeGLU, a tied head, final logit softcapping.
- qwen3-tiny: q/k norms (plain RMSNorm), no biases, head_dim 24.
- mistral-window: window 8 on every layer.

Keys and values are recorded where attention reads them (the eager attention function's
inputs), so sliding layers give every position although transformers' cache keeps only the
last window - 1 of them after the prefill.
"""

import copy
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers import processors, trainers
import transformers
from transformers import AutoModelForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_model_fixtures as base  # noqa: E402

OUT_DIR = base.OUT_DIR


def gemma_tokenizer():
    """SentencePiece-style BPE as Gemma 3's tokenizer.json: normalizer Replace(" ", "▁") with
    no "▁" put in front, byte_fallback with <0x00>..<0xFF> at ids 4..259, <pad>=0 <eos>=1
    <bos>=2 <unk>=3, and <bos> added in front."""
    normalizer = normalizers.Replace(" ", "▁")
    trained = Tokenizer(models.BPE(unk_token="<unk>"))
    trained.normalizer = normalizer
    trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never",
                                                     split=True)
    trained.train_from_iterator(base.corpus_lines(),
                                trainers.BpeTrainer(vocab_size=250, show_progress=False))
    spec = json.loads(trained.to_str())["model"]
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(spec["vocab"].items(), key=lambda kv: kv[1]):
        assert piece not in vocab, piece
        vocab[piece] = len(vocab)
    merges = [tuple(m) for m in spec["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.normalizer = normalizer
    tok.decoder = decoders.Sequence([
        decoders.Replace("▁", " "),
        decoders.ByteFallback(),
        decoders.Fuse(),
    ])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in ("<pad>", "<eos>", "<bos>", "<unk>")])
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A:0 <bos>:1 $B:1", special_tokens=[("<bos>", 2)])
    return tok, dict(bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
                     pad_token="<pad>")


TOKENIZERS = {"gemma": gemma_tokenizer, "llama2": base.llama2_tokenizer,
              "qwen2": base.qwen2_tokenizer}

MODELS = {
    "gemma3-tiny": dict(arch="gemma3_text", tokenizer="gemma", seed=11, std=0.3, config=dict(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=4,
        head_dim=24, intermediate_size=96, rms_norm_eps=1e-6, query_pre_attn_scalar=20,
        sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention",
                     "sliding_attention"],
        rope_theta=1000.0, rope_local_base_freq=50.0,
        rope_scaling={"rope_type": "linear", "factor": 2.0},
        final_logit_softcapping=10.0, max_position_embeddings=128, tie_word_embeddings=True,
        hidden_activation="gelu_pytorch_tanh")),
    "qwen3-tiny": dict(arch="qwen3", tokenizer="qwen2", seed=12, std=0.3, config=dict(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
        head_dim=24, intermediate_size=96, rope_theta=10000.0, rms_norm_eps=1e-6,
        tie_word_embeddings=False, max_position_embeddings=128, use_sliding_window=False,
        attention_bias=False)),
    "mistral-window": dict(arch="mistral", tokenizer="llama2", seed=13, std=0.3, config=dict(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
        intermediate_size=96, rope_theta=10000.0, rms_norm_eps=1e-6, sliding_window=8,
        tie_word_embeddings=False, max_position_embeddings=128)),
}

ARCH = {
    "gemma3_text": (transformers.Gemma3TextConfig, transformers.Gemma3ForCausalLM),
    "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
    "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
}
MODULES = {
    "gemma3_text": transformers.models.gemma3.modeling_gemma3,
    "qwen3": transformers.models.qwen3.modeling_qwen3,
    "mistral": transformers.models.mistral.modeling_mistral,
}


def build_model(spec, tok, seed):
    config_cls, model_cls = ARCH[spec["arch"]]
    special = dict(bos_token_id=tok.bos_token_id if tok.bos_token_id is not None
                   else tok.eos_token_id, eos_token_id=tok.eos_token_id,
                   pad_token_id=tok.pad_token_id)
    config = config_cls(vocab_size=len(tok), initializer_range=spec["std"], **special,
                        **spec["config"])
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_cls(config)
    gen = torch.Generator().manual_seed(seed)
    gemma = spec["arch"] == "gemma3_text"
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                scale = 0.5 if any(s in name for s in base.ATTN_INPUTS) else 1.0
                p.copy_(torch.randn(p.shape, generator=gen) * spec["std"] * scale)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            else:  # RMSNorm gains: Gemma stores w of (1 + w), the others the gain itself
                p.copy_((0.0 if gemma else 1.0) + torch.randn(p.shape, generator=gen) * 0.1)
    return model.eval()


class Recorder:
    """Keys and values as attention reads them (after q/k norm and RoPE), and keys before
    RoPE, per layer, for one prefill."""

    def __init__(self, arch):
        self.module = MODULES[arch]
        self.arch = arch
        self.k, self.v, self.k_pre = {}, {}, {}

    def __enter__(self):
        self.saved = self.module.eager_attention_forward
        rec = self

        def wrapped(module, query, key, value, *args, **kwargs):
            rec.k[module.layer_idx] = key[0].detach().clone()
            rec.v[module.layer_idx] = value[0].detach().clone()
            return rec.saved(module, query, key, value, *args, **kwargs)

        self.module.eager_attention_forward = wrapped
        return self

    def __exit__(self, *exc):
        self.module.eager_attention_forward = self.saved

    def hooks(self, model, n):
        handles = []
        for l, layer in enumerate(model.model.layers):
            attn = layer.self_attn
            target = attn.k_proj if self.arch == "mistral" else attn.k_norm

            def hook(module, inputs, output, l=l, attn=attn):
                o = output[0]
                if o.ndim == 2:  # [seq, G * D]
                    o = o.reshape(n, -1, attn.head_dim)
                if o.shape[0] == n:  # [seq, G, D] -> [G, seq, D]
                    o = o.transpose(0, 1)
                self.k_pre[l] = o.detach().clone()

            handles.append(target.register_forward_hook(hook))
        return handles


def run_prompt(model, tok, text, arch):
    ids = tok(text)["input_ids"]
    x = torch.tensor([ids])
    with Recorder(arch) as rec:
        handles = rec.hooks(model, len(ids))
        with torch.no_grad():
            out = model(x, output_attentions=True, use_cache=True)
        for h in handles:
            h.remove()
    tensors = {}
    for l in range(len(model.model.layers)):
        assert rec.k[l].shape[1] == len(ids), (l, rec.k[l].shape)
        tensors[f"blocks.{l}.attn.k"] = rec.k[l]
        tensors[f"blocks.{l}.attn.k_pre_rope"] = rec.k_pre[l]
        tensors[f"blocks.{l}.attn.v"] = rec.v[l]
        tensors[f"blocks.{l}.attn.pattern"] = out.attentions[l][0]
    tensors["logits"] = out.logits[0]
    tensors = {k: v.detach().float().contiguous().clone() for k, v in tensors.items()}
    # What transformers' own cache holds after the prefill, per layer (sliding layers: the
    # last window - 1 positions).
    cache_len = [int(layer.keys.shape[-2]) for layer in out.past_key_values.layers]

    model.generation_config.eos_token_id = None
    with torch.no_grad():
        gen = model.generate(x, do_sample=False, max_new_tokens=base.GREEDY_NEW_TOKENS,
                             min_new_tokens=0, eos_token_id=None, pad_token_id=tok.pad_token_id
                             if tok.pad_token_id is not None else tok.eos_token_id,
                             return_dict_in_generate=True, output_logits=True)
    new_ids = gen.sequences[0, len(ids):].tolist()
    assert len(new_ids) == base.GREEDY_NEW_TOKENS, new_ids
    step_logits = torch.cat([s.float() for s in gen.logits])
    with torch.no_grad():
        full = model(gen.sequences, use_cache=False).logits[0, len(ids) - 1:-1]
    assert full.argmax(-1).tolist() == new_ids, "cached and uncached greedy disagree"
    assert torch.allclose(full, step_logits, atol=1e-4), (full - step_logits).abs().max()
    min_gap = float(min(base.top_gap(step_logits).min(), base.top_gap(full).min()))
    record = dict(text=text, input_ids=ids, greedy_new_tokens=base.GREEDY_NEW_TOKENS,
                  greedy_ids=new_ids, greedy_text=tok.decode(new_ids, skip_special_tokens=False),
                  min_top1_gap=min_gap, cache_positions_after_prefill=cache_len)
    return tensors, record


def make_model(name, spec, tokenizers_built):
    folder = OUT_DIR / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    arch = spec["arch"]
    tok, special = tokenizers_built[spec["tokenizer"]]
    hf_tok = base.save_tokenizer(tok, special, folder)
    for attempt in range(50):
        seed = spec["seed"] + 100 * attempt
        model = build_model(spec, hf_tok, seed)
        if all(run_prompt(model, hf_tok, t, arch)[1]["min_top1_gap"] > base.MIN_GAP
               for t in PROMPTS):
            break
    else:
        raise RuntimeError(f"{name}: no seed without near-tied greedy steps")
    model.save_pretrained(folder)
    if arch != "gemma3_text":
        base.classic_rope_config(folder)
    (folder / "generation_config.json").unlink(missing_ok=True)
    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32,
                                                    attn_implementation="eager").eval()
    ref = dict(model.named_parameters())
    for pname, p in reloaded.named_parameters():
        assert torch.equal(p, ref[pname]), (name, pname)
    prompts = []
    for i, text in enumerate(PROMPTS):
        tensors, record = run_prompt(reloaded, hf_tok, text, arch)
        assert record["min_top1_gap"] > base.MIN_GAP, (name, i, record["min_top1_gap"])
        window = spec["config"].get("sliding_window")
        if window:
            assert len(record["input_ids"]) > window, (name, len(record["input_ids"]))
        fname = f"expected_{i}.safetensors"
        save_file(tensors, folder / fname)
        back = load_numpy(folder / fname)
        for k, v in tensors.items():
            assert np.array_equal(back[k], v.numpy()), (name, k)
        record["expected_file"] = fname
        prompts.append(record)
    doc = dict(model=name, arch=arch, storage="fp32", tokenizer=spec["tokenizer"], seed=seed,
               transformers_version=transformers.__version__, torch_version=torch.__version__,
               vocab_size=len(hf_tok), prompts=prompts)
    (folder / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    size = sum(f.stat().st_size for f in folder.iterdir())
    assert size < 1_000_000, (name, size)
    return size, [p["min_top1_gap"] for p in prompts], [len(p["input_ids"]) for p in prompts]


# Longer than the window of 8 with every tokenizer here, and with a decode past it.
PROMPTS = base.PROMPTS


def main():
    torch.set_grad_enabled(False)
    built = {name: fn() for name, fn in TOKENIZERS.items()}
    names = sys.argv[1:] or list(MODELS)
    for name in names:
        size, gaps, lens = make_model(name, MODELS[name], built)
        print(f"{name}: {size} bytes, prompt lengths {lens}, min top-1 gaps {gaps}")


if __name__ == "__main__":
    main()
