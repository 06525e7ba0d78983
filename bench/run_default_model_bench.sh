#!/usr/bin/env bash
# Our engine against transformers on the default model, SmolLM2-135M-Instruct as a Q4_1
# GGUF, at 512 and 2048 prompt tokens. Both dequantize the GGUF to float32 at load, so both
# run the same fp32 weights.
#
#   bench/run_default_model_bench.sh [BUILD_DIR]      (default: build)
#
# Environment: PYTHON (default python3) with tests/oracle/requirements.txt installed (and
# gguf and accelerate, which transformers needs to load a GGUF); OMP_NUM_THREADS (default: all cores);
# GGUF (default models/SmolLM2-135M-Instruct.Q4_1.gguf under the repository root);
# LENGTHS (default 512,2048).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${1:-$root/build}"
python="${PYTHON:-python3}"
gguf="${GGUF:-$root/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
lengths="${LENGTHS:-512,2048}"
threads="${OMP_NUM_THREADS:-$(nproc)}"
export OMP_NUM_THREADS="$threads"

bench="$build/bench/engine_bench"
[[ -x "$bench" ]] || { echo "run_default_model_bench.sh: $bench not built (cmake --build $build)" >&2; exit 2; }
[[ -f "$gguf" ]] || { echo "run_default_model_bench.sh: $gguf: no such file" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "load before: $(uptime)"
"$bench" --model "$gguf" --lengths "$lengths" --json | tee "$tmp/ours.jsonl"
"$python" "$here/transformers_baseline.py" --model "$(dirname "$gguf")" --gguf-file "$(basename "$gguf")" \
  --lengths "$lengths" --threads "$threads" | tee "$tmp/hf.jsonl"
echo "load after: $(uptime)"
echo
"$python" "$here/compare_table.py" "$tmp/ours.jsonl" "$tmp/hf.jsonl"
