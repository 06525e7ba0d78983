#!/usr/bin/env bash
# kvscope analyze end to end on a tiny checkpoint: every file is written, figures are PNGs of
# a sensible size, metrics.json agrees with numpy recomputing every metric from a dump of
# the same capture, and bad options fail cleanly with no figure left behind.
# Usage: analyze.sh KVSCOPE_BINARY SOURCE_DIR   (numpy + safetensors: $KVSCOPE_PYTHON or python3)
set -u
bin=$1
src=$2
py=${KVSCOPE_PYTHON:-}
# scripts/test.sh makes this environment; fall back to it, then to python3.
if [ -z "$py" ]; then
  if [ -x "$src/build/venv-test/bin/python" ]; then py=$src/build/venv-test/bin/python; else py=python3; fi
fi
model=$src/tests/fixtures/models/llama-gqa
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}

prompt="The cache keeps every key and value: 12 layers, 3.5 MB, and one question. Why?"
if ! "$bin" analyze --model "$model" --prompt "$prompt" --out "$work/out" --generate 6 >"$work/stdout" 2>"$work/stderr"; then
  fail "analyze exited non-zero: $(cat "$work/stderr")"
fi
# The figures are the rows of the report's figure table (FIGURE(stem, ...) lines); with
# attention captured and --generate, every row applies.
figures=$(sed -n 's/^FIGURE(\([a-z_]*\),.*/\1/p' "$src/src/kvscope/report/figure_table.inc")
[ "$(wc -w <<<"$figures")" -ge 14 ] || fail "the figure table lists only: $figures"
for f in $figures; do
  png=$work/out/$f.png
  if [ ! -s "$png" ]; then
    fail "$f.png missing"
    continue
  fi
  # PNG signature, then the IHDR width and height (big-endian at bytes 16..23).
  sig=$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')
  [ "$sig" = "89504e470d0a1a0a" ] || fail "$f.png is not a PNG"
  w=$((16#$(od -An -tx1 -j16 -N4 "$png" | tr -d ' \n')))
  h=$((16#$(od -An -tx1 -j20 -N4 "$png" | tr -d ' \n')))
  if [ "$w" -lt 600 ] || [ "$w" -gt 8000 ] || [ "$h" -lt 300 ] || [ "$h" -gt 12000 ]; then fail "$f.png is ${w}x${h}"; fi
done
for f in metrics.json figure_guide.md layer_stats.csv quantization_error.csv tokens.csv head_specialization.csv generation.csv; do
  [ -s "$work/out/$f" ] || fail "$f missing"
done
ls -a "$work/out" | grep -q '\.tmp' && fail "temporary files left in the output folder"
grep -q "wrote .* files to" "$work/stdout" || fail "no summary on stdout"

# Every metric recomputed independently with numpy from a dump of the same capture.
"$bin" dump --model "$model" --prompt "$prompt" --attention --out "$work/dump.safetensors" >/dev/null ||
  fail "dump failed"
if ! "$py" "$src/tests/oracle/check_metrics.py" "$work/dump.safetensors" "$work/out/metrics.json" >"$work/check" 2>&1; then
  fail "check_metrics.py: $(tail -n 5 "$work/check")"
else
  echo "ok   metrics.json agrees with numpy ($(grep -c '' "$work/check") checks)"
fi

# Bad options: exit code 2, one line, and no figure written.
expect_bad() {
  local name=$1 pattern=$2 out=$3
  shift 3
  "$@" >/dev/null 2>"$work/err"
  local code=$?
  if [ $code -ne 2 ]; then
    fail "$name: exit code $code, expected 2: $(cat "$work/err")"
  elif ! grep -qE -- "$pattern" "$work/err"; then
    fail "$name: stderr does not match /$pattern/: $(cat "$work/err")"
  elif [ -d "$out" ] && ls "$out" | grep -q '\.png$'; then
    fail "$name: figures were written"
  elif [ -d "$out" ]; then
    fail "$name: the output folder was created"
  else
    echo "ok   $name: $(cat "$work/err")"
  fi
}
expect_bad "--layer out of range" "--layer 7 is out of range" "$work/b1" \
  "$bin" analyze --model "$model" --prompt "$prompt" --out "$work/b1" --layer 7
expect_bad "--head out of range" "--head 4 is out of range" "$work/b2" \
  "$bin" analyze --model "$model" --prompt "$prompt" --out "$work/b2" --head 4
expect_bad "--layers entry out of range" "out of range" "$work/b3" \
  "$bin" analyze --model "$model" --prompt "$prompt" --out "$work/b3" --layers 0,9
expect_bad "empty prompt" "prompt is empty" "$work/b4" \
  "$bin" analyze --model "$model" --prompt "" --out "$work/b4"
touch "$work/a-file"
expect_bad "output folder is a file" "not a folder" "$work/a-file" \
  "$bin" analyze --model "$model" --prompt "$prompt" --out "$work/a-file"
long=$(printf 'the cache holds keys and values %.0s' $(seq 1 60))
expect_bad "prompt longer than the context" "more than the model's context length" "$work/b5" \
  "$bin" analyze --model "$model" --prompt "$long" --out "$work/b5"
expect_bad "unknown importance measure" "--importance" "$work/b6" \
  "$bin" analyze --model "$model" --prompt "$prompt" --out "$work/b6" --importance loudness
expect_bad "unknown format" "--format" "$work/b7" \
  "$bin" analyze --model "$model" --prompt "$prompt" --out "$work/b7" --format bmp

if [ "$failures" -ne 0 ]; then
  echo "$failures analyze check(s) failed"
  exit 1
fi
echo "all analyze checks passed"
