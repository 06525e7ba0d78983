#!/usr/bin/env python3
"""Joins engine_bench --json and transformers_baseline.py output into one table.

  compare_table.py OURS.jsonl HF.jsonl

Columns, per prompt length:
  ours/HF prefill tok/s and their ratio (HF computing all rows' logits, its default), the
  ratio against HF computing the last row's logits only (what our prefill does), ours/HF
  decode tok/s and ratio, and our prefill time against the time its FLOPs imply at the
  machine's measured sgemm rate (target: ours/implied <= 1.5; prefill ratio >= 2). The
  sgemm column is OpenBLAS on the model's shapes, the torch column torch's linear on them.
A second table sets the FLOP rate a prefill at 2x transformers' speed would need (our FLOPs
in half of transformers' time) against the machine's FMA peak: above the peak, 2x cannot be
had on this machine by any fp32 kernel.
"""
import json
import sys


def read(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                if "skipped" not in r:
                    rows[r["tokens"]] = r
    return rows


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: compare_table.py OURS.jsonl HF.jsonl")
    ours, hf = read(sys.argv[1]), read(sys.argv[2])
    any_row = next(iter(ours.values()), None) or next(iter(hf.values()), None)
    if any_row is None:
        raise SystemExit("compare_table.py: no measurements in either file")
    print(f"model: {any_row['model']}  threads: ours {next(iter(ours.values()), {}).get('threads')}"
          f", HF {next(iter(hf.values()), {}).get('threads')}")
    head = (f"{'tokens':>6} | {'ours pf t/s':>11} {'HF pf t/s':>10} {'ratio':>6} {'vs HF-last':>10} | "
            f"{'ours dec t/s':>12} {'HF dec t/s':>10} {'ratio':>6} | "
            f"{'sgemm GF/s':>10} {'torch GF/s':>10} {'implied ms':>10} {'ours ms':>8} {'ours/impl':>9}")
    print(head)
    print("-" * len(head))
    for L in sorted(set(ours) | set(hf)):
        o, h = ours.get(L, {}), hf.get(L, {})

        def f(d, k, fmt):
            return format(d[k], fmt) if k in d else "-"

        def ratio(a, ka, b, kb):
            return format(a[ka] / b[kb], ".2f") if ka in a and kb in b else "-"

        print(f"{L:>6} | {f(o, 'prefill_tok_s', '11.1f')} {f(h, 'prefill_tok_s', '10.1f')} "
              f"{ratio(o, 'prefill_tok_s', h, 'prefill_tok_s'):>6} "
              f"{ratio(o, 'prefill_tok_s', h, 'prefill_last_tok_s'):>10} | "
              f"{f(o, 'decode_tok_s', '12.1f')} {f(h, 'decode_tok_s', '10.1f')} "
              f"{ratio(o, 'decode_tok_s', h, 'decode_tok_s'):>6} | "
              f"{f(o, 'sgemm_gflops_model_shapes', '10.1f')} {f(h, 'torch_linear_gflops', '10.1f'):>10} "
              f"{(format(o['implied_s'] * 1e3, '10.1f') if 'implied_s' in o else '-'):>10} "
              f"{(format(o['prefill_s'] * 1e3, '8.1f') if 'prefill_s' in o else '-'):>8} "
              f"{f(o, 'prefill_over_implied', '9.2f')}")

    # What a prefill twice as fast as transformers would have to sustain: our FLOPs (projections,
    # causal attention, one LM-head row) in half of transformers' time, against the FMA peak.
    print()
    head = (f"{'tokens':>6} | {'our GFLOP':>9} {'FMA peak GF/s':>13} | {'2x HF needs GF/s':>16} "
            f"{'2x HF-last needs GF/s':>21}")
    print(head)
    print("-" * len(head))
    for L in sorted(set(ours) & set(hf)):
        o, h = ours[L], hf[L]
        if "total_gflop" not in o:
            continue

        def need(key):
            return format(o["total_gflop"] / (h[key] / 2), "16.1f") if key in h else "-"

        print(f"{L:>6} | {o['total_gflop']:>9.1f} {o.get('fma_peak_gflops', 0):>13.1f} | "
              f"{need('prefill_s'):>16} {need('prefill_last_s'):>21}")


if __name__ == "__main__":
    main()
