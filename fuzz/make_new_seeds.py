#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets hf_model, hub_cache and cli into fuzz/corpus/,
in each target's input format (see the comment at the top of each *_fuzz.cpp):
- hf_model: a test checkpoint's config.json NUL tokenizer.json NUL tokenizer_config.json, the
  tokenizers cut down by make_tokenizer_seeds.py (fuzz/corpus/tokenizer) standing in for the
  full ones;
- hub_cache: Hub cache layouts, good ones and ones with a bad ref, a dangling link, a device;
- cli: command lines of every subcommand."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "tests", "fixtures", "models")
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def hf_model():
    pairs = [("gpt2-a", "gpt2_byte_level"), ("llama-gqa", "llama2_metaspace"),
             ("llama3-scaled", "llama3_split"), ("qwen2", "qwen2_nfc_chat")]
    for model, tok in pairs:
        with open(os.path.join(MODELS, model, "config.json"), "rb") as f:
            config = json.dumps(json.load(f), separators=(",", ":")).encode()
        with open(os.path.join(CORPUS, "tokenizer", tok), "rb") as f:
            parts = f.read().split(b"\0")
        tokenizer_json, tokenizer_config = parts[0], parts[1] if len(parts) > 1 else b""
        write("hf_model", model, config + b"\0" + tokenizer_json + b"\0" + tokenizer_config)


SHA = b"0123456789abcdef0123456789abcdef01234567"
ST = b"\x02\0\0\0\0\0\0\0{}"  # an empty safetensors file


def hub_cache():
    def layout(revision, entries):
        out = revision
        for path, content in entries:
            out += b"\0" + path + b"\0" + content
        return out

    snap = b"snapshots/" + SHA + b"/"
    good = [(b"refs/main", SHA + b"\n"), (b"blobs/cfg", b'{"model_type":"gpt2"}'),
            (b"blobs/w", ST), (snap + b"config.json", b"->../../blobs/cfg"),
            (snap + b"model.safetensors", b"->../../blobs/w")]
    write("hub_cache", "good", layout(b"main", good))
    write("hub_cache", "by_commit", layout(SHA, good[1:]))
    write("hub_cache", "ref_is_a_path", layout(b"main", [(b"refs/main", b"../../../etc")] + good[1:]))
    write("hub_cache", "ref_is_a_device", layout(b"main", [(b"refs/main", b"->/dev/zero")] + good[1:]))
    write("hub_cache", "dangling_link",
          layout(b"main", good[:1] + [(snap + b"config.json", b"->../../blobs/none"),
                                      (snap + b"model.safetensors", b"->../../blobs/w"), good[2]]))
    write("hub_cache", "sharded", layout(b"main", [
        (b"refs/main", SHA), (snap + b"config.json", b"{}"),
        (snap + b"model.safetensors.index.json", b'{"weight_map":{"a":"model-1.safetensors"}}'),
        (snap + b"model-1.safetensors", ST)]))
    write("hub_cache", "branch_with_slash",
          layout(b"refs/pr/1", [(b"refs/refs/pr/1", SHA)] + good[1:]))


def cli():
    lines = [
        ["info", "--model", "gpt2"],
        ["generate", "-m", "x.gguf", "--prompt", "hi", "-n", "5", "--temperature", "0.7",
         "--top-k", "40", "--top-p", "0.9", "--seed", "3", "-q"],
        ["dump", "--prompt-file", "p.txt", "--out", "c.safetensors", "--attention", "--logits",
         "--resid", "--npy", "npy"],
        ["analyze", "--out", "o", "--generate", "4", "--layer", "1", "--head", "0", "--layers",
         "0,1", "--heads", "0,2", "--pca-layers", "0", "--importance", "attention", "--attention",
         "on", "--attention-max-tokens", "512", "--attention-norm", "row", "--format", "svg",
         "--bins", "50", "--tokens-listed", "10", "--linear-counts", "--seed", "1"],
        ["analyze", "--help"],
        ["--version"],
    ]
    for i, args in enumerate(lines):
        write("cli", f"{i}_{args[0].strip('-')}", b"\0".join(a.encode() for a in args))


hf_model()
hub_cache()
cli()
