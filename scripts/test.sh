#!/usr/bin/env bash
# Runs every test: set-up, the release build and its tests, the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, and each fuzz target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

# numpy and safetensors for the command-line test that recomputes metrics.json
# (tests/oracle/check_metrics.py), gguf for the one that makes a test model and bounds peak
# memory on it (tests/cli/memory.sh), selenium to drive Chromium in the browser test of
# report.html (tests/browser); a virtual environment inside build/, made once.
if [ ! -x build/venv-test/bin/python ] || ! build/venv-test/bin/python -c "import numpy, safetensors, gguf, selenium" 2>/dev/null; then
  python3 -m venv build/venv-test
  build/venv-test/bin/python -m pip install --quiet --disable-pip-version-check numpy safetensors gguf==0.19.0 selenium
fi
export KVSCOPE_PYTHON=$PWD/build/venv-test/bin/python

echo "== release build: tests"
cmake --build build
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== sanitizer build (ASan + UBSan): tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKVSCOPE_SANITIZE=ON -DKVSCOPE_BENCH=OFF >/dev/null
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== fuzz targets (libFuzzer, bounded)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVSCOPE_FUZZ=ON -DKVSCOPE_BENCH=OFF >/dev/null
cmake --build build-fuzz --target fuzz_targets
for target in build-fuzz/fuzz/*_fuzz; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus=$(mktemp -d)
  seeds=fuzz/corpus/${name%_fuzz}
  dict=fuzz/dict/${name%_fuzz}.dict
  echo "-- $name"
  "$target" -max_total_time="${KVSCOPE_FUZZ_SECONDS:-30}" -rss_limit_mb=2048 \
    $([ -f "$dict" ] && echo "-dict=$dict") "$corpus" $([ -d "$seeds" ] && echo "$seeds") 2>&1 | tail -n 3
  rm -rf "$corpus"
done
echo "all tests passed"
