#!/usr/bin/env python3
"""Prints the table of bench/run_llama_cpp_compare.sh from the files it wrote.

  llama_compare_table.py --dir DIR --pp 512[,2048,8192] --tg 128

DIR holds llama.jsonl (llama-bench -o jsonl lines, with "run"), kvscope.jsonl (engine_bench
--json lines, with "run"), machine.json (machine_bench --json), info.txt (`kvscope info`) and
llama_features.txt and llama_version.txt. Each speed is given as the median of the runs with its range; each ratio
is kvscope over llama.cpp within one run (both measured back to back), as the median and range
over the runs. Standard library only.
"""
import argparse
import json
import os
import re
import statistics


def read_jsonl(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def fmt_range(values, digits=1):
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--pp", required=True)
    ap.add_argument("--tg", type=int, required=True)
    args = ap.parse_args()
    d = args.dir
    llama = read_jsonl(os.path.join(d, "llama.jsonl"))
    ours = read_jsonl(os.path.join(d, "kvscope.jsonl"))
    with open(os.path.join(d, "machine.json")) as f:
        machine = json.load(f)
    pps = [int(x) for x in args.pp.split(",")]

    # test name -> run -> tokens/s
    ll, kv = {}, {}
    for r in llama:
        if r.get("n_gen", 0) == 0 and r.get("n_prompt", 0) > 0:
            name = f"pp{r['n_prompt']}"
        elif r.get("n_prompt", 0) == 0 and r.get("n_gen", 0) > 0:
            name = f"tg{r['n_gen']}"
        else:
            continue
        ll.setdefault(name, {})[r["run"]] = r["avg_ts"]
    for r in ours:
        if r["tokens"] == 1:
            kv.setdefault(f"tg{r['decode_steps']}", {})[r["run"]] = r["decode_tok_s"]
        if r["tokens"] in pps:
            kv.setdefault(f"pp{r['tokens']}", {})[r["run"]] = r["prefill_tok_s"]

    first_ll = llama[0] if llama else {}
    first_kv = ours[0] if ours else {}
    print(f"model        {machine.get('model', '?')}: {machine.get('weight_bytes', 0) / 1e9:.3f} GB "
          f"of weights, {machine.get('weight_bytes_per_token', 0) / 1e9:.3f} GB read per "
          f"decoded token{' (tied embeddings)' if machine.get('tied_embeddings') else ''}")
    print(f"threads      kvscope {first_kv.get('threads', '?')}, llama.cpp "
          f"{first_ll.get('n_threads', '?')}")
    print(f"CPU          {first_ll.get('cpu_info', '?')}; features: {machine.get('cpu_features')}")
    print(f"kvscope      OpenBLAS core {first_kv.get('blas_core', machine.get('blas_core'))} "
          f"({machine.get('blas_config', '?')})")
    try:
        with open(os.path.join(d, "info.txt")) as f:
            for line in f:
                if re.search(r"kernel|blas|avx|simd", line, re.IGNORECASE):
                    print(f"             info: {line.rstrip()}")
    except OSError:
        pass
    try:
        with open(os.path.join(d, "llama_features.txt")) as f:
            feat = f.read().strip()
    except OSError:
        feat = "?"
    try:
        with open(os.path.join(d, "llama_version.txt")) as f:
            version = f.read().strip()
    except OSError:
        version = f"build {first_ll.get('build_commit', '?')}"
    print(f"llama.cpp    {version}, backends "
          f"{first_ll.get('backends', '?')}, type {first_ll.get('model_type', '?')}")
    print(f"             {feat}")
    print()

    tests = [f"pp{p}" for p in pps] + [f"tg{args.tg}"]
    print(f"{'test':>8} {'kvscope t/s':>22} {'llama.cpp t/s':>22} {'kvscope/llama.cpp':>22} "
          f"{'target':>7}")
    for t in tests:
        a, b = kv.get(t, {}), ll.get(t, {})
        ratios = [a[r] / b[r] for r in sorted(a) if r in b and b[r] > 0]
        target = ">= 1.5" if t == f"pp{pps[0]}" else (">= 1" if t.startswith("tg") else "")
        print(f"{t:>8} {fmt_range(list(a.values())):>22} {fmt_range(list(b.values())):>22} "
              f"{fmt_range(ratios, 2):>22} {target:>7}")
    print()
    bpt = machine.get("weight_bytes_per_token", 0)
    if bpt:
        print(f"decode bound: {bpt / 1e9:.3f} GB per token over the copy rate "
              f"{machine['copy_gbs']:.1f} GB/s (read + written) = "
              f"{machine['decode_bound_tok_s_copy']:.1f} tok/s; over the read rate "
              f"{machine['read_gbs']:.1f} GB/s = {machine['decode_bound_tok_s_read']:.1f} tok/s")
        for name, side in (("kvscope", kv), ("llama.cpp", ll)):
            vals = list(side.get(f"tg{args.tg}", {}).values())
            if vals:
                m = statistics.median(vals)
                print(f"  {name} tg{args.tg} {m:.1f} tok/s = "
                      f"{m / machine['decode_bound_tok_s_read']:.2f} of the read bound, "
                      f"{m * bpt / 1e9:.1f} GB/s of weights")
    print(f"runs: {len({r['run'] for r in llama})} llama-bench, {len({r['run'] for r in ours})} "
          "kvscope; ranges are min-max over the runs, ratios paired within a run")


if __name__ == "__main__":
    main()
