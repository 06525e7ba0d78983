#!/usr/bin/env bash
# Our engine against transformers on a random-weight GPT-2-small-shape checkpoint, at 128,
# 512 and 1024 prompt tokens, both with the same thread count; prints one table.
#
#   bench/run_engine_bench.sh [BUILD_DIR]      (default: build)
#
# Environment: PYTHON (default python3) with tests/oracle/requirements.txt installed;
# OMP_NUM_THREADS (default: all cores); ARCH=gpt2|llama (default gpt2); LENGTHS (default
# 128,512,1024). The checkpoint is written to a temporary folder, removed on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-$here/../build}"
python="${PYTHON:-python3}"
arch="${ARCH:-gpt2}"
lengths="${LENGTHS:-128,512,1024}"
threads="${OMP_NUM_THREADS:-$(nproc)}"
export OMP_NUM_THREADS="$threads"

bench="$build/bench/engine_bench"
[[ -x "$bench" ]] || { echo "run_engine_bench.sh: $bench not built (cmake --build $build)" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "load before: $(uptime)"
"$python" "$here/make_random_checkpoint.py" "$tmp/ckpt" --arch "$arch"
"$bench" --model "$tmp/ckpt" --lengths "$lengths" --json | tee "$tmp/ours.jsonl"
"$python" "$here/transformers_baseline.py" --model "$tmp/ckpt" --lengths "$lengths" \
  --threads "$threads" | tee "$tmp/hf.jsonl"
echo "load after: $(uptime)"
echo
"$python" "$here/compare_table.py" "$tmp/ours.jsonl" "$tmp/hf.jsonl"
