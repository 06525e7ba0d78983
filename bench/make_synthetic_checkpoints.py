#!/usr/bin/env python3
"""Writes random-weight checkpoints of real model shapes, for memory and speed benchmarks.

  make_synthetic_checkpoints.py --out DIR [NAME ...] [--seed 0] [--force]

NAME (default: tiny):
  llama3-8b-q4km.gguf   Llama-3.1-8B's shape (32 layers, d_model 4096, 32 query / 8 key-value
                        heads of 128, FFN 14336, vocab 128256, llama3 RoPE scaling) with
                        llama.cpp's Q4_K_M mix of types: token_embd Q4_K, output Q6_K,
                        attn_v and ffn_down Q6_K on the layers llama.cpp gives more bits
                        (the first and last eighth and every third in between), every other
                        matrix Q4_K, norms F32 (~4.9 GB).
  llama3-8b-bf16        the same shape as a Hugging Face folder: config.json, tokenizer.json,
                        tokenizer_config.json, bf16 safetensors in ~5 GB shards with
                        model.safetensors.index.json (~16 GB).
  llama-1b-q4_0.gguf    Llama-3.2-1B's shape (16 layers, d_model 2048, 32/8 heads of 64,
                        FFN 8192, vocab 128256, tied embeddings), every matrix Q4_0 (~663 MiB).
  ci-q4_0.gguf          8 layers, d_model 1024, 16/4 heads of 64, FFN 2816, vocab 32000, tied,
                        Q4_0 (~70 MB; fp32 would be ~490 MB), for tests/cli/memory.sh.
  tiny-q4km.gguf, tiny-q4_0.gguf, tiny-bf16
                        4 layers, d_model 256, 4/2 heads of 64, FFN 512, vocab 2048, in the
                        same three layouts (well under 10 MB each), for smoke tests.
  tiny                  the three tiny ones; 8b: the two 8B ones; all: everything.

Every file carries a tokenizer kvscope and llama.cpp can load: a byte-level BPE (llama-bpe
pre-tokenizer, as Llama 3's) whose merges are learned from a few paragraphs of English in this
script, padded with unused tokens to the vocabulary size, with Llama 3's special tokens at the
end (<|begin_of_text|>, <|end_of_text|>, reserved ones). Generated text is of course noise.

Weights: the gguf package quantizes Q4_0 (random normal values, std 0.02); it cannot quantize
K-quants, so Q4_K and Q6_K blocks are random but valid (random 4- and 6-bit quants and
sub-block scales, f16 super-block scales chosen so that weights are of order 0.02). bf16 values
are random sign and mantissa with exponents between 2^-9 and 2^-6. Norm weights are 1 (+/- a
little). Everything is seeded, so the same NAME and --seed give the same bytes.

Each file is written under a `.part` name and renamed when complete; a folder is written as
`NAME.part/` and renamed. Tensors are streamed in chunks of at most CHUNK_BYTES, so the
script's memory stays at a few hundred MB whatever the model's size. Existing outputs are kept
unless --force is given.

Needs: numpy and gguf (tests/oracle/requirements.txt pins both).
"""
import argparse
import json
import math
import os
import re
import shutil
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as QT
except ImportError:  # pragma: no cover - a message, not a traceback
    sys.exit("make_synthetic_checkpoints.py: the Python package 'gguf' is needed "
             "(pip install -r tests/oracle/requirements.txt)")

CHUNK_BYTES = 64 << 20  # bytes of output produced per step when streaming a tensor


@dataclass
class Shape:
    n_layer: int
    d_model: int
    n_head: int
    n_kv_head: int
    head_dim: int
    d_ff: int
    vocab: int
    n_special: int  # special tokens at the end of the vocabulary
    n_ctx: int
    rope_theta: float
    tied: bool
    llama3_rope: bool  # Llama-3.1's rope scaling (factor 8, low 1, high 4, original 8192)
    name: str = ""
    extra: dict = field(default_factory=dict)


LLAMA3_8B = Shape(n_layer=32, d_model=4096, n_head=32, n_kv_head=8, head_dim=128, d_ff=14336,
                  vocab=128256, n_special=256, n_ctx=131072, rope_theta=500000.0, tied=False,
                  llama3_rope=True, name="Llama-3.1-8B shape (random weights)")
LLAMA_1B = Shape(n_layer=16, d_model=2048, n_head=32, n_kv_head=8, head_dim=64, d_ff=8192,
                 vocab=128256, n_special=256, n_ctx=131072, rope_theta=500000.0, tied=True,
                 llama3_rope=True, name="Llama-3.2-1B shape (random weights)")
# Big enough that an fp32 copy of its weights (~490 MB) stands far above its file (~70 MB), small
# enough to make and run in a test: tests/cli/memory.sh bounds kvscope's peak memory on it.
CI_SIZE = Shape(n_layer=8, d_model=1024, n_head=16, n_kv_head=4, head_dim=64, d_ff=2816,
                vocab=32000, n_special=8, n_ctx=2048, rope_theta=500000.0, tied=True,
                llama3_rope=False, name="test-sized Llama shape (random weights)")
TINY = Shape(n_layer=4, d_model=256, n_head=4, n_kv_head=2, head_dim=64, d_ff=512, vocab=2048,
             n_special=8, n_ctx=4096, rope_theta=500000.0, tied=False, llama3_rope=True,
             name="tiny Llama shape (random weights)")

# name -> (shape, layout); layout is "q4km", "q4_0" or "bf16"
CHECKPOINTS = {
    "llama3-8b-q4km.gguf": (LLAMA3_8B, "q4km"),
    "llama3-8b-bf16": (LLAMA3_8B, "bf16"),
    "llama-1b-q4_0.gguf": (LLAMA_1B, "q4_0"),
    "ci-q4_0.gguf": (CI_SIZE, "q4_0"),
    "tiny-q4km.gguf": (TINY, "q4km"),
    "tiny-q4_0.gguf": (TINY, "q4_0"),
    "tiny-bf16": (TINY, "bf16"),
}
GROUPS = {
    "tiny": ["tiny-q4km.gguf", "tiny-q4_0.gguf", "tiny-bf16"],
    "8b": ["llama3-8b-q4km.gguf", "llama3-8b-bf16"],
    "all": list(CHECKPOINTS),
}

# ---------------------------------------------------------------------------------------------
# Tokenizer: byte-level BPE learned from this text.

CORPUS = """\
A language model that reads a long document keeps, for every layer and every token it has
seen, a key and a value vector. Together they are called the key-value cache. When the model
writes the next word, its queries look at all of those keys, and the values of the keys that
match best are mixed into the answer. The cache grows with every token: for an eight billion
parameter model it takes about one hundred and twenty eight kilobytes per token, so a context
of one hundred thousand tokens needs more memory than the weights themselves.

People who study the cache want to know what is in it. Some keys have a few channels that are
much larger than the others; some heads look mostly at the first token; some values could be
stored in four bits without changing the output. Methods that evict tokens, merge them, or
quantize them are judged by how little they change what the model says next.

The quick brown fox jumps over the lazy dog. In 1969, 2001 and 2024 the numbers 3, 14, 159
and 2653 were written down; prices rose by 7.5 percent, and 42 people met at 10:30 on the
first of May. Questions, answers, and notes: what, when, where, why, how? "Yes," she said,
"it works." Memory bandwidth, not arithmetic, limits how fast one token can be decoded on a
processor: every weight is read once per token, so a model stored in four bits reads a quarter
of the bytes that the same model stored in sixteen bits would.
"""

# The pre-tokenizer pattern of Llama 3 (llama.cpp's "llama-bpe"), in Hugging Face's syntax.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# An ASCII approximation of it for learning merges here (Python's re has no \p{..}).
_WORDS = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\r\n A-Za-z0-9]?[A-Za-z]+|[0-9]{1,3}|"
                    r" ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+")


def byte_level_chars():
    """The printable character GPT-2's byte-level BPE uses for each byte value 0..255."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
            + list(range(ord("\xae"), ord("\xff") + 1)))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


@dataclass
class Vocab:
    tokens: list  # strings, id order
    types: list  # GGUF token types: 1 normal, 3 control, 5 unused
    merges: list  # "a b" strings, rank order
    bos: int
    eos: int


def learn_merges(max_merges):
    chars = byte_level_chars()
    words = Counter(
        tuple(chars[b] for b in w.encode("utf-8")) for w in _WORDS.findall(CORPUS))
    merges = []
    while len(merges) < max_merges:
        pairs = Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), n = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if n < 2:
            break
        merges.append((a, b))
        merged = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
    return merges


def make_vocab(shape):
    n_regular = shape.vocab - shape.n_special
    merges = learn_merges(max(0, min(2000, n_regular - 256)))
    tokens = list(byte_level_chars())
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            tokens.append(a + b)
            seen.add(a + b)
    types = [1] * len(tokens)
    while len(tokens) < n_regular:
        tokens.append(f"<|unused_{len(tokens)}|>")
        types.append(5)
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    specials += [f"<|reserved_special_token_{i}|>" for i in range(shape.n_special - 2)]
    tokens += specials
    types += [3] * len(specials)
    assert len(tokens) == shape.vocab and len(set(tokens)) == shape.vocab
    return Vocab(tokens, types, [f"{a} {b}" for a, b in merges], n_regular, n_regular + 1)


def tokenizer_json(v: Vocab):
    n_regular = v.bos
    added = [{"id": i, "content": v.tokens[i], "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for i in range(n_regular, len(v.tokens))]
    bos = v.tokens[v.bos]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [v.bos], "tokens": [bos]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": {v.tokens[i]: i for i in range(n_regular)},
                  "merges": [m.split(" ") for m in v.merges]},
    }


# ---------------------------------------------------------------------------------------------
# Tensors.

def use_more_bits(i_layer, n_layer):
    """llama.cpp's choice of the layers whose attn_v and ffn_down get more bits in Q4_K_M."""
    return (i_layer < n_layer // 8 or i_layer >= 7 * n_layer // 8
            or (i_layer - n_layer // 8) % 3 == 2)


def llama3_rope_factors(s: Shape):
    """rope_freqs.weight as llama.cpp's converter writes it for Llama-3.1 (factor 8, low 1,
    high 4, original context 8192): the number each RoPE frequency is divided by."""
    factor, low, high, orig = 8.0, 1.0, 4.0, 8192
    out = []
    for i in range(0, s.head_dim, 2):
        freq = 1.0 / (s.rope_theta ** (i / s.head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < orig / high:
            out.append(1.0)
        elif wavelen > orig / low:
            out.append(factor)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


@dataclass
class Tensor:
    name: str  # GGUF name
    hf_name: str  # Hugging Face name ("" when the folder has no such tensor)
    shape: tuple  # numpy order: (rows, cols) or (n,)
    kind: str  # "matrix", "norm" or "rope_freqs"
    qtype: object = None  # GGUF type of a matrix


def tensor_list(s: Shape, layout):
    kv = s.n_kv_head * s.head_dim
    qd = s.n_head * s.head_dim
    q4 = {"q4km": QT.Q4_K, "q4_0": QT.Q4_0, "bf16": QT.BF16}[layout]
    hi = QT.Q6_K if layout == "q4km" else q4
    t = [Tensor("token_embd.weight", "model.embed_tokens.weight", (s.vocab, s.d_model), "matrix",
                q4),
         Tensor("output_norm.weight", "model.norm.weight", (s.d_model,), "norm")]
    if not s.tied:
        t.append(Tensor("output.weight", "lm_head.weight", (s.vocab, s.d_model), "matrix", hi))
    if s.llama3_rope and layout != "bf16":
        t.append(Tensor("rope_freqs.weight", "", (s.head_dim // 2,), "rope_freqs"))
    for i in range(s.n_layer):
        more = hi if use_more_bits(i, s.n_layer) else q4
        p, h = f"blk.{i}.", f"model.layers.{i}."
        t += [
            Tensor(p + "attn_norm.weight", h + "input_layernorm.weight", (s.d_model,), "norm"),
            Tensor(p + "attn_q.weight", h + "self_attn.q_proj.weight", (qd, s.d_model), "matrix",
                   q4),
            Tensor(p + "attn_k.weight", h + "self_attn.k_proj.weight", (kv, s.d_model), "matrix",
                   q4),
            Tensor(p + "attn_v.weight", h + "self_attn.v_proj.weight", (kv, s.d_model), "matrix",
                   more),
            Tensor(p + "attn_output.weight", h + "self_attn.o_proj.weight", (s.d_model, qd),
                   "matrix", q4),
            Tensor(p + "ffn_norm.weight", h + "post_attention_layernorm.weight", (s.d_model,),
                   "norm"),
            Tensor(p + "ffn_gate.weight", h + "mlp.gate_proj.weight", (s.d_ff, s.d_model),
                   "matrix", q4),
            Tensor(p + "ffn_up.weight", h + "mlp.up_proj.weight", (s.d_ff, s.d_model), "matrix",
                   q4),
            Tensor(p + "ffn_down.weight", h + "mlp.down_proj.weight", (s.d_model, s.d_ff),
                   "matrix", more),
        ]
    return t


def gguf_type(t: Tensor):
    return t.qtype if t.kind == "matrix" else QT.F32


def gguf_nbytes(t: Tensor):
    qt = gguf_type(t)
    block, size = gguf.GGML_QUANT_SIZES[qt]
    n = int(np.prod(t.shape))
    assert n % block == 0 and t.shape[-1] % block == 0, (t.name, t.shape, qt)
    return n // block * size


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8).reshape(-1, 2)


def random_q4_k(rng, n_blocks):
    """Q4_K super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes
    of 4-bit quants; x = d * scale * q - dmin * min. d ~ 5e-5 and dmin ~ 7.5 d center the
    values near 0 with a spread of about 0.02."""
    b = np.frombuffer(bytearray(rng.bytes(n_blocks * 144)), dtype=np.uint8).reshape(n_blocks, 144)
    d = rng.uniform(4e-5, 6e-5, n_blocks)
    b[:, 0:2] = f16_bytes(d)
    b[:, 2:4] = f16_bytes(d * 7.5)
    return b


def random_q6_k(rng, n_blocks):
    """Q6_K super-blocks of 256: 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales,
    f16 d; x = d * scale * (q - 32). Scales in [-64, 63] and d ~ 4e-5."""
    b = np.frombuffer(bytearray(rng.bytes(n_blocks * 210)), dtype=np.uint8).reshape(n_blocks, 210)
    b[:, 192:208] = (rng.integers(-64, 64, (n_blocks, 16), dtype=np.int8)).view(np.uint8)
    b[:, 208:210] = f16_bytes(rng.uniform(3e-5, 5e-5, n_blocks))
    return b


def random_bf16(rng, n):
    """Random bf16 bit patterns: random sign and 7-bit mantissa, exponent 2^-9 .. 2^-6."""
    r = np.frombuffer(rng.bytes(2 * n), dtype=np.uint16)
    exponent = (118 + ((r >> 7) & 3)).astype(np.uint16)
    return (r & np.uint16(0x807F)) | (exponent << np.uint16(7))


def matrix_chunks(t: Tensor, rng, qtype):
    """Yields the tensor's bytes (GGUF) or bf16 values, a block of rows at a time."""
    rows, cols = t.shape
    if qtype == QT.BF16:
        row_bytes = cols * 2
    else:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        row_bytes = cols // block * size
    step = max(1, min(rows, CHUNK_BYTES // row_bytes))
    if qtype == QT.Q4_0:  # gguf quantizes from float32: 8x the output, so smaller steps
        step = max(1, step // 8)
    for r0 in range(0, rows, step):
        n = min(step, rows - r0)
        if qtype == QT.Q4_K:
            yield random_q4_k(rng, n * cols // 256)
        elif qtype == QT.Q6_K:
            yield random_q6_k(rng, n * cols // 256)
        elif qtype == QT.Q4_0:
            x = rng.standard_normal((n, cols), dtype=np.float32) * np.float32(0.02)
            yield gguf.quants.quantize(x, QT.Q4_0)
        elif qtype == QT.BF16:
            yield random_bf16(rng, n * cols)
        else:
            raise ValueError(f"{t.name}: no generator for {qtype.name}")


def small_tensor(t: Tensor, s: Shape, rng):
    if t.kind == "rope_freqs":
        return llama3_rope_factors(s)
    return (1.0 + rng.uniform(-0.05, 0.05, t.shape)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Writers.

def write_gguf(path, s: Shape, layout, seed):
    tensors = tensor_list(s, layout)
    vocab = make_vocab(s)
    part = path + ".part"
    w = gguf.GGUFWriter(part, "llama")
    w.add_name(s.name)
    w.add_file_type({"q4km": gguf.LlamaFileType.MOSTLY_Q4_K_M,
                     "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[layout])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(s.n_ctx)
    w.add_embedding_length(s.d_model)
    w.add_block_count(s.n_layer)
    w.add_feed_forward_length(s.d_ff)
    w.add_head_count(s.n_head)
    w.add_head_count_kv(s.n_kv_head)
    w.add_key_length(s.head_dim)
    w.add_value_length(s.head_dim)
    w.add_rope_dimension_count(s.head_dim)
    w.add_rope_freq_base(s.rope_theta)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(s.vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(vocab.tokens)
    w.add_token_types(vocab.types)
    w.add_token_merges(vocab.merges)
    w.add_bos_token_id(vocab.bos)
    w.add_eos_token_id(vocab.eos)
    w.add_add_bos_token(True)
    for t in tensors:
        w.add_tensor_info(t.name, t.shape, np.dtype(np.float32), gguf_nbytes(t),
                          raw_dtype=gguf_type(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    # The tensor data, streamed: GGUFWriter.write_tensor_data wants a whole tensor in memory,
    # so the bytes go to its file directly, aligned and padded the way it would do it.
    fout = w.fout[0]
    for i, t in enumerate(tensors):
        rng = np.random.default_rng([seed, i])
        w.write_padding(fout, fout.tell())
        written = 0
        if t.kind == "matrix":
            for chunk in matrix_chunks(t, rng, t.qtype):
                chunk.tofile(fout)
                written += chunk.nbytes
        else:
            a = small_tensor(t, s, rng)
            a.tofile(fout)
            written = a.nbytes
        assert written == gguf_nbytes(t), (t.name, written, gguf_nbytes(t))
        w.write_padding(fout, written)
        w.tensors[0].pop(t.name)
    fout.flush()
    os.fsync(fout.fileno())
    w.close()
    os.replace(part, path)


def safetensors_header(entries):
    """entries: list of (name, shape, nbytes). Returns the header bytes (length prefix included)
    and the offsets of each tensor in the data section."""
    meta = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape, nbytes in entries:
        meta[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    text = json.dumps(meta, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def write_hf_folder(path, s: Shape, seed, shard_bytes=5 * 10**9):
    tensors = [t for t in tensor_list(s, "bf16") if t.hf_name]
    vocab = make_vocab(s)
    part = path + ".part"
    if os.path.exists(part):
        shutil.rmtree(part)
    os.makedirs(part)

    shards, current, size = [], [], 0
    for t in tensors:
        nbytes = int(np.prod(t.shape)) * 2
        if current and size + nbytes > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(t)
        size += nbytes
    shards.append(current)

    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        fname = (f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors" if len(shards) > 1
                 else "model.safetensors")
        entries = [(t.hf_name, t.shape, int(np.prod(t.shape)) * 2) for t in shard]
        with open(os.path.join(part, fname), "wb") as f:
            f.write(safetensors_header(entries))
            for t in shard:
                rng = np.random.default_rng([seed, hash_name(t.hf_name)])
                if t.kind == "matrix":
                    for chunk in matrix_chunks(t, rng, QT.BF16):
                        chunk.tofile(f)
                else:
                    x = small_tensor(t, s, rng)
                    (x.view(np.uint32) >> 16).astype(np.uint16).tofile(f)
                weight_map[t.hf_name] = fname
                total += int(np.prod(t.shape)) * 2
            f.flush()
            os.fsync(f.fileno())
    if len(shards) > 1:
        with open(os.path.join(part, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": s.d_model,
        "intermediate_size": s.d_ff,
        "num_hidden_layers": s.n_layer,
        "num_attention_heads": s.n_head,
        "num_key_value_heads": s.n_kv_head,
        "head_dim": s.head_dim,
        "vocab_size": s.vocab,
        "max_position_embeddings": s.n_ctx,
        "rms_norm_eps": 1e-5,
        "rope_theta": s.rope_theta,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": s.tied,
        "bos_token_id": vocab.bos,
        "eos_token_id": vocab.eos,
        "torch_dtype": "bfloat16",
    }
    if s.llama3_rope:
        config["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 8192}
    with open(os.path.join(part, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(part, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(vocab), f, ensure_ascii=False)
    with open(os.path.join(part, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": vocab.tokens[vocab.bos], "eos_token": vocab.tokens[vocab.eos],
                   "add_bos_token": True}, f, indent=1)
    if os.path.exists(path):
        shutil.rmtree(path)
    os.replace(part, path)


def hash_name(name):
    """A stable integer from a tensor name (Python's hash() is salted per process)."""
    h = 0
    for c in name.encode():
        h = (h * 131 + c) % (1 << 61)
    return h


def size_of(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="names: " + ", ".join(list(CHECKPOINTS) + list(GROUPS)))
    ap.add_argument("--out", required=True, help="folder the checkpoints are written into")
    ap.add_argument("names", nargs="*", default=["tiny"], help="checkpoints to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rewrite checkpoints that exist")
    args = ap.parse_args()

    names = []
    for n in args.names:
        for m in GROUPS.get(n, [n]):
            if m not in CHECKPOINTS:
                ap.error(f"unknown checkpoint '{n}' (known: "
                         f"{', '.join(list(CHECKPOINTS) + list(GROUPS))})")
            if m not in names:
                names.append(m)
    os.makedirs(args.out, exist_ok=True)
    for n in names:
        shape, layout = CHECKPOINTS[n]
        path = os.path.join(args.out, n)
        if os.path.exists(path) and not args.force:
            print(f"{path}: exists, kept ({size_of(path) / 1e9:.3f} GB)")
            continue
        t0 = time.time()
        if layout == "bf16":
            write_hf_folder(path, shape, args.seed)
        else:
            write_gguf(path, shape, layout, args.seed)
        print(f"{path}: {size_of(path) / 1e9:.3f} GB written in {time.time() - t0:.1f} s",
              flush=True)


if __name__ == "__main__":
    main()
