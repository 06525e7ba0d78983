#!/usr/bin/env python3
"""Writes the seed corpus for fuzz/tokenizer_fuzz.cpp into fuzz/corpus/tokenizer/: the test
tokenizers of tests/fixtures/tokenizer cut down to a few hundred tokens, each as
    tokenizer.json NUL tokenizer_config.json NUL text
which is the input format of the target.

A tokenizer is cut down consistently: it keeps the tokens that no merge makes (bytes,
characters, <0xXX> byte tokens, added tokens), then the first merges whose two halves are kept,
with the tokens they make. Ids are renumbered in their old order, and added tokens and the
post-processor's special token ids follow."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "tokenizer")
OUT = os.path.join(HERE, "corpus", "tokenizer")
MAX_SEED = 20000  # bytes


def merge_pair(m):
    return tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)


def base_token(token, made):
    """A token no merge makes, short enough to be a byte, a character or a byte token."""
    return token not in made and (len(token) <= 1 or (token.startswith("<0x") and len(token) == 6))


def cut(tok, n_merges):
    model = tok["model"]
    vocab = model["vocab"]
    merges = [merge_pair(m) for m in model["merges"]]
    added = {a["content"] for a in tok.get("added_tokens") or []}
    made = {a + b for a, b in merges}
    kept = {t for t in vocab if base_token(t, made) or t in added}
    kept_merges = []
    for a, b in merges:
        if len(kept_merges) == n_merges:
            break
        if a in kept and b in kept and a + b in vocab:
            kept_merges.append((a, b))
            kept.add(a + b)
    old_ids = sorted(vocab[t] for t in kept)
    new_id = {old: new for new, old in enumerate(old_ids)}
    # Added tokens outside the vocab (an id past its end) go after it, in their old order.
    for a in sorted(tok.get("added_tokens") or [], key=lambda a: a["id"]):
        if a["id"] not in new_id:
            new_id[a["id"]] = len(new_id)
    model["vocab"] = {t: new_id[vocab[t]] for t in sorted(kept, key=lambda t: vocab[t])}
    string_merges = all(isinstance(m, str) for m in model["merges"])
    model["merges"] = [f"{a} {b}" if string_merges else [a, b] for a, b in kept_merges]
    for a in tok.get("added_tokens") or []:
        a["id"] = new_id[a["id"]]
    renumber_post_processor(tok.get("post_processor"), new_id)
    return tok


def renumber_post_processor(p, new_id):
    if not isinstance(p, dict):
        return
    for q in p.get("processors") or []:
        renumber_post_processor(q, new_id)
    for s in (p.get("special_tokens") or {}).values():
        s["ids"] = [new_id[i] for i in s["ids"]]


def load(name):
    with open(os.path.join(FIXTURES, name, "tokenizer.json"), encoding="utf-8") as f:
        return json.load(f)


def config(name):
    path = os.path.join(FIXTURES, name, "tokenizer_config.json")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read()


def seed(tok, cfg, text):
    j = json.dumps(tok, ensure_ascii=False, separators=(",", ":")).encode()
    return j + b"\0" + cfg.encode() + b"\0" + text.encode()


def with_added_tokens(tok):
    """Adds tokens that strip neighbouring spaces, one not special and one past the vocab."""
    n = max(tok["model"]["vocab"].values()) + 1
    n = max([n] + [a["id"] + 1 for a in tok["added_tokens"]])
    tok["added_tokens"] += [
        {"id": n, "content": "<|user|>", "single_word": False, "lstrip": True, "rstrip": True,
         "normalized": False, "special": True},
        {"id": n + 1, "content": "[MASK]", "single_word": False, "lstrip": True, "rstrip": False,
         "normalized": False, "special": False},
        {"id": n + 3, "content": "<|user", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
    ]
    return tok


SEEDS = {
    # GPT-2: ByteLevel pre-tokenizer with its regex, <|endoftext|> as id 0.
    "gpt2_byte_level": (cut(load("gpt2"), 150), "",
                        "Hello world! It's 2024,\tthe  end.\n<|endoftext|>caf\u00e9 \U0001F600"),
    # Llama 3: Split regex then ByteLevel without regex, ignore_merges, bos by template.
    "llama3_split": (cut(load("llama3"), 150), config("llama3"),
                     "<|begin_of_text|>I'll say 12345 things\r\n\n  ok?<|eot_id|>"),
    # Qwen2: NFC normalizer, chat tokens; the text has a decomposed e + combining acute.
    "qwen2_nfc_chat": (cut(load("qwen2"), 150), config("qwen2"),
                       "<|im_start|>user\nCafe\u0301 \u2163 \uff21<|im_end|>\n<|im_start|>"),
    # SmolLM2: Digits then ByteLevel, many added tokens.
    "smollm2_digits": (cut(load("smollm2"), 150), config("smollm2"),
                       "x = 3.14159 * \u0663\u00bd<|im_end|>"),
    # Llama 2: Prepend + Replace normalizer, byte fallback, fused <unk>, bos by template.
    "llama2_byte_fallback": (cut(load("llama2"), 150), config("llama2"),
                             "<s>Hello  there \U0001F600 \u4e2d\u6587 </s>tail"),
    # Llama 2 with a Metaspace pre-tokenizer (prepend_scheme first) and decoder.
    "llama2_metaspace": (cut(load("llama2_metaspace"), 150), config("llama2_metaspace"),
                         " leading space<s> and after"),
    # Added tokens with lstrip/rstrip, a non-special one, one past the vocab, a prefix of
    # another; add_eos from the config.
    "gpt2_added_tokens": (with_added_tokens(cut(load("gpt2"), 60)),
                          '{"eos_token": "<|user|>", "add_eos_token": true}',
                          "a  <|user|>  b [MASK] c<|user<|user|>"),
}

os.makedirs(OUT, exist_ok=True)
for name, (tok, cfg, text) in SEEDS.items():
    data = seed(tok, cfg, text)
    assert len(data) <= MAX_SEED, (name, len(data))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
