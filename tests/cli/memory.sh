#!/usr/bin/env bash
# Weights stay in their stored type: on a Q4_0 model of ~70 MB whose fp32 weights would take
# ~490 MB, `kvscope generate` peaks at no more than the file's size plus 200 MB (the tokenizer,
# the cache, scratch, libraries). The whole-model fp32 path of earlier versions needed the fp32
# size on top of the file, so it fails this bound by far. Also: `info` names the BLAS kernels,
# which on a CPU with AVX2 must not be one of OpenBLAS's generic fallbacks.
# Usage: memory.sh KVSCOPE_BINARY SOURCE_DIR   (numpy + gguf: $KVSCOPE_PYTHON or python3)
set -u
bin=$1
src=$2
py=${KVSCOPE_PYTHON:-}
if [ -z "$py" ]; then
  if [ -x "$src/build/venv-test/bin/python" ]; then py=$src/build/venv-test/bin/python; else py=python3; fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

if ! "$py" "$src/bench/make_synthetic_checkpoints.py" --out "$work" ci-q4_0.gguf >"$work/make.log" 2>&1; then
  echo "FAIL could not make the test model: $(tail -n 3 "$work/make.log")"
  exit 1
fi
model=$work/ci-q4_0.gguf
size=$(stat -c %s "$model")
echo "test model: $size bytes"
if [ "$size" -lt 50000000 ] || [ "$size" -gt 100000000 ]; then
  echo "FAIL the test model has $size bytes, expected ~70 MB"
  failures=$((failures + 1))
fi

# The bound, checked by bench/peak_rss.py (peak RSS of the child, mapped file pages included).
if ! "$py" "$src/bench/peak_rss.py" --model "$model" --slack-gb 0.2 --check -- \
    "$bin" generate --model "$model" --prompt "The cache keeps every key" -n 8 >"$work/rss" 2>"$work/err"; then
  echo "FAIL peak memory: $(cat "$work/rss") $(tail -n 2 "$work/err")"
  failures=$((failures + 1))
else
  echo "ok   peak memory: $(cat "$work/rss")"
fi

# The kernels that run are named, and on a CPU with AVX2 OpenBLAS's are not a generic fallback.
info=$("$bin" info --model "$model" 2>&1)
kernels=$(grep '^kernels' <<<"$info")
resident=$(grep '^resident' <<<"$info")
echo "$kernels"
echo "$resident"
if [ -z "$kernels" ]; then
  echo "FAIL info prints no kernels line"
  failures=$((failures + 1))
elif grep -qw avx2 /proc/cpuinfo; then
  core=$(sed -n 's/.*OpenBLAS \([A-Za-z0-9_]*\) kernels.*/\1/p' <<<"$kernels")
  case "${core,,}" in
    "" | prescott | core2 | penryn | dunnington | nehalem | atom | katmai | coppermine | northwood | banias | sandybridge | unknown)
      echo "FAIL OpenBLAS runs its '$core' kernels on a CPU with AVX2"
      failures=$((failures + 1)) ;;
  esac
  # The release build is compiled for x86-64-v3 and runs the AVX2 kernels; a build for plain
  # x86-64 (the sanitizer build) says it runs the portable ones.
  grep -qE "AVX2\+FMA|portable C\+\+" <<<"$kernels" || { echo "FAIL the fused kernels are not named"; failures=$((failures + 1)); }
fi
# The resident size is the file's tensor bytes, not an fp32 copy: within the file's size.
res_mb=$(sed -n 's/^resident *\([0-9.]*\) MB.*/\1/p' <<<"$resident")
if [ -z "$res_mb" ] || ! awk -v r="$res_mb" -v s="$size" 'BEGIN { exit !(r * 1e6 <= s && r * 1e6 > 0.8 * s) }'; then
  echo "FAIL resident weights '$resident' are not about the file's $size bytes"
  failures=$((failures + 1))
fi

[ "$failures" -eq 0 ] && echo "memory checks passed" || echo "$failures memory check(s) failed"
[ "$failures" -eq 0 ]
