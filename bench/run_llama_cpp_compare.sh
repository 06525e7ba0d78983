#!/usr/bin/env bash
# kvscope against llama.cpp's llama-bench on one GGUF file, same thread count, the two
# alternated run after run so that both see the same machine; then one table with both
# speeds, their ratios, the kernels each side ran, and the memory-bandwidth bound of decode.
#
#   bench/run_llama_cpp_compare.sh GGUF [BUILD_DIR]      (default BUILD_DIR: build)
#
# Per run (RUNS of them, default 3), in this order:
#   llama-bench -m GGUF -t T -p PP -n TG -r 1 -o jsonl        (pp512 and tg128 by default)
#   engine_bench --model GGUF --lengths 1,PP --decode-steps TG --repeats 1 --json
# kvscope's prefill figure is engine_bench's prefill of PP tokens (best of one after a warm-up;
# llama-bench's -r 1 also runs one warm-up); its decode figure is the TG single-token steps after
# a one-token prompt, like llama-bench's tg, which generates TG tokens from an empty context.
# Once, before the runs: build/bench/machine_bench --model GGUF (OpenBLAS core, CPU features,
# copy and read bandwidth, weight bytes per decoded token) and `kvscope info --model GGUF`
# (its lines that name a kernel are shown).
#
# Environment:
#   OMP_NUM_THREADS  threads for both (default: all cores)
#   RUNS             alternations (default 3)
#   PP, TG           prompt and generation lengths (default 512, 128)
#   LONG=1           also prefill 2048 and 8192 tokens (both sides; long on 2 cores)
#   LLAMA_BENCH      the llama-bench binary (default: build-llama/bin/llama-bench, which
#                    bench/build_llama_cpp.sh makes)
#   PYTHON           Python 3 for the table (default python3; the standard library suffices)
#   KEEP=DIR         keep the raw JSON lines in DIR instead of a temporary folder
#   MIB              buffer size of the bandwidth measurement (default 1024)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
die() {
  echo "run_llama_cpp_compare.sh: $*" >&2
  exit 2
}
[[ $# -ge 1 ]] || die "usage: bench/run_llama_cpp_compare.sh GGUF [BUILD_DIR]"
gguf="$1"
build="${2:-$root/build}"
python="${PYTHON:-python3}"
runs="${RUNS:-3}"
pp="${PP:-512}"
tg="${TG:-128}"
threads="${OMP_NUM_THREADS:-$(nproc)}"
export OMP_NUM_THREADS="$threads"
llama_bench="${LLAMA_BENCH:-$root/build-llama/bin/llama-bench}"

for v in runs pp tg threads; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ -f "$gguf" ]] || die "$gguf: no such file"
engine_bench="$build/bench/engine_bench"
machine_bench="$build/bench/machine_bench"
kvscope="$build/kvscope"
for b in "$engine_bench" "$machine_bench"; do
  [[ -x "$b" ]] || die "$b not built (cmake --build $build --target $(basename "$b"))"
done
[[ -x "$llama_bench" ]] || die "$llama_bench not built (bash bench/build_llama_cpp.sh)"

lengths="$pp"
[[ "${LONG:-0}" == 1 ]] && lengths="$pp,2048,8192"
# engine_bench: a one-token prompt for decode, then each prefill length
eb_lengths="1,$lengths"

if [[ -n "${KEEP:-}" ]]; then
  out="$KEEP"
  mkdir -p "$out"
else
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
: >"$out/llama.jsonl"
: >"$out/kvscope.jsonl"

echo "model $gguf ($(stat -c %s "$gguf") bytes), $threads threads, $runs runs, pp $lengths, tg $tg"
echo "load before: $(uptime)"
"$machine_bench" --model "$gguf" --mib "${MIB:-1024}" --json >"$out/machine.json"
if [[ -x "$kvscope" ]]; then
  "$kvscope" info --model "$gguf" >"$out/info.txt" 2>&1 || true
else
  echo "(no $kvscope)" >"$out/info.txt"
fi
# llama.cpp's CPU feature line: build_llama_cpp.sh builds llama-system-info next to
# llama-bench (llama_print_system_info(), the line llama-cli prints at start).
sysinfo="$(dirname "$llama_bench")/llama-system-info"
if [[ -x "$sysinfo" ]]; then
  "$sysinfo" >"$out/llama_features.txt" 2>/dev/null || echo "(llama-system-info failed)" >"$out/llama_features.txt"
else
  echo "(no $sysinfo)" >"$out/llama_features.txt"
fi

version_file="$(dirname "$llama_bench")/llama-cpp-version.txt"
if [[ -f "$version_file" ]]; then
  cp "$version_file" "$out/llama_version.txt"
else
  echo "(no $version_file)" >"$out/llama_version.txt"
fi

for ((r = 1; r <= runs; r++)); do
  echo "run $r/$runs: llama-bench"
  "$llama_bench" -m "$gguf" -t "$threads" -p "$lengths" -n "$tg" -r 1 -o jsonl \
    2>"$out/llama_stderr_$r.txt" | sed "s/^{/{\"run\": $r, /" >>"$out/llama.jsonl" ||
    { tail -n 20 "$out/llama_stderr_$r.txt" >&2; die "llama-bench failed on $gguf"; }
  echo "run $r/$runs: kvscope engine_bench"
  "$engine_bench" --model "$gguf" --lengths "$eb_lengths" --decode-steps "$tg" --repeats 1 --json \
    2>"$out/kvscope_stderr_$r.txt" | sed "s/^{/{\"run\": $r, /" >>"$out/kvscope.jsonl" ||
    { tail -n 20 "$out/kvscope_stderr_$r.txt" >&2; die "engine_bench failed on $gguf"; }
done
echo "load after: $(uptime)"
echo
"$python" "$here/llama_compare_table.py" --dir "$out" --pp "$lengths" --tg "$tg"
