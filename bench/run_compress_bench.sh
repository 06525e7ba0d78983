#!/usr/bin/env bash
# The compression lab's full default grid on the default model: every method of the default
# list (each eviction rule at 3 budgets, every quantizer), 4 windows of 512 + 128 tokens of
# the default text (Genesis, King James Bible; scripts/make_default_text.sh). Prints where the
# time goes: the prefills, the continuations (forward passes), and everything else (applying
# the methods, scoring the logits, loading, tokenizing, writing files and figures), with the
# share of the total that is not a forward pass (the target: under 10%).
#
# Environment (all optional):
#   KVSCOPE   the kvscope binary (build/kvscope)
#   THREADS   OpenMP threads (2)
#   ARGS      extra arguments for kvscope compress (e.g. "--windows 2")
#   KEEP      1: keep the output folder and print its path
set -euo pipefail

cd "$(dirname "$0")/.."
KVSCOPE=${KVSCOPE:-build/kvscope}
THREADS=${THREADS:-2}
ARGS=${ARGS:-}
KEEP=${KEEP:-0}

work=$(mktemp -d "${TMPDIR:-/tmp}/kvscope-compress-bench.XXXXXX")
if [[ "$KEEP" == 1 ]]; then
  echo "keeping $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi
bash scripts/make_default_text.sh

start=$(date +%s.%N)
# shellcheck disable=SC2086
OMP_NUM_THREADS=$THREADS "$KVSCOPE" compress --context 512 --continuation 128 --windows 4 \
  --budgets 0.5,0.75,0.9 --out "$work/out" $ARGS >"$work/stdout"
end=$(date +%s.%N)
tail -n 1 "$work/stdout"
# "wrote N files to DIR/ (prefill P s, continuations C s, methods M s, scoring S s)"
python3 - "$start" "$end" "$(tail -n 1 "$work/stdout")" "$(grep -c '' "$work/stdout")" <<'PY'
import re, sys
start, end, line, lines = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
m = re.search(r"prefill ([\d.]+) s, continuations ([\d.]+) s, methods ([\d.]+) s, scoring ([\d.]+) s", line)
if not m:
    sys.exit(f"cannot read the timing line: {line!r}")
prefill, cont, methods, scoring = map(float, m.groups())
total = end - start
forward = prefill + cont
other = total - forward
print(f"results rows: {lines - 3}")
print(f"total              {total:8.2f} s")
print(f"prefill            {prefill:8.2f} s  ({100 * prefill / total:5.1f}%)")
print(f"continuations      {cont:8.2f} s  ({100 * cont / total:5.1f}%)")
print(f"everything else    {other:8.2f} s  ({100 * other / total:5.1f}%; methods {methods:.2f} s, "
      f"scoring {scoring:.2f} s, loading/tokenizing/writing {other - methods - scoring:.2f} s)")
print(f"beyond the forward passes: {100 * other / total:.1f}% of the time (target < 10%)")
PY
