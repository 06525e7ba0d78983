#!/usr/bin/env python3
"""Writes a random-weight checkpoint of a real model's shape, for benchmarks.

  make_random_checkpoint.py OUT_DIR [--arch gpt2|llama] [--seed 0]

gpt2:  GPT-2 small (12 layers, 12 heads, d_model 768, vocab 50257), with 2048 positions
       instead of 1024 so a 1024-token prefill can be followed by decode steps.
llama: SmolLM2-135M's shape (30 layers, 9 heads, 3 key/value heads, d_model 576,
       d_ff 1536, vocab 49152, 8192 positions, tied embeddings).

Saved with save_pretrained as config.json + model.safetensors in float32. Only the shapes
matter for speed; the weights are transformers' own random initialisation.
"""
import argparse
import os

import torch
import transformers


def build(arch: str):
    if arch == "gpt2":
        cfg = transformers.GPT2Config(
            n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=2048
        )
        return transformers.GPT2LMHeadModel(cfg)
    if arch == "llama":
        cfg = transformers.LlamaConfig(
            num_hidden_layers=30,
            num_attention_heads=9,
            num_key_value_heads=3,
            hidden_size=576,
            intermediate_size=1536,
            vocab_size=49152,
            max_position_embeddings=8192,
            rope_theta=100000.0,
            rms_norm_eps=1e-5,
            tie_word_embeddings=True,
        )
        return transformers.LlamaForCausalLM(cfg)
    raise SystemExit(f"make_random_checkpoint.py: unknown --arch '{arch}' (gpt2 or llama)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--arch", default="gpt2", choices=["gpt2", "llama"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model = build(args.arch).to(torch.float32).eval()
    os.makedirs(args.out_dir, exist_ok=True)
    model.save_pretrained(args.out_dir)
    n = sum(p.numel() for p in model.parameters())
    print(f"{args.arch}: {n / 1e6:.1f} M parameters written to {args.out_dir}")


if __name__ == "__main__":
    main()
