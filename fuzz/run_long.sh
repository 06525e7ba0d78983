#!/usr/bin/env bash
# Runs each fuzz target for at least 1M executions (not part of CI, whose run in
# scripts/test.sh is bounded to 30 s per target) with its dictionary (fuzz/dict/), starting
# from its corpus (fuzz/corpus/<name>/), and merges what it found back into that corpus with
# libFuzzer's -merge=1: only inputs that add coverage, at most MAX_LEN bytes, deduplicated.
# Prints, per target, the executions, crashes and libFuzzer's final cov: / ft: numbers; a
# crashing input is kept as fuzz/crashes/<name>-crash-* for a regression test.
#   Usage: fuzz/run_long.sh [TARGET...]      (default: every *_fuzz target)
#   Environment: RUNS (default 1000000), MAX_LEN (default 16384), BUILD (default build-fuzz),
#   TIMEOUT (seconds one input may take before it counts as a hang, default 30; raise it when
#   the run shares the machine or is paused with SIGSTOP), TMPDIR (where hub_cache builds its
#   cache folders: a tmpfs such as /dev/shm is several times faster)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-1000000}
max_len=${MAX_LEN:-16384}
build=${BUILD:-build-fuzz}
timeout=${TIMEOUT:-30}

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVSCOPE_FUZZ=ON \
  -DKVSCOPE_BENCH=OFF >/dev/null || exit 1
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for src in fuzz/*_fuzz.cpp; do names+=("$(basename "$src" _fuzz.cpp)"); done
fi
cmake --build "$build" --target "${names[@]/%/_fuzz}" >/dev/null || exit 1
mkdir -p fuzz/crashes
status=0
printf '%-12s %10s %8s %8s %8s %8s\n' target executions crashes cov ft corpus
for name in "${names[@]}"; do
  target=$build/fuzz/${name}_fuzz
  corpus=fuzz/corpus/$name
  dict=fuzz/dict/$name.dict
  work=$(mktemp -d)
  log=$work/log
  mkdir -p "$corpus" "$work/grown"
  # One process, RUNS executions; a crash ends the run and leaves its input in fuzz/crashes.
  "$target" -runs="$runs" -max_len="$max_len" -rss_limit_mb=2048 -timeout="$timeout" -print_final_stats=1 \
    -artifact_prefix="fuzz/crashes/$name-" $([ -f "$dict" ] && echo "-dict=$dict") \
    "$work/grown" "$corpus" >"$log" 2>&1
  rc=$?
  crashes=$(grep -c '^==[0-9]*==ERROR\|^ERROR: libFuzzer\|deadly signal' "$log")
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  # Keep only what adds coverage to the committed corpus, within the size limit.
  "$target" -merge=1 -max_len="$max_len" $([ -f "$dict" ] && echo "-dict=$dict") "$corpus" "$work/grown" \
    >"$work/merge.log" 2>&1
  printf '%-12s %10s %8s %8s %8s %8s\n' "$name" "${execs:-?}" "$crashes" "${cov:-?}" "${ft:-?}" \
    "$(find "$corpus" -type f | wc -l)"
  if [ "$rc" -ne 0 ]; then
    status=1
    tail -n 30 "$log" | sed "s/^/  $name: /"
  fi
  rm -rf "$work"
done
exit $status
