#!/usr/bin/env bash
# kvscope models lists the installed models by the names --model takes; --model resolves them,
# and info shows Gemma 3's layer kinds and the bytes its own cache holds.
# Usage: models.sh KVSCOPE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

out=$("$bin" models) || fail "kvscope models exited $?"
for name in smollm2-135m gemma3-270m; do
  grep -q "^$name " <<<"$out" || fail "kvscope models does not list $name"
done
for pair in "smollm2-135m SmolLM2-135M-Instruct.Q4_1.gguf" "gemma3-270m gemma-3-270m-q4_k_m.gguf"; do
  set -- $pair
  if [ -f "$src/models/$2" ]; then want=installed; else want="not installed"; fi
  grep -q "^$1 *$want " <<<"$out" || fail "kvscope models: $1 should be '$want': $out"
done

# An installed name loads that file; the tiny Gemma 3 folder shows its layer kinds.
if [ -f "$src/models/gemma-3-270m-q4_k_m.gguf" ]; then
  info=$("$bin" info --model gemma3-270m) || fail "info --model gemma3-270m exited $?"
  grep -q "^architecture   gemma3$" <<<"$info" || fail "info --model gemma3-270m: $info"
  grep -q "^layer kinds    LLLLLGLLLLLGLLLLLG (L: sliding window 512, G: global); 15 of 18 layers slide$" <<<"$info" ||
    fail "gemma3-270m layer kinds: $info"
  # At 2048 tokens: 3 global layers x 2048 + 15 sliding x 511 positions, 2 KiB each (fp32).
  grep -q "^model's cache  28.3 MB at 2048 tokens (per layer: 1.0 MB sliding, 4.2 MB global)$" <<<"$info" ||
    fail "gemma3-270m model's cache: $info"
fi
info=$("$bin" info --model "$src/tests/fixtures/models/gemma3-tiny") || fail "info gemma3-tiny exited $?"
grep -q "^layer kinds    LLGL (L: sliding window 8, G: global); 3 of 4 layers slide$" <<<"$info" ||
  fail "gemma3-tiny layer kinds: $info"
grep -q "^MLP            GeGLU (tanh GELU) x96$" <<<"$info" || fail "gemma3-tiny MLP: $info"

if [ "$failures" -ne 0 ]; then
  echo "$failures models case(s) failed"
  exit 1
fi
echo "all models cases passed"
