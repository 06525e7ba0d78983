#!/usr/bin/env python3
"""Builds the tokenizer fixtures under tests/fixtures/tokenizer/ with Hugging Face `tokenizers`.

Each tokenizer is trained here on a built-in text (no Hub access), except SmolLM2, which
transformers rebuilds from the default model's GGUF (models/SmolLM2-135M-Instruct.Q4_1.gguf).
For every tokenizer and every string of corpus.json we store the ids with and without special
tokens and the decode of those ids (with and without skipping specials); the C++ tests must
reproduce them exactly.

Usage: tests/oracle/make_tokenizer_fixtures.py [--gguf models/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import argparse
import json
import os
import tempfile

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")

# The published split patterns, as they appear in the models' tokenizer.json files.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

TRAINING_TEXT = """\
The key-value cache holds, for every layer and every head, the keys and values of the tokens
seen so far. When a language model generates text it reuses them instead of recomputing the
whole prefix, which is why long prompts are cheap to extend but expensive to keep in memory.
People who compress, quantize or evict entries of the cache want to know what it looks like:
which heads attend to the first token, which channels of the keys carry outliers, how much
error a 4-bit format adds. They'll ask what it costs, and they're right to; we've measured it.
I'm sure you'd agree that numbers like 3.14159, 2718281828, 1,000,000 and 42 matter here.
def attention(q, k, v):
    scores = q @ k.T / math.sqrt(q.shape[-1])
    weights = softmax(scores, axis=-1)
    return weights @ v

for (int i = 0; i < n; ++i) { sum += x[i] * y[i]; }
if (err != 0) { return -1; }  // TODO: handle it
Le café était très chaud; l'été dernier, nous étions à Zürich et à São Paulo.
Die Straße ist naß, aber schön. Ça va? Ñandú, über, crème brûlée, naïve façade.
東京は日本の首都です。我喜欢学习语言模型。한국어도 조금 합니다。
مرحبا بالعالم، كيف حالك اليوم؟ שלום עולם. Привет, мир! Как дела?
Emoji: 😀 🎉 👍🏽 👨‍👩‍👧 ❤️ 🇫🇷 — quotes “like this” and ‘this’ … and € £ ¥.
THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG. IT'S HE'LL WE'VE YOU'RE I'D.
the quick brown fox jumps over the lazy dog. it's he'll we've you're i'd.
\tTabs\tand    spaces   and

newlines matter for code.
"""


def training_lines():
    lines = TRAINING_TEXT.splitlines()
    # Repetition gives the trainer pair counts to rank; variants add vocabulary.
    out = []
    for i in range(40):
        for line in lines:
            out.append(line if i % 2 == 0 else line.upper() if i % 3 == 0 else " " + line)
    return out


def make_corpus():
    c = [
        "",
        " ",
        "  ",
        "\n",
        "\t",
        "a",
        "Hello",
        "Hello world",
        " Hello world",
        "Hello  world",
        "Hello world ",
        "Hello world  ",
        "hello\nworld",
        "hello\n\nworld\n",
        "hello\r\nworld\r\n",
        "line one\n  indented\n\tTabbed\n\n\n",
        "The quick brown fox jumps over the lazy dog.",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
        "It's fine, isn't it? They'll say we've done what you'd do.",
        "IT'S FINE, ISN'T IT? THEY'LL SAY WE'VE DONE WHAT YOU'D DO.",
        "IT'S HE'S SHE'LL I'M YOU'VE WE'D THEY'RE",
        "it's he's she'll i'm you've we'd they're",
        "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D",
        "don't DON'T Don'T o'clock rock'n'roll",
        "12345",
        "1234567890123456789012345678901234567890",
        "3.14159 2.71828 -42 +7 1e-9 0x1F 0b1010",
        "1,000,000 and 10.000,50 and 2024-01-31",
        "Order #12345 costs $99.99 (or €89,95).",
        "٠١٢٣٤٥٦٧٨٩ and ١٢٣",
        "①②③ ½ ² ³ Ⅻ",
        "def f(x):\n    return x * 2\n",
        "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
        "if (a && b || !c) { x = y >> 2; }",
        "print('hello, world!')  # comment",
        "<div class=\"box\">Hi &amp; bye</div>",
        "SELECT * FROM users WHERE id = 42;",
        "https://example.com/path?query=1&x=y#frag",
        "user@example.com",
        "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
        "a.b.c...d!!!e???f",
        "!!!???...,,,;;;:::",
        "((()))[[[]]]{{{}}}",
        "~`@#$%^&*-_=+|\\/",
        "😀",
        "😀😀😀",
        "Hello 😀 world 🎉!",
        "👨‍👩‍👧‍👦 family",
        "👍🏽👍🏿",
        "🇫🇷🇯🇵🇺🇸",
        "❤️ and ❤",
        "🧑‍💻 coding",
        "東京は日本の首都です。",
        "我喜欢学习语言模型。",
        "한국어 텍스트입니다",
        "日本語とEnglishの混在text",
        "مرحبا بالعالم",
        "كيف حالك اليوم؟",
        "שלום עולם",
        "Привет, мир! Как дела?",
        "Ελληνικά γράμματα",
        "हिन्दी भाषा",
        "ภาษาไทย",
        "café naïve façade résumé",
        "cafe\u0301 nai\u0308ve",
        "e\u0301\u0301\u0301",
        "Zürich São Paulo Ñandú",
        "Straße ß ẞ",
        "ﬁ ﬂ ﬀ ligatures",
        "Ｆｕｌｌｗｉｄｔｈ",
        "\u200b zero\u200bwidth \u200d joiner",
        "\u00a0non-breaking\u00a0space",
        "\u3000ideographic space",
        "“smart quotes” ‘single’ — dash … ellipsis",
        "€ £ ¥ ₹ ₿ ©®™",
        "tab\there",
        "\t\t\tthree tabs",
        "trailing tabs\t\t",
        "many     spaces     here",
        "      leading spaces",
        "trailing spaces      ",
        " \n \n ",
        "\n\n\n\n",
        "\r\n\r\n",
        " \t \t ",
        "mixed \t\n whitespace \n\t end",
        "word" * 50,
        "a" * 300,
        "Supercalifragilisticexpialidocious",
        "pneumonoultramicroscopicsilicovolcanoconiosis",
        "x" * 5 + " " * 5 + "y" * 5,
        "<|endoftext|>",
        "Hello<|endoftext|>world",
        "Hello <|endoftext|> world",
        "<|endoftext|><|endoftext|>",
        "text before <|endoftext|>",
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
        "<s>",
        "</s>",
        "<s> Hello </s>",
        "a <unk> b",
        "<|begin_of_text|>Hi<|eot_id|>",
        "<0x41> is not a byte token in text",
        "<|endoftext",
        "endoftext|>",
        "< |endoftext| >",
        "▁already▁has▁metaspace",
        "ĠĊ are byte-level chars",
        "\x00\x01\x02 control \x7f chars",
        "\x1b[31mred\x1b[0m",
    ]
    # Programmatic variety: numbers, mixed scripts and whitespace runs.
    for n in [0, 7, 42, 100, 999, 1000, 65536, 1234567, 31415926535, 10**20]:
        c.append(f"The answer is {n}.")
        c.append(str(n))
    words = ["alpha", "Beta", "GAMMA", "δέλτα", "ε", "数据", "🙂", "x1", "y_2", "it's"]
    for i in range(40):
        w = [words[(i * 7 + j * 3) % len(words)] for j in range(1 + i % 6)]
        sep = [" ", "  ", "\t", "\n", "", " \n", ", ", "-"][i % 8]
        c.append(sep.join(w))
    for i in range(30):
        c.append(TRAINING_TEXT.splitlines()[i % len(TRAINING_TEXT.splitlines())])
    for i in range(1, 13):
        c.append(" " * i + "x" + "\n" * (i % 4) + "\t" * (i % 3))
    c.append(TRAINING_TEXT)
    # Case variants of contractions in context.
    for s in ["'S", "'s", "'LL", "'ll", "'Re", "'rE", "'vE", "'M", "'D"]:
        c.append(f"JOHN{s} book")
        c.append(f"it{s}")
    assert len(c) >= 200, len(c)
    return c


def byte_level_bpe(pattern, specials, bos=None, ignore_merges=False, normalizer=None):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if normalizer is not None:
        tok.normalizer = normalizer
    if pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_lines(), trainer)
    if bos is None:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    else:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
            special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def sentencepiece_bpe(metaspace):
    """Llama 2 style: byte fallback, '▁' for spaces, <s> prepended."""
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    # Train on words, as SentencePiece does, then switch to the layout being imitated.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always",
                                                 split=True)
    # A small alphabet leaves CJK, emoji and rare accents to the byte fallback.
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=["<unk>", "<s>", "</s>"] +
                                  byte_tokens, limit_alphabet=90, show_progress=False)
    tok.train_from_iterator(training_lines(), trainer)
    if metaspace:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first",
                                                     split=False)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    else:
        tok.pre_tokenizer = None
        tok.normalizer = normalizers.Sequence(
            [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([
            decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
            decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    # In Llama 2 the byte tokens are ordinary vocabulary, not added tokens.
    j = json.loads(tok.to_str())
    j["added_tokens"] = [t for t in j["added_tokens"] if t["content"] not in byte_tokens]
    return Tokenizer.from_str(json.dumps(j))


def smollm2_from_gguf(gguf_path):
    from transformers import AutoTokenizer
    with tempfile.TemporaryDirectory() as d:
        os.symlink(os.path.abspath(gguf_path), os.path.join(d, "model.gguf"))
        t = AutoTokenizer.from_pretrained(d, gguf_file="model.gguf")
        out = os.path.join(d, "saved")
        t.save_pretrained(out)
        with open(os.path.join(out, "tokenizer.json"), encoding="utf-8") as f:
            j = json.load(f)
        with open(os.path.join(out, "tokenizer_config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
    # The Hub's SmolLM2 tokenizer.json splits digits one by one before the byte-level split,
    # as llama.cpp's "smollm" pre-tokenizer does; transformers' GGUF conversion drops that
    # step, so we put it back to match the model's real tokenizer.
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, j["pre_tokenizer"]]}
    cfg = {k: cfg[k] for k in ["bos_token", "eos_token", "pad_token", "unk_token"] if k in cfg}
    return Tokenizer.from_str(json.dumps(j)), cfg


def save(name, tok, corpus, config=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    j = json.loads(tok.to_str())
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False, separators=(",", ":"))
    if config is not None:
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False, indent=1)
    cases = []
    for s in corpus:
        ids = tok.encode(s, add_special_tokens=False).ids
        ids_sp = tok.encode(s, add_special_tokens=True).ids
        cases.append({
            "ids": ids,
            "ids_special": ids_sp,
            "decode": tok.decode(ids, skip_special_tokens=False),
            "decode_special": tok.decode(ids_sp, skip_special_tokens=False),
            "decode_skip": tok.decode(ids_sp, skip_special_tokens=True),
        })
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"vocab_size": tok.get_vocab_size(with_added_tokens=True), "cases": cases},
                  f, ensure_ascii=False, separators=(",", ":"))
    print(f"{name}: vocab {tok.get_vocab_size()} cases {len(cases)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models",
                                                   "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    corpus = make_corpus()
    with open(os.path.join(OUT, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(corpus, f, ensure_ascii=False, indent=0)

    gpt2 = byte_level_bpe(None, ["<|endoftext|>"])
    gpt2.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    save("gpt2", gpt2, corpus)

    llama3 = byte_level_bpe(LLAMA3_PATTERN, ["<|begin_of_text|>", "<|end_of_text|>",
                                             "<|eot_id|>"], bos="<|begin_of_text|>",
                            ignore_merges=True)
    save("llama3", llama3, corpus, {"bos_token": "<|begin_of_text|>",
                                     "eos_token": "<|end_of_text|>"})

    qwen2 = byte_level_bpe(QWEN2_PATTERN, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                           normalizer=normalizers.NFC())
    save("qwen2", qwen2, corpus, {"eos_token": "<|im_end|>"})

    save("llama2", sentencepiece_bpe(metaspace=False), corpus,
         {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})
    save("llama2_metaspace", sentencepiece_bpe(metaspace=True), corpus,
         {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})

    if os.path.exists(args.gguf):
        smol, cfg = smollm2_from_gguf(args.gguf)
        save("smollm2", smol, corpus, cfg)
    else:
        print(f"skipping smollm2: {os.path.basename(args.gguf)} not found")

    # A GPT-2 classic folder (vocab.json + merges.txt) from the trained GPT-2 tokenizer.
    classic = os.path.join(OUT, "gpt2_classic")
    os.makedirs(classic, exist_ok=True)
    j = json.loads(gpt2.to_str())
    with open(os.path.join(classic, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(j["model"]["vocab"], f, ensure_ascii=False)
    with open(os.path.join(classic, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in j["model"]["merges"]:
            f.write((m if isinstance(m, str) else " ".join(m)) + "\n")


if __name__ == "__main__":
    main()
