#!/usr/bin/env bash
# Long contexts: what `kvscope analyze` costs at thousands of tokens, beside the plain forward
# pass over as many tokens, and prefill speed at long lengths beside llama.cpp's.
#
#   1. engine_bench: one forward pass over LENGTH tokens into a fresh cache, nothing recorded
#      (the plain forward pass), best of REPEATS.
#   2. kvscope analyze over the first LENGTH tokens of texts/kjv-genesis.txt (Genesis, King
#      James Version, from Debian's bible-kjv-text; scripts/make_default_text.sh), every figure
#      included, under bench/peak_rss.py: total wall time and peak resident memory.
#   3. Prints analyze's total time over the plain forward pass (target <= 1.3) and the peak
#      (target <= 2 GB at 8,192 tokens on the default model).
#   4. Prefill tokens/s at each of PP_LENGTHS from engine_bench and from llama.cpp's llama-bench
#      (pp, same file, same threads), when build-llama/bin/llama-bench exists
#      (bench/build_llama_cpp.sh builds it from the llama-cpp-python sdist).
#
# Both sides run in this one script, one after the other, so that they see the same machine.
#
# Environment (all optional):
#   MODEL       the model file or folder (models/SmolLM2-135M-Instruct.Q4_1.gguf)
#   LENGTH      tokens for steps 1-3 (8192)
#   PP_LENGTHS  prefill lengths for step 4, within the model's context ("2048 8192")
#   THREADS     CPU threads for every program (2)
#   REPEATS     runs of each prefill, best kept (2)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
LENGTH=${LENGTH:-8192}
PP_LENGTHS=${PP_LENGTHS:-"2048 8192"}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-2}
KVSCOPE=build/kvscope
ENGINE_BENCH=build/bench/engine_bench
LLAMA_BENCH=build-llama/bin/llama-bench
TEXT=texts/kjv-genesis.txt
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS

for f in "$KVSCOPE" "$ENGINE_BENCH"; do
  [ -x "$f" ] || { echo "run_long_context_bench: $f is missing (cmake --build build)" >&2; exit 2; }
done
[ -f "$TEXT" ] || { echo "run_long_context_bench: $TEXT is missing (bash scripts/setup.sh)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/kvscope-long.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "model $MODEL, $THREADS threads; $("$KVSCOPE" info --model "$MODEL" | grep -E '^ *kernels' | sed 's/^ *//')"

echo "== 1. plain forward pass over $LENGTH tokens (engine_bench, best of $REPEATS)"
"$ENGINE_BENCH" --model "$MODEL" --lengths "$LENGTH" --decode-steps 0 --repeats "$REPEATS" --json \
  >"$work/forward.json"
forward_s=$(python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
r = [r for r in rows if r.get('tokens') == int(sys.argv[2])][0]
print(r['prefill_s'])" "$work/forward.json" "$LENGTH")
echo "forward pass: $forward_s s"

echo "== 2. kvscope analyze over the first $LENGTH tokens of $TEXT (every figure)"
python3 bench/peak_rss.py --model "$MODEL" --json -- \
  "$KVSCOPE" analyze --model "$MODEL" --prompt-file "$TEXT" --prompt-tokens "$LENGTH" \
  --out "$work/out" >"$work/analyze.json"
python3 - "$work/analyze.json" "$forward_s" "$LENGTH" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
forward = float(sys.argv[2])
total = r["wall_s"]
print(f"== 3. analyze at {sys.argv[3]} tokens: {total:.1f} s in all, plain forward pass "
      f"{forward:.1f} s: ratio {total / forward:.2f} (target <= 1.3); peak resident memory "
      f"{r['peak_rss_bytes'] / 1e9:.2f} GB (target <= 2 GB)")
EOF

echo "== 4. prefill tokens/s: kvscope engine vs llama.cpp (pp), same file and threads"
lengths_csv=$(echo "$PP_LENGTHS" | tr ' ' ',')
"$ENGINE_BENCH" --model "$MODEL" --lengths "$lengths_csv" --decode-steps 0 --repeats "$REPEATS" \
  --json >"$work/pp.json"
if [ -x "$LLAMA_BENCH" ]; then
  "$LLAMA_BENCH" -m "$MODEL" -t "$THREADS" -p "$lengths_csv" -n 0 -r "$REPEATS" -o json \
    >"$work/llama.json" 2>"$work/llama.err" || { cat "$work/llama.err" >&2; exit 1; }
else
  echo "note: $LLAMA_BENCH missing (bash bench/build_llama_cpp.sh): kvscope only" >&2
  echo "[]" >"$work/llama.json"
fi
python3 - "$work/pp.json" "$work/llama.json" <<'EOF'
import json, sys
ours = {r["tokens"]: r for r in (json.loads(l) for l in open(sys.argv[1]) if l.startswith("{"))}
theirs = {r["n_prompt"]: r["avg_ts"] for r in json.load(open(sys.argv[2])) if r.get("n_gen") == 0}
print(f"{'tokens':>8} {'kvscope tok/s':>14} {'llama.cpp tok/s':>16} {'ratio':>6}")
for n in sorted(ours):
    k = n / ours[n]["prefill_s"]
    l = theirs.get(n)
    print(f"{n:>8} {k:>14.1f} {'-' if l is None else f'{l:.1f}':>16} "
          f"{'-' if l is None else f'{k / l:.2f}':>6}")
EOF
