#!/usr/bin/env python3
"""The engine benchmark's measurements, made with Hugging Face transformers on the CPU.

  transformers_baseline.py --model DIR [--gguf-file NAME] [--lengths 128,512,1024]
                           [--decode-steps 32] [--repeats 3] [--threads N]

Prints one JSON line per prompt length L (float32, the model's default attention, inside
torch.inference_mode):
  prefill_tok_s       model(input_ids, use_cache=True) over L random ids, best of `repeats`
                      after a warm-up. transformers computes logits for all L rows by default;
  prefill_last_tok_s  the same with logits_to_keep=1, the work kvscope's prefill does (logits
                      of the last row only), for a like-for-like comparison;
  decode_tok_s        after that prefill, `decode-steps` forwards of one token each with
                      past_key_values, mean.
  torch_linear_gflops torch.nn.functional.linear on the model's projection shapes
                      [L x in] x [in x out], best of 5 each, combined (total FLOPs / total
                      time): torch's GEMM rate, beside engine_bench's OpenBLAS rate.
--gguf-file loads DIR/NAME through transformers' GGUF support (dequantized to float32).
"""
import argparse
import json
import os
import time

import torch
import transformers


def parse_lengths(text):
    try:
        out = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise SystemExit(f"transformers_baseline.py: --lengths: expected integers, got '{text}'")
    if not out or min(out) <= 0:
        raise SystemExit(f"transformers_baseline.py: --lengths: expected positive integers, got '{text}'")
    return out


def best_time(fn, repeats):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def projection_shapes(cfg):
    """(in, out) of the qkv, attention output, MLP in and MLP out products of one block."""
    d = getattr(cfg, "hidden_size", None) or cfg.n_embd
    heads = getattr(cfg, "num_attention_heads", None) or cfg.n_head
    kv = getattr(cfg, "num_key_value_heads", None) or heads
    hd = getattr(cfg, "head_dim", None) or d // heads
    if cfg.model_type == "gpt2":
        ff = cfg.n_inner or 4 * d
        return [(d, 3 * d), (d, d), (d, ff), (ff, d)]
    ff = cfg.intermediate_size
    return [(d, (heads + 2 * kv) * hd), (heads * hd, d), (d, 2 * ff), (ff, d)]


def linear_gflops(shapes, rows):
    flops = seconds = 0.0
    for i, o in shapes:
        x, w = torch.randn(rows, i), torch.randn(o, i)
        best = best_time(lambda: torch.nn.functional.linear(x, w), 5)
        flops += 2.0 * rows * i * o
        seconds += best
    return flops / seconds / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--gguf-file", default=None)
    ap.add_argument("--lengths", default="128,512,1024")
    ap.add_argument("--decode-steps", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0))
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    kwargs = {"dtype": torch.float32}
    if args.gguf_file:
        kwargs["gguf_file"] = args.gguf_file
    t0 = time.perf_counter()
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model, **kwargs).eval()
    load_s = time.perf_counter() - t0
    cfg = model.config
    vocab = cfg.vocab_size
    ctx = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)

    gen = torch.Generator().manual_seed(1234)
    with torch.inference_mode():
        for L in parse_lengths(args.lengths):
            if ctx and L + args.decode_steps > ctx:
                print(json.dumps({"engine": "transformers", "tokens": L, "skipped": f"context {ctx}"}))
                continue
            ids = torch.randint(0, vocab, (1, L), generator=gen)
            prefill_all = best_time(lambda: model(ids, use_cache=True), args.repeats)
            prefill_last = best_time(lambda: model(ids, use_cache=True, logits_to_keep=1), args.repeats)

            out = model(ids, use_cache=True, logits_to_keep=1)
            past = out.past_key_values
            nxt = torch.randint(0, vocab, (args.decode_steps, 1, 1), generator=gen)
            t0 = time.perf_counter()
            for s in range(args.decode_steps):
                out = model(nxt[s], past_key_values=past, use_cache=True)
                past = out.past_key_values
            decode_s = (time.perf_counter() - t0) / args.decode_steps

            print(
                json.dumps(
                    {
                        "engine": "transformers",
                        "model": args.model + (("/" + args.gguf_file) if args.gguf_file else ""),
                        "arch": cfg.model_type,
                        "attn_implementation": getattr(cfg, "_attn_implementation", None),
                        "threads": torch.get_num_threads(),
                        "load_s": load_s,
                        "tokens": L,
                        "prefill_s": prefill_all,
                        "prefill_tok_s": L / prefill_all,
                        "prefill_last_s": prefill_last,
                        "prefill_last_tok_s": L / prefill_last,
                        "decode_steps": args.decode_steps,
                        "decode_tok_s": 1.0 / decode_s,
                        "torch_linear_gflops": linear_gflops(projection_shapes(cfg), L),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
