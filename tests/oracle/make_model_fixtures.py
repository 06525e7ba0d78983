#!/usr/bin/env python3
"""Builds the tiny random-weight model fixtures under tests/fixtures/models/ and their
expected outputs, computed by Hugging Face transformers (the ground truth for the C++ engine).

Run from anywhere:  python3 tests/oracle/make_model_fixtures.py
Everything is deterministic (fixed seeds, CPU, float32, eager attention); see README.md for
what each fixture is and the tensor naming and layout conventions.
"""

import argparse
import copy
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers
from transformers import (AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel,
                          LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config,
                          Qwen2ForCausalLM)

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "tests" / "fixtures" / "models"

GREEDY_NEW_TOKENS = 20
MIN_GAP = 1e-2  # every greedy step's top-1 minus top-2 logit must exceed this

# Written for this project; the tokenizers are trained on it. Plain ASCII on purpose, so the
# prompts' non-ASCII characters exercise byte fallback (SentencePiece-style) and byte tokens.
CORPUS = """\
The lighthouse keeper climbed the stairs every evening at seven. He lit the lamp, wiped the glass, and wrote the weather in a small book.
On the first night of winter the wind was so strong that the door would not stay shut. He tied it with a rope and laughed at himself.
Ships passed far out at sea. Some were heavy with grain, some with coal, and one, he was sure, carried nothing but letters.
It's a quiet job, people said, but they didn't know how loud the sea could be. He'd listen to it for hours and never grow tired.
In the morning he counted the gulls on the rocks: 12 on Monday, 31 on Tuesday, and 250 after the storm on Friday.
A transformer reads a sentence one token at a time. Each layer writes a key and a value for every token it has seen.
The keys decide where attention looks; the values decide what it brings back. Together they form the cache.
When the model writes the next word, it does not read the whole prompt again. It reuses the cache and adds one more row.
That is why the cache grows with the length of the text, and why people try to make it smaller.
Some methods drop old tokens, some keep only a few heads, and some store the numbers with fewer bits.
Before trusting any of them, we must first see what the cache holds: which heads look back, which look at the first token, and how large the values are.
The garden behind the school had three apple trees, a bench, and a pond with four slow fish.
Children ran around the pond at noon. The teacher called them in at one, and they came back, one by one, with wet shoes.
We'll meet again next week, she said. Bring a pencil, a ruler, and your best idea.
The numbers were 7, 42, 100 and 1024. The first is small, the last is a power of two.
What do you think? Is the cache a memory, a map, or a mirror of the text it has read?
"""

PROMPTS = [
    "The keeper said: \"the cache holds 42 keys.\"",
    "Hello, wörld!",
]

QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


# ---------------------------------------------------------------------------------------------
# Tokenizers. Each builder returns (tokenizers.Tokenizer, special-token kwargs for transformers).


def corpus_lines():
    return [line for line in CORPUS.splitlines() if line]


def with_model_fields(tok, **fields):
    """Returns a copy of `tok` with fields of its BPE model set (e.g. byte_fallback)."""
    spec = json.loads(tok.to_str())
    spec["model"].update(fields)
    return Tokenizer.from_str(json.dumps(spec))


def gpt2_tokenizer():
    """Byte-level BPE as GPT-2's tokenizer.json: ByteLevel pre-tokenizer (GPT-2 regex), no
    prefix space, <|endoftext|> as the last id, no BOS added."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=511, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return tok, dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                     unk_token="<|endoftext|>")


def llama2_tokenizer():
    """SentencePiece-style BPE as Llama 2's tokenizer.json: normalizer Prepend("▁") then
    Replace(" ", "▁"), no pre-tokenizer, byte_fallback with <0x00>..<0xFF> at ids 3..258,
    <unk>=0 <s>=1 </s>=2, and a TemplateProcessing post-processor that adds <s>."""
    normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # Training splits at "▁" so no merge spans two words, as SentencePiece's BPE; the final
    # tokenizer has no pre-tokenizer (as Llama 2's) and gives the same pieces.
    trained = Tokenizer(models.BPE(unk_token="<unk>"))
    trained.normalizer = normalizer
    trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never",
                                                     split=True)
    trained.train_from_iterator(corpus_lines(),
                                trainers.BpeTrainer(vocab_size=250, show_progress=False))
    spec = json.loads(trained.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
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
        decoders.Strip(content=" ", left=1, right=0),
    ])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in ("<unk>", "<s>", "</s>")])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A:0 <s>:1 $B:1", special_tokens=[("<s>", 1)])
    return tok, dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def llama3_tokenizer():
    """Byte-level BPE as Llama 3's tokenizer.json: Split with the Llama-3 regex (isolated),
    then ByteLevel without its own regex; ignore_merges; <|begin_of_text|> added in front by a
    TemplateProcessing post-processor; the two special tokens follow the learned vocab."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=510, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer)
    tok = with_model_fields(tok, ignore_merges=True)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in ("<|begin_of_text|>", "<|end_of_text|>")])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A:0 <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    return tok, dict(bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")


def qwen2_tokenizer():
    """Byte-level BPE as Qwen2's tokenizer.json: NFC normalizer, Split with the Qwen2 regex
    (single digits), ByteLevel without its own regex, no BOS, <|endoftext|> as the last id.
    transformers 5 rebuilds exactly this pipeline for model_type "qwen2" whatever the file
    says, so the file must say it too."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=511, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return tok, dict(eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                     unk_token="<|endoftext|>")


TOKENIZERS = {"gpt2": gpt2_tokenizer, "llama2": llama2_tokenizer, "llama3": llama3_tokenizer,
              "qwen2": qwen2_tokenizer}


# ---------------------------------------------------------------------------------------------
# Models.

# name -> how to build it. "std" is the standard deviation of every weight matrix and
# embedding (initializer_range is set to it too) but the attention input projections (half of
# it); biases get N(0, 0.1), norm gains 1 + N(0, 0.1).
MODELS = {
    "gpt2-a": dict(arch="gpt2", tokenizer="gpt2", seed=1, std=0.3, config=dict(
        n_layer=2, n_head=4, n_embd=64, n_positions=64)),
    "gpt2-b": dict(arch="gpt2", tokenizer="gpt2", seed=2, std=0.3, config=dict(
        n_layer=3, n_head=2, n_embd=48, n_positions=48, layer_norm_epsilon=1e-5,
        activation_function="gelu_new")),
    "llama-gqa": dict(arch="llama", tokenizer="llama2", seed=3, std=0.3, config=dict(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
        intermediate_size=96, rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
        max_position_embeddings=128)),
    "llama3-scaled": dict(arch="llama", tokenizer="llama3", seed=4, std=0.3, config=dict(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=3,
        intermediate_size=96, rope_theta=500000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
        max_position_embeddings=128, head_dim=16,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 16})),
    "qwen2": dict(arch="qwen2", tokenizer="qwen2", seed=5, std=0.3, config=dict(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
        intermediate_size=96, rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
        max_position_embeddings=128, use_sliding_window=False)),
    # Variants: the same weights as their base, stored differently.
    "gpt2-bf16": dict(variant_of="gpt2-a", store="bf16"),
    "llama-gqa-sharded": dict(variant_of="llama-gqa", store="sharded"),
}

ARCH = {
    "gpt2": (GPT2Config, GPT2LMHeadModel),
    "llama": (LlamaConfig, LlamaForCausalLM),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM),
}

SHARD_SIZE = "200KB"
ATTN_INPUTS = ("c_attn", "q_proj", "k_proj", "v_proj")


def build_model(spec, tok, seed):
    config_cls, model_cls = ARCH[spec["arch"]]
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    special = dict(bos_token_id=bos, eos_token_id=tok.eos_token_id, pad_token_id=None)
    config = config_cls(vocab_size=len(tok), initializer_range=spec["std"], **special,
                        **spec["config"])
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_cls(config)
    # Default init leaves biases at 0 and norm gains at 1, which would let an engine that
    # ignores them pass; randomize everything.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                # Half the spread in the attention inputs keeps patterns from being one-hot.
                scale = 0.5 if any(s in name for s in ATTN_INPUTS) else 1.0
                p.copy_(torch.randn(p.shape, generator=gen) * spec["std"] * scale)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            else:  # LayerNorm / RMSNorm gain
                p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.1)
    return model.eval()


def rounded_to_bf16(model):
    """The model with every weight rounded to bfloat16 and widened back to float32."""
    return copy.deepcopy(model).to(torch.bfloat16).float()


def classic_rope_config(folder):
    """transformers 5 writes RoPE settings as "rope_parameters"; Hub checkpoints (and what
    readers meet in practice) use top-level "rope_theta" plus "rope_scaling". Rewrite to the
    latter, which transformers still reads; the reload check below proves it is equivalent."""
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    rope = cfg.pop("rope_parameters", None)
    if rope is not None:
        rope = dict(rope)
        cfg["rope_theta"] = rope.pop("rope_theta")
        if rope.get("rope_type", "default") != "default":
            cfg["rope_scaling"] = rope
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def save_tokenizer(tok, special, folder):
    hf = PreTrainedTokenizerFast(tokenizer_object=copy.deepcopy(tok), **special)
    hf.save_pretrained(folder)
    # "TokenizersBackend" is a transformers 5 name; this one loads in 4.x and 5.x alike.
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    # Ids through the raw file must equal the trained tokenizer's and the transformers loader's.
    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    loaded = AutoTokenizer.from_pretrained(folder)
    for text in PROMPTS + corpus_lines()[:3]:
        want = tok.encode(text).ids
        assert raw.encode(text).ids == want, (folder, text)
        assert loaded(text)["input_ids"] == want, (folder, text, loaded(text)["input_ids"], want)
        assert loaded.decode(want, skip_special_tokens=True) == text, (folder, text)
    return loaded


def top_gap(logits):
    """top-1 minus top-2 of each row; logits [n, vocab]."""
    top = torch.topk(logits, 2, dim=-1).values
    return top[:, 0] - top[:, 1]


def run_prompt(model, tok, text, arch):
    ids = tok(text)["input_ids"]
    x = torch.tensor([ids])
    pre_rope = {}
    hooks = []
    if arch != "gpt2":
        for l, layer in enumerate(model.model.layers):
            attn = layer.self_attn

            def hook(module, inputs, output, l=l, attn=attn):
                # [1, seq, kv_heads * head_dim] -> [kv_heads, seq, head_dim]
                pre_rope[l] = output[0].reshape(len(ids), -1, attn.head_dim).transpose(0, 1)

            hooks.append(attn.k_proj.register_forward_hook(hook))
    with torch.no_grad():
        out = model(x, output_attentions=True, use_cache=True)
    for h in hooks:
        h.remove()
    tensors = {}
    for l, layer_cache in enumerate(out.past_key_values.layers):
        tensors[f"blocks.{l}.attn.k"] = layer_cache.keys[0]
        if arch != "gpt2":
            tensors[f"blocks.{l}.attn.k_pre_rope"] = pre_rope[l]
        tensors[f"blocks.{l}.attn.v"] = layer_cache.values[0]
        tensors[f"blocks.{l}.attn.pattern"] = out.attentions[l][0]
    tensors["logits"] = out.logits[0]
    tensors = {k: v.detach().float().contiguous().clone() for k, v in tensors.items()}

    # Greedy decoding with the cache; stopping at EOS is switched off so there are always
    # GREEDY_NEW_TOKENS (the engine is compared step by step, not on when it stops).
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        gen = model.generate(x, do_sample=False, max_new_tokens=GREEDY_NEW_TOKENS,
                             min_new_tokens=0, eos_token_id=None, pad_token_id=tok.eos_token_id,
                             return_dict_in_generate=True, output_logits=True)
    new_ids = gen.sequences[0, len(ids):].tolist()
    assert len(new_ids) == GREEDY_NEW_TOKENS, new_ids
    step_logits = torch.cat([s.float() for s in gen.logits])  # [new, vocab], cached path
    gaps = top_gap(step_logits)
    # The same choices from one full forward without the cache.
    with torch.no_grad():
        full = model(gen.sequences, use_cache=False).logits[0, len(ids) - 1:-1]
    assert full.argmax(-1).tolist() == new_ids, "cached and uncached greedy disagree"
    assert step_logits.argmax(-1).tolist() == new_ids
    assert torch.allclose(full, step_logits, atol=1e-4), (full - step_logits).abs().max()
    min_gap = float(min(gaps.min(), top_gap(full).min()))
    record = dict(text=text, input_ids=ids, greedy_new_tokens=GREEDY_NEW_TOKENS,
                  greedy_ids=new_ids,
                  greedy_text=tok.decode(new_ids, skip_special_tokens=False),
                  min_top1_gap=min_gap)
    return tensors, record


def make_model(name, spec, tokenizers_built, models_built):
    folder = OUT_DIR / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store = "fp32"
    if "variant_of" in spec:
        base_spec, base_model = models_built[spec["variant_of"]]
        store = spec["store"]
        model = copy.deepcopy(base_model)
        arch, tok_name = base_spec["arch"], base_spec["tokenizer"]
    else:
        arch, tok_name = spec["arch"], spec["tokenizer"]
    tok, special = tokenizers_built[tok_name]
    hf_tok = save_tokenizer(tok, special, folder)
    if "variant_of" not in spec:
        # Seeds are tried in a fixed order until no greedy step is a near-tie.
        for attempt in range(50):
            seed = spec["seed"] + 100 * attempt
            model = build_model(spec, hf_tok, seed)
            # A BF16 variant must be free of near-ties too, after rounding.
            candidates = [model] + [
                rounded_to_bf16(model) for v in MODELS.values()
                if v.get("variant_of") == name and v["store"] == "bf16"]
            if all(run_prompt(m, hf_tok, t, arch)[1]["min_top1_gap"] > MIN_GAP
                   for m in candidates for t in PROMPTS):
                break
        else:
            raise RuntimeError(f"{name}: no seed without near-tied greedy steps")
        spec["chosen_seed"] = seed
    models_built[name] = (spec if "variant_of" not in spec else base_spec, model)

    if store == "bf16":
        copy.deepcopy(model).to(torch.bfloat16).save_pretrained(folder)
    elif store == "sharded":
        model.save_pretrained(folder, max_shard_size=SHARD_SIZE)
    else:
        model.save_pretrained(folder)
    classic_rope_config(folder)
    (folder / "generation_config.json").unlink(missing_ok=True)

    # Expected outputs come from the model as reloaded from the folder, so they describe
    # exactly the files a reader sees (for bf16: the rounded weights, computed in fp32).
    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32,
                                                    attn_implementation="eager").eval()
    if store == "bf16":
        ref = rounded_to_bf16(model)
    else:
        ref = model
    ref_params = dict(ref.named_parameters())
    for pname, p in reloaded.named_parameters():
        assert torch.equal(p, ref_params[pname]), (name, pname)
    if store == "sharded":
        shards = sorted(folder.glob("model-*.safetensors"))
        assert 2 <= len(shards) <= 3 and (folder / "model.safetensors.index.json").exists(), shards

    prompts = []
    for i, text in enumerate(PROMPTS):
        tensors, record = run_prompt(reloaded, hf_tok, text, arch)
        assert record["min_top1_gap"] > MIN_GAP, (name, i, record["min_top1_gap"])
        fname = f"expected_{i}.safetensors"
        save_file(tensors, folder / fname)
        back = load_numpy(folder / fname)
        assert back.keys() == tensors.keys()
        for k, v in tensors.items():
            assert back[k].dtype == np.float32 and np.array_equal(back[k], v.numpy()), (name, k)
        record["expected_file"] = fname
        prompts.append(record)
    # With config.json now present the loader still picks the same tokenizer.
    final_tok = AutoTokenizer.from_pretrained(folder)
    for p in prompts:
        assert final_tok(p["text"])["input_ids"] == p["input_ids"], (name, p["text"])
    doc = dict(model=name, arch=arch, storage=store, tokenizer=tok_name,
               seed=models_built[name][0]["chosen_seed"],
               transformers_version=__import__("transformers").__version__,
               vocab_size=len(hf_tok), prompts=prompts)
    (folder / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    size = sum(f.stat().st_size for f in folder.iterdir())
    assert size < 1_000_000, (name, size)
    return size, [p["min_top1_gap"] for p in prompts], [len(p["input_ids"]) for p in prompts]


# ---------------------------------------------------------------------------------------------
# Independent checks: numpy only, reading nothing but the files written above.


def load_weights(path):
    """float64 numpy arrays; bf16 (which numpy lacks) is widened exactly through torch."""
    return {k: v.to(torch.float64).numpy() for k, v in load_torch(path).items()}


def rotate_half_rope(x, positions, inv_freq):
    """x [heads, seq, head_dim]; HF convention: pairs (i, i + head_dim/2)."""
    ang = np.outer(positions, inv_freq)  # [seq, head_dim/2]
    cos = np.concatenate([np.cos(ang), np.cos(ang)], -1)
    sin = np.concatenate([np.sin(ang), np.sin(ang)], -1)
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], -1)
    return x * cos + rot * sin


def llama3_inv_freq(theta, head_dim, sc):
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    old = sc["original_max_position_embeddings"]
    low_wl, high_wl = old / sc["low_freq_factor"], old / sc["high_freq_factor"]
    out = []
    for f in inv:
        wl = 2 * np.pi / f
        if wl < high_wl:
            out.append(f)
        elif wl > low_wl:
            out.append(f / sc["factor"])
        else:
            smooth = (old / wl - sc["low_freq_factor"]) / (sc["high_freq_factor"] -
                                                            sc["low_freq_factor"])
            out.append((1 - smooth) * f / sc["factor"] + smooth * f)
    return np.array(out)


def check_gpt2_layer0(name):
    folder = OUT_DIR / name
    cfg = json.loads((folder / "config.json").read_text())
    w = load_weights(folder / "model.safetensors")
    w = {k.removeprefix("transformer."): v for k, v in w.items()}
    exp = json.loads((folder / "expected.json").read_text())["prompts"][0]
    e = load_numpy(folder / exp["expected_file"])
    ids = exp["input_ids"]
    n, d, h = len(ids), cfg["n_embd"], cfg["n_head"]
    x = w["wte.weight"][ids] + w["wpe.weight"][:n]
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    ln = (x - mu) / np.sqrt(var + cfg["layer_norm_epsilon"]) * w["h.0.ln_1.weight"] + \
        w["h.0.ln_1.bias"]
    qkv = ln @ w["h.0.attn.c_attn.weight"] + w["h.0.attn.c_attn.bias"]  # Conv1D: [in, out]
    q, k, v = (qkv[:, i * d:(i + 1) * d].reshape(n, h, d // h).transpose(1, 0, 2)
               for i in range(3))
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(d // h)
    scores = np.where(np.tril(np.ones((n, n), bool)), scores, -np.inf)
    pattern = np.exp(scores - scores.max(-1, keepdims=True))
    pattern /= pattern.sum(-1, keepdims=True)
    err = max(np.abs(k - e["blocks.0.attn.k"]).max(), np.abs(v - e["blocks.0.attn.v"]).max(),
              np.abs(pattern - e["blocks.0.attn.pattern"]).max())
    assert err < 1e-4, (name, err)
    return err


def check_llama_rope(name):
    folder = OUT_DIR / name
    cfg = json.loads((folder / "config.json").read_text())
    exp = json.loads((folder / "expected.json").read_text())["prompts"][0]
    e = load_numpy(folder / exp["expected_file"])
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    if "rope_scaling" in cfg:
        inv = llama3_inv_freq(cfg["rope_theta"], head_dim, cfg["rope_scaling"])
    else:
        inv = 1.0 / cfg["rope_theta"] ** (np.arange(0, head_dim, 2) / head_dim)
    err = 0.0
    for l in range(cfg["num_hidden_layers"]):
        pre = e[f"blocks.{l}.attn.k_pre_rope"].astype(np.float64)
        k = rotate_half_rope(pre, np.arange(pre.shape[1]), inv)
        err = max(err, np.abs(k - e[f"blocks.{l}.attn.k"]).max())
    # Layer 0's pre-RoPE keys from the weights: RMSNorm(embedding) @ k_proj^T (+ bias).
    w = load_weights(folder / "model.safetensors") if (folder / "model.safetensors").exists() \
        else None
    if w is not None:
        x = w["model.embed_tokens.weight"][exp["input_ids"]]
        x = x / np.sqrt((x * x).mean(-1, keepdims=True) + cfg["rms_norm_eps"])
        x = x * w["model.layers.0.input_layernorm.weight"]
        k = x @ w["model.layers.0.self_attn.k_proj.weight"].T
        if "model.layers.0.self_attn.k_proj.bias" in w:
            k = k + w["model.layers.0.self_attn.k_proj.bias"]
        k = k.reshape(len(exp["input_ids"]), -1, head_dim).transpose(1, 0, 2)
        err = max(err, np.abs(k - e["blocks.0.attn.k_pre_rope"]).max())
    assert err < 1e-4, (name, err)
    return err


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tokenizers_built = {name: make() for name, make in TOKENIZERS.items()}
    models_built = {}
    for name, spec in MODELS.items():
        size, gaps, lens = make_model(name, spec, tokenizers_built, models_built)
        print(f"{name}: {size} bytes, prompt tokens {lens}, min top-1 gaps {gaps}")
    for name in ("gpt2-a", "gpt2-b", "gpt2-bf16"):
        print(f"independent check {name} layer 0 K/V/pattern: max err "
              f"{check_gpt2_layer0(name):.2e}")
    for name in ("llama-gqa", "llama3-scaled", "qwen2", "llama-gqa-sharded"):
        print(f"independent check {name} RoPE (+ layer-0 k_pre_rope): max err "
              f"{check_llama_rope(name):.2e}")


if __name__ == "__main__":
    main()
