#!/usr/bin/env python3
"""Converts the tiny Hugging Face fixtures of tests/fixtures/models/ to GGUF files the way
llama.cpp's converter lays them out, and records what transformers computes for them.

Writes tests/fixtures/gguf_models/<name>/:
  <name>.gguf              the converted model, tokenizer metadata included
  expected.json            prompts, input ids, greedy ids (as tests/fixtures/models/*/)
  expected_<i>.safetensors only for files with quantized or F16 tensors; an all-F32 file
                           holds the HF weights exactly, so its expected.json points at the
                           HF fixture's own expected files (checked equal here)
and tests/fixtures/gguf_models/bad/ (files the loader must refuse with a clear message).

Conventions followed (facts of the GGUF format as llama.cpp writes it):
  - tensor names token_embd, position_embd, blk.N.{attn_norm, attn_qkv | attn_q/k/v,
    attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm, output;
  - shapes are written as ne = reversed numpy shape, so an [out, in] matrix has ne [in, out];
    GPT-2's Conv1D weights ([in, out]) are transposed to [out, in] first;
  - llama's q/k rows are permuted per head so llama.cpp's RoPE (adjacent pairs) equals HF's
    rotate-half: within a head, GGUF row 2i + s is HF row s * head_dim/2 + i; Qwen2 is not
    permuted (llama.cpp runs it with NeoX-style RoPE);
  - llama3 RoPE scaling is a tensor rope_freqs.weight [head_dim/2] of per-frequency
    divisors, no scaling metadata.

Expected outputs come from the HF model with every weight replaced by the tensor read back
from the GGUF file and dequantized by the gguf package, run by the same code as
make_model_fixtures.py. Independent checks: the GGUF file is also loaded by transformers'
own GGUF reader (which undoes llama.cpp's conventions itself) and must give the same
weights; rope_freqs must reproduce transformers' llama3 inverse frequencies.

Run from anywhere:  python3 tests/oracle/make_gguf_model_fixtures.py
"""

import copy
import importlib.metadata
import json
import math
import shutil
import sys
from pathlib import Path

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_model_fixtures as mm  # noqa: E402  (run_prompt, PROMPTS, MIN_GAP)

FIXTURES = mm.REPO / "tests" / "fixtures"
OUT_DIR = FIXTURES / "gguf_models"
MAX_BYTES = 600_000

# name -> (HF fixture, storage). "q8_0": matrices Q8_0 or F16 (F16_MIXES); norms and biases
# stay F32 as llama.cpp keeps them.
FILES = {
    "gpt2-a": ("gpt2-a", "f32"),
    "gpt2-a-q8_0": ("gpt2-a", "q8_0"),
    "llama-gqa": ("llama-gqa", "f32"),
    "llama-gqa-q8_0": ("llama-gqa", "q8_0"),
    "llama3-scaled": ("llama3-scaled", "f32"),
    "qwen2": ("qwen2", "f32"),
    "qwen2-q8_0": ("qwen2", "q8_0"),
    # Made with make_window_model_fixtures.py's versions (transformers 5.24.0), like its HF
    # fixture: python3 tests/oracle/make_gguf_model_fixtures.py qwen3-tiny
    "qwen3-tiny": ("qwen3-tiny", "f32"),
}

# tokenizer kind of the HF fixture -> (tokenizer.ggml.model, tokenizer.ggml.pre)
TOKENIZER_KIND = {"gpt2": ("gpt2", "gpt-2"), "llama2": ("llama", None),
                  "llama3": ("gpt2", "llama-bpe"), "qwen2": ("gpt2", "qwen2")}

# llama.cpp token types
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6


# ---------------------------------------------------------------------------------------------
# Weights: HF state dict <-> GGUF tensors (numpy, HF meaning: [out, in]).


def rope_permute(w, n_head):
    """HF rows -> llama.cpp rows within each head: row s * D/2 + i goes to 2i + s."""
    d = w.shape[0] // n_head
    return w.reshape(n_head, 2, d // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rope_unpermute(w, n_head):
    d = w.shape[0] // n_head
    return w.reshape(n_head, d // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gpt2_names(cfg):
    """(HF name, GGUF name, transposed) for GPT-2."""
    pairs = [("transformer.wte.weight", "token_embd.weight", False),
             ("transformer.wpe.weight", "position_embd.weight", False)]
    for l in range(cfg.n_layer):
        h, b = f"transformer.h.{l}.", f"blk.{l}."
        for hf, gg, conv in (("ln_1", "attn_norm", False), ("attn.c_attn", "attn_qkv", True),
                             ("attn.c_proj", "attn_output", True), ("ln_2", "ffn_norm", False),
                             ("mlp.c_fc", "ffn_up", True), ("mlp.c_proj", "ffn_down", True)):
            pairs.append((h + hf + ".weight", b + gg + ".weight", conv))
            pairs.append((h + hf + ".bias", b + gg + ".bias", False))
    pairs += [("transformer.ln_f.weight", "output_norm.weight", False),
              ("transformer.ln_f.bias", "output_norm.bias", False)]
    return pairs


def llama_names(cfg, state):
    pairs = [("model.embed_tokens.weight", "token_embd.weight")]
    for l in range(cfg.num_hidden_layers):
        h, b = f"model.layers.{l}.", f"blk.{l}."
        for hf, gg in (("input_layernorm", "attn_norm"), ("self_attn.q_proj", "attn_q"),
                       ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
                       ("self_attn.o_proj", "attn_output"),
                       ("post_attention_layernorm", "ffn_norm"), ("mlp.gate_proj", "ffn_gate"),
                       ("self_attn.q_norm", "attn_q_norm"), ("self_attn.k_norm", "attn_k_norm"),
                       ("mlp.up_proj", "ffn_up"), ("mlp.down_proj", "ffn_down")):
            for suffix in (".weight", ".bias"):
                if h + hf + suffix in state:
                    pairs.append((h + hf + suffix, b + gg + suffix))
    pairs.append(("model.norm.weight", "output_norm.weight"))
    if not cfg.tie_word_embeddings:
        pairs.append(("lm_head.weight", "output.weight"))
    return pairs


def to_gguf_tensors(arch, cfg, state, storage):
    """{GGUF name: float32 numpy array, [out, in] for matrices} in file order."""
    out = {}
    if arch == "gpt2":
        for hf, gg, conv in gpt2_names(cfg):
            w = state[hf]
            out[gg] = np.ascontiguousarray(w.T) if conv else w
        if storage == "q8_0":
            # llama.cpp's converter writes GPT-2's tied head out as its own tensor; kept in the
            # quantized file only (the F32 file tests the tied case and stays under 600 KB).
            out["output.weight"] = state["transformer.wte.weight"]
        return out
    for hf, gg in llama_names(cfg, state):
        w = state[hf]
        if arch == "llama" and gg.endswith(("attn_q.weight", "attn_q.bias")):
            w = rope_permute(w, cfg.num_attention_heads)
        elif arch == "llama" and gg.endswith(("attn_k.weight", "attn_k.bias")):
            w = rope_permute(w, cfg.num_key_value_heads)
        out[gg] = w
    return out


def from_gguf_tensors(arch, cfg, tensors, state_names):
    """The inverse of to_gguf_tensors: HF state dict from dequantized GGUF tensors."""
    state = {}
    if arch == "gpt2":
        for hf, gg, conv in gpt2_names(cfg):
            state[hf] = np.ascontiguousarray(tensors[gg].T) if conv else tensors[gg]
        if "output.weight" in tensors:
            # A tied HF model has one matrix for both; the file must hold the same values twice.
            assert np.array_equal(tensors["output.weight"], tensors["token_embd.weight"])
        return state
    for hf, gg in llama_names(cfg, dict.fromkeys(state_names)):
        w = tensors[gg]
        if arch == "llama" and gg.endswith(("attn_q.weight", "attn_q.bias")):
            w = rope_unpermute(w, cfg.num_attention_heads)
        elif arch == "llama" and gg.endswith(("attn_k.weight", "attn_k.bias")):
            w = rope_unpermute(w, cfg.num_key_value_heads)
        state[hf] = w
    return state


# Tensors stored F16 in a quantized file (by name part), tried in this order; every other
# matrix is Q8_0. The first mix keeps three types in one file.
F16_MIXES = [("attn_v.", "position_embd."),
             ("attn_v.", "position_embd.", "ffn_"),
             ("attn_v.", "position_embd.", "ffn_", "attn_output.")]


def storage_type(name, w, storage, mix):
    if storage == "f32" or w.ndim != 2:
        return Q.F32
    if any(part in name for part in F16_MIXES[mix]):
        return Q.F16
    assert w.shape[1] % 32 == 0, (name, w.shape)
    return Q.Q8_0


def llama3_rope_freqs(cfg):
    """llama.cpp's per-frequency divisors for llama3 RoPE scaling, [head_dim/2]."""
    sc = cfg.rope_parameters
    head_dim = cfg.head_dim
    factor, lo, hi = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
    old_ctx = sc["original_max_position_embeddings"]
    lo_wavelen, hi_wavelen = old_ctx / lo, old_ctx / hi
    out = []
    for i in range(0, head_dim, 2):
        freq = 1.0 / (sc["rope_theta"] ** (i / head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < hi_wavelen:
            out.append(1.0)
        elif wavelen > lo_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Tokenizer metadata from tokenizer.json, as llama.cpp's converter derives it.


def tokenizer_metadata(folder, kind, hf_tok):
    j = json.loads((folder / "tokenizer.json").read_text())
    vocab = j["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    for a in j["added_tokens"]:
        if a["id"] >= len(tokens):
            tokens.extend([None] * (a["id"] + 1 - len(tokens)))
        tokens[a["id"]] = a["content"]
    assert None not in tokens and len(tokens) == len(hf_tok)
    special = {a["id"] for a in j["added_tokens"] if a["special"]}
    merges = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in j["model"]["merges"]]
    ggml_model, pre = TOKENIZER_KIND[kind]
    types = []
    for i, t in enumerate(tokens):
        if ggml_model == "llama" and t == "<unk>":
            types.append(UNKNOWN)
        elif i in special:
            types.append(CONTROL)
        elif ggml_model == "llama" and len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types.append(BYTE)
        else:
            types.append(NORMAL)
    meta = dict(model=ggml_model, pre=pre, tokens=tokens, types=types, merges=None, scores=None)
    if ggml_model == "gpt2":
        meta["merges"] = merges
    else:
        # SentencePiece merges by score: a piece made by an earlier merge scores higher, so
        # merging the best-scoring pair replays the BPE merge order.
        rank = {m.replace(" ", "", 1): r for r, m in enumerate(merges)}
        meta["scores"] = [-float(rank[t]) if t in rank else -1e9 for t in tokens]
    meta["bos"] = hf_tok.bos_token_id
    meta["eos"] = hf_tok.eos_token_id
    meta["unk"] = hf_tok.unk_token_id if ggml_model == "llama" else None
    meta["add_bos"] = kind in ("llama2", "llama3")
    # The HF fixtures add BOS exactly for these two kinds; keep the file honest about it.
    assert (hf_tok("a")["input_ids"][0] == hf_tok.bos_token_id) == meta["add_bos"], kind
    return meta


def write_tokenizer(w, meta):
    w.add_tokenizer_model(meta["model"])
    if meta["pre"]:
        w.add_tokenizer_pre(meta["pre"])
    w.add_token_list(meta["tokens"])
    w.add_token_types(meta["types"])
    if meta["merges"] is not None:
        w.add_token_merges(meta["merges"])
    if meta["scores"] is not None:
        w.add_token_scores(meta["scores"])
    if meta["bos"] is not None:
        w.add_bos_token_id(meta["bos"])
    w.add_eos_token_id(meta["eos"])
    if meta["unk"] is not None:
        w.add_unk_token_id(meta["unk"])
    w.add_add_bos_token(meta["add_bos"])
    w.add_add_eos_token(False)


# ---------------------------------------------------------------------------------------------
# Writing and reading back.


def write_metadata(w, arch, cfg, storage):
    w.add_name("kvscope-test")
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[storage])
    if arch == "gpt2":
        w.add_context_length(cfg.n_positions)
        w.add_embedding_length(cfg.n_embd)
        w.add_feed_forward_length(cfg.n_inner or 4 * cfg.n_embd)
        w.add_block_count(cfg.n_layer)
        w.add_head_count(cfg.n_head)
        w.add_layer_norm_eps(cfg.layer_norm_epsilon)
        return
    w.add_vocab_size(cfg.vocab_size)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_rope_dimension_count(head_dim)
    if arch in ("llama", "qwen3"):
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)


def write_gguf(path, arch, cfg, tensors, storage, mix, tok_meta, rope_freqs=None):
    w = gguf.GGUFWriter(str(path), arch=arch)
    write_metadata(w, arch, cfg, storage)
    write_tokenizer(w, tok_meta)
    types = {}
    for name, t in tensors.items():
        t = np.ascontiguousarray(t, dtype=np.float32)
        qt = storage_type(name, t, storage, mix)
        types[name] = qt.name
        if qt == Q.F32:
            w.add_tensor(name, t)
        elif qt == Q.F16:
            w.add_tensor(name, t.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(t, qt), raw_dtype=qt)
    if rope_freqs is not None:
        w.add_tensor("rope_freqs.weight", rope_freqs)
        types["rope_freqs.weight"] = "F32"
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return types


def read_gguf(path):
    """{name: float32 numpy array in HF shape order} from the file, dequantized."""
    r = gguf.GGUFReader(str(path))
    out = {}
    for t in r.tensors:
        shape = tuple(int(n) for n in reversed(t.shape))
        out[t.name] = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32) \
            .reshape(shape)
    return out


def check_transformers_reads_same(folder, fname, arch, cfg, ref_state):
    """transformers' GGUF loader undoes the conventions on its own; its weights must equal
    ours (tied heads and rope_freqs, which it does not load as parameters, aside)."""
    # transformers maps GPT-2's context_length to a config field GPT2Config no longer reads
    # (n_positions stays 1024), so that one is given the HF config; its tensors still come
    # through transformers' own GGUF conversion.
    # Its qwen3 mapping does not read attention.key_length either (head_dim stays 128).
    extra = dict(config=cfg) if arch in ("gpt2", "qwen3") else {}
    m = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32,
                                             **extra)
    got = m.state_dict()
    checked = 0
    for k, v in ref_state.items():
        assert k in got, (fname, k)
        assert torch.equal(got[k].float(), torch.from_numpy(v)), (fname, k,
                                                                  (got[k] - v).abs().max())
        checked += 1
    return checked


# ---------------------------------------------------------------------------------------------


def make_file(name, base, storage):
    hf_dir = FIXTURES / "models" / base
    base_expected = json.loads((hf_dir / "expected.json").read_text())
    arch = base_expected["arch"]
    hf_tok = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    cfg = model.config
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()
             if not (cfg.tie_word_embeddings and k == "lm_head.weight")}
    rope_freqs = None
    if arch == "llama" and (cfg.rope_parameters or {}).get("rope_type", "default") != "default":
        assert cfg.rope_parameters["rope_type"] == "llama3", cfg.rope_parameters
        rope_freqs = llama3_rope_freqs(cfg)
        # Independent check: base frequencies divided by rope_freqs are transformers' own.
        head_dim = cfg.head_dim
        base_inv = 1.0 / (cfg.rope_parameters["rope_theta"]
                          ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
        hf_inv = model.model.rotary_emb.inv_freq.double().numpy()
        assert np.allclose(base_inv / rope_freqs, hf_inv, rtol=1e-6), (base_inv / rope_freqs,
                                                                       hf_inv)

    folder = OUT_DIR / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    fname = f"{name}.gguf"
    tok_meta = tokenizer_metadata(hf_dir, base_expected["tokenizer"], hf_tok)
    # Quantization can bring two greedy candidates within noise of each other; mixes are
    # tried in a fixed order until every greedy step is clear.
    for mix in range(len(F16_MIXES) if storage != "f32" else 1):
        types = write_gguf(folder / fname, arch, cfg,
                           to_gguf_tensors(arch, cfg, state, storage), storage, mix, tok_meta,
                           rope_freqs)
        back = read_gguf(folder / fname)
        if rope_freqs is not None:
            assert np.array_equal(back.pop("rope_freqs.weight"), rope_freqs)
        new_state = from_gguf_tensors(arch, cfg, back, state.keys())
        assert new_state.keys() == state.keys(), set(new_state) ^ set(state)
        if storage == "f32":
            for k, v in state.items():
                assert np.array_equal(new_state[k], v), (name, k)
        ref = copy.deepcopy(model)
        missing, unexpected = ref.load_state_dict({k: torch.from_numpy(v) for k, v in
                                                   new_state.items()}, strict=False)
        assert not unexpected and all(k == "lm_head.weight" for k in missing), (missing,
                                                                                unexpected)
        ref.tie_weights()
        ref.eval()
        if arch == "qwen3":
            # Keys before RoPE after the q/k norm, as that script records them.
            import make_window_model_fixtures as wm
            runs = [wm.run_prompt(ref, hf_tok, text, arch) for text in mm.PROMPTS]
            for _, r in runs:
                r.pop("cache_positions_after_prefill")
        else:
            runs = [mm.run_prompt(ref, hf_tok, text, arch) for text in mm.PROMPTS]
        if all(r["min_top1_gap"] > mm.MIN_GAP for _, r in runs):
            break
    else:
        raise RuntimeError(f"{name}: every mix has a near-tied greedy step")
    n_checked = check_transformers_reads_same(folder, fname, arch, cfg, new_state)

    prompts = []
    max_dev = 0.0
    for i, ((tensors, record), base_p) in enumerate(zip(runs, base_expected["prompts"])):
        text = record["text"]
        assert record["input_ids"] == base_p["input_ids"], (name, text)
        assert record["min_top1_gap"] > mm.MIN_GAP, (name, i, record["min_top1_gap"])
        base_file = hf_dir / base_p["expected_file"]
        base_tensors = load_numpy(base_file)
        if storage == "f32":
            # The same weights: the HF fixture's expected files apply as they are.
            for k, v in tensors.items():
                # qwen3-tiny's HF fixture was computed with torch's default threads, this with
                # one: sums may differ in the last bits.
                tol = 1e-5 if arch == "qwen3" else 0.0
                assert np.allclose(base_tensors[k], v.numpy(), rtol=0, atol=tol), (
                    name, k, float(np.abs(base_tensors[k] - v.numpy()).max()))
            assert record["greedy_ids"] == base_p["greedy_ids"], name
            record["expected_file"] = str(base_file.relative_to(FIXTURES))
        else:
            fn = f"expected_{i}.safetensors"
            save_file(tensors, folder / fn)
            saved = load_numpy(folder / fn)
            for k, v in tensors.items():
                assert np.array_equal(saved[k], v.numpy()), (name, k)
                max_dev = max(max_dev, float(np.abs(base_tensors[k] - v.numpy()).max()))
            record["expected_file"] = str((folder / fn).relative_to(FIXTURES))
        prompts.append(record)
    counts = {}
    for t in types.values():
        counts[t] = counts.get(t, 0) + 1
    doc = dict(model=name, gguf_file=fname, hf_fixture=base, arch=arch, storage=storage,
               tokenizer=base_expected["tokenizer"], tensor_types=counts,
               key_layout="hf_rotate_half",
               transformers_version=importlib.metadata.version("transformers"),
               gguf_version=importlib.metadata.version("gguf"), prompts=prompts)
    (folder / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    size = (folder / fname).stat().st_size
    assert size < MAX_BYTES, (name, size)
    print(f"{name}: {size} bytes, {counts}, transformers' reader agrees on {n_checked} tensors,"
          f" gaps {[round(p['min_top1_gap'], 3) for p in prompts]}"
          + (f", max |quantized - fp32 expected| {max_dev:.3g}" if storage != "f32" else ""))


# ---------------------------------------------------------------------------------------------
# Files the loader must refuse.


def make_bad():
    bad = OUT_DIR / "bad"
    if bad.exists():
        shutil.rmtree(bad)
    bad.mkdir(parents=True)
    rng = np.random.default_rng(0)
    tokens = ["<unk>", "<s>", "</s>", "a", "b", "ab"]

    def tiny_tokenizer(w):
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt-2")
        w.add_token_list(tokens)
        w.add_token_types([CONTROL, CONTROL, CONTROL, NORMAL, NORMAL, NORMAL])
        w.add_token_merges(["a b"])
        w.add_eos_token_id(2)

    # An architecture kvscope does not run.
    w = gguf.GGUFWriter(str(bad / "mamba.gguf"), arch="mamba")
    w.add_block_count(1)
    w.add_context_length(16)
    w.add_embedding_length(8)
    tiny_tokenizer(w)
    w.add_tensor("token_embd.weight", rng.normal(size=(len(tokens), 8)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # A llama whose metadata says 2 kv heads of 4 dims ([8, 16] for attn_k) while the file's
    # attn_k is [16, 16].
    d, heads, kv_heads, ff = 16, 4, 2, 32
    w = gguf.GGUFWriter(str(bad / "kv_heads_mismatch.gguf"), arch="llama")
    w.add_context_length(16)
    w.add_embedding_length(d)
    w.add_feed_forward_length(ff)
    w.add_block_count(1)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(d // heads)
    tiny_tokenizer(w)
    shapes = {"token_embd.weight": (len(tokens), d), "blk.0.attn_norm.weight": (d,),
              "blk.0.attn_q.weight": (d, d), "blk.0.attn_k.weight": (d, d),  # the lie
              "blk.0.attn_v.weight": (kv_heads * d // heads, d),
              "blk.0.attn_output.weight": (d, d), "blk.0.ffn_norm.weight": (d,),
              "blk.0.ffn_gate.weight": (ff, d), "blk.0.ffn_up.weight": (ff, d),
              "blk.0.ffn_down.weight": (d, ff), "output_norm.weight": (d,)}
    for n, s in shapes.items():
        w.add_tensor(n, rng.normal(size=s).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    for f in bad.iterdir():
        assert f.stat().st_size < 20_000, f
    print("bad:", sorted(f.name for f in bad.iterdir()))


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    names = sys.argv[1:] or list(FILES)  # a subset: only those files, and not bad/
    for name in names:
        base, storage = FILES[name]
        make_file(name, base, storage)
    if not sys.argv[1:]:
        make_bad()


if __name__ == "__main__":
    main()
