#!/usr/bin/env bash
# Bad input gets one clear line on stderr naming what was wrong, exit code 2, and no output
# file. Usage: bad_input.sh KVSCOPE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
fixture=$src/tests/fixtures/models/gpt2-a
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

# expect_bad NAME PATTERN -- COMMAND...: exit code 2, one stderr line matching PATTERN.
expect_bad() {
  local name=$1 pattern=$2
  shift 3
  local err out code
  out=$("$@" 2>"$work/stderr" </dev/null)
  code=$?
  err=$(cat "$work/stderr")
  local lines
  lines=$(grep -c '' "$work/stderr")
  if [ -n "$out" ]; then
    # Everything is checked before anything is printed.
    echo "FAIL $name: printed on stdout before failing: ${out:0:200}"
    failures=$((failures + 1))
  elif [ "$code" -ne 2 ]; then
    echo "FAIL $name: exit code $code, expected 2; stderr: $err"
    failures=$((failures + 1))
  elif ! grep -qE -- "$pattern" <<<"$err"; then
    echo "FAIL $name: stderr does not match /$pattern/: $err"
    failures=$((failures + 1))
  elif [ "$lines" -ne 1 ]; then
    echo "FAIL $name: expected one line on stderr, got $lines: $err"
    failures=$((failures + 1))
  else
    echo "ok   $name: $err"
  fi
}

# A fresh copy of the tiny GPT-2 checkpoint to corrupt.
model_copy() {
  local d=$work/$1
  rm -rf "$d"
  cp -r "$fixture" "$d"
  echo "$d"
}

expect_bad "missing folder" "no such file or folder" -- "$bin" info --model "$work/does-not-exist/model"

d=$(model_copy no-weights); rm "$d/model.safetensors"
expect_bad "missing safetensors" "model.safetensors" -- "$bin" info --model "$d"

d=$(model_copy truncated); size=$(stat -c %s "$d/model.safetensors"); truncate -s $((size / 2)) "$d/model.safetensors"
expect_bad "truncated safetensors" "model.safetensors.*(past|end|truncat)" -- "$bin" info --model "$d"

d=$(model_copy absurd-header); printf '\xff\xff\xff\xff\xff\xff\x00\x00' | dd of="$d/model.safetensors" conv=notrunc status=none
expect_bad "absurd header length" "model.safetensors.*header" -- "$bin" info --model "$d"

d=$(model_copy dtype); sed -i 's/"dtype": "float32"/"dtype": "float16"/' "$d/config.json"
expect_bad "dtype disagrees with config" "tensor '.*' has type F32, but config.json declares F16" -- "$bin" info --model "$d"

d=$(model_copy shape); sed -i 's/"n_embd": 64/"n_embd": 32/' "$d/config.json"
expect_bad "shape disagrees with config" "tensor '.*' has shape \[.*\], config calls for" -- "$bin" info --model "$d"

d=$(model_copy absurd-layers); sed -i 's/"n_layer": 2/"n_layer": 1000000000/' "$d/config.json"
expect_bad "absurd n_layer" "config.json: number of layers 1000000000 is out of range" -- "$bin" info --model "$d"

d=$(model_copy arch); sed -i 's/"model_type": "gpt2"/"model_type": "bert"/' "$d/config.json"
expect_bad "unsupported architecture" "unsupported architecture 'bert'; supported: " -- "$bin" info --model "$d"

d=$(model_copy bad-config); echo '{"model_type": "gpt2", "n_layer": ' >"$d/config.json"
expect_bad "unreadable config.json" "config.json: invalid JSON" -- "$bin" info --model "$d"

d=$(model_copy bad-tokenizer); echo 'not json at all' >"$d/tokenizer.json"
expect_bad "unreadable tokenizer.json" "tokenizer.json: invalid JSON" -- "$bin" info --model "$d"

long=$(printf 'the cache holds keys and values %.0s' $(seq 1 40))
expect_bad "prompt longer than n_positions" "tokens, more than the model's context length of 64" -- \
  "$bin" generate --model "$fixture" --prompt "$long" --max-new-tokens 1

expect_bad "negative --max-new-tokens" "max-new-tokens" -- "$bin" generate --model "$fixture" --prompt "hi" --max-new-tokens -3
expect_bad "negative temperature" "temperature" -- "$bin" generate --model "$fixture" --prompt "hi" --temperature -1
expect_bad "top-p out of range" "top-p" -- "$bin" generate --model "$fixture" --prompt "hi" --top-p 1.5
expect_bad "analyze --chunk 0" "--chunk" -- "$bin" analyze --model "$fixture" --prompt "hi" --chunk 0 --out "$work/chunk-out"
expect_bad "analyze --generate past the context" \
  "the prompt's [0-9]+ tokens and 100 generated exceed the model's context length of 64: generate at most [0-9]+ \(--generate\)" -- \
  "$bin" analyze --model "$fixture" --prompt "hi there" --generate 100 --out "$work/gen-out"
expect_bad "empty prompt" "prompt is empty" -- "$bin" generate --model "$fixture" --prompt ""
expect_bad "unreadable prompt file" "prompt-file" -- "$bin" dump --model "$fixture" --prompt-file "$work/nope.txt"

printf 'NOPE\x03\x00\x00\x00' >"$work/bad.gguf"
expect_bad "GGUF bad magic" "bad.gguf" -- "$bin" info --model "$work/bad.gguf"

expect_bad "dump into a missing folder" "does not exist" -- "$bin" dump --model "$fixture" --prompt "hi" --out "$work/no/such/dir/x.safetensors"
if [ -e "$work/no/such/dir/x.safetensors" ]; then echo "FAIL dump left a file behind"; failures=$((failures + 1)); fi

expect_bad "unknown option" "--frobnicate" -- "$bin" info --frobnicate

# --- GGUF models (fixtures from tests/oracle/make_gguf_model_fixtures.py) ---
gguf_bad=$src/tests/fixtures/gguf_models/bad
expect_bad "GGUF unsupported architecture" "mamba.gguf.*unsupported architecture 'mamba'; supported: " -- \
  "$bin" info --model "$gguf_bad/mamba.gguf"
expect_bad "GGUF tensor shape disagrees with metadata" \
  "kv_heads_mismatch.gguf: tensor 'blk.0.attn_k.weight' has shape \[16, 16\], config calls for \[8, 16\]" -- \
  "$bin" info --model "$gguf_bad/kv_heads_mismatch.gguf"
# --- end GGUF models ---

# --- hardening (issue 14): one case per kind ---
llama=$src/tests/fixtures/models/llama-gqa

# 1. JSON nested tens of thousands deep: refused before any reader recurses into it.
d=$(model_copy deep-tokenizer)
deep_open=$(printf '{"type":"Sequence","normalizers":[%.0s' $(seq 1 20000))
deep_close=$(printf ']}%.0s' $(seq 1 20000))
tok=$(cat "$d/tokenizer.json")
printf '%s' "${tok/\"normalizer\": null/\"normalizer\": ${deep_open}${deep_close}}" >"$d/tokenizer.json"
expect_bad "tokenizer.json nested 20000 deep" "tokenizer.json: JSON nested more than 64 levels deep" -- "$bin" info --model "$d"
d=$(model_copy deep-config); printf '{"model_type": "gpt2", "x": %s1%s}' "$(printf '[%.0s' $(seq 1 50000))" "$(printf ']%.0s' $(seq 1 50000))" >"$d/config.json"
expect_bad "config.json nested 50000 deep" "config.json: JSON nested more than 64 levels deep" -- "$bin" info --model "$d"

# 2. Only regular files (and model folders) are opened: a FIFO or a device would hang or never end.
mkfifo "$work/fifo.gguf"
expect_bad "--model names a FIFO" "fifo.gguf: not a regular file \(a FIFO\)" -- "$bin" info --model "$work/fifo.gguf"
expect_bad "--prompt-file /dev/zero" "--prompt-file /dev/zero: not a regular file \(a character device\)" -- \
  "$bin" generate --model "$fixture" --prompt-file /dev/zero
d=$(model_copy config-device); rm "$d/config.json"; ln -s /dev/zero "$d/config.json"
expect_bad "config.json is /dev/zero" "config.json: not a regular file \(a character device\)" -- "$bin" info --model "$d"
d=$(model_copy tokenizer-fifo); rm "$d/tokenizer.json"; mkfifo "$d/tokenizer.json"
expect_bad "tokenizer.json is a FIFO" "tokenizer.json: not a regular file \(a FIFO\)" -- "$bin" info --model "$d"

# 3. Sizes the user controls are checked against the memory budget before allocating.
expect_bad "dump --attention over the memory budget" \
  "capturing [0-9]+ tokens needs .*attention maps .*more than the memory budget of 1.0 KB \(KVSCOPE_MEMORY_LIMIT\): keep exact maps of fewer layers and heads \(dump without --attention" -- \
  env KVSCOPE_MEMORY_LIMIT=1000 "$bin" dump --model "$fixture" --prompt "hello there" --attention --out "$work/att.safetensors"
# A checkpoint whose weights could not stay in memory: one F32 tensor of 2^38 bytes (256 GiB) in
# a sparse file, refused from the file's index before a page of it is read.
d=$(model_copy huge-weights)
python3 - "$d/model.safetensors" <<'PY'
import json, struct, sys
n = 1 << 36  # floats
header = json.dumps({"big": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
header += b" " * (-len(header) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header)
    f.truncate(8 + len(header) + 4 * n)
PY
expect_bad "weights larger than the machine's memory, refused before they are read" \
  "huge-weights: its weights take 27[0-9.]+ GB as stored, more than this machine's [0-9.]+ [GT]B of memory: use a smaller or more strongly quantized model" -- \
  "$bin" info --model "$d"
rm -f "$d/model.safetensors"
expect_bad "generate -n 2147483647 over the memory budget" \
  "generating [0-9]+ tokens after a prompt of [0-9]+ needs .*cache .*more than .*: generate fewer tokens" -- \
  env KVSCOPE_MEMORY_LIMIT=20K "$bin" generate --model "$fixture" --prompt "hi" -n 2147483647
expect_bad "analyze --generate keeping per-step attention over the budget" "with each step's attention needs .*attention per step" -- \
  env KVSCOPE_MEMORY_LIMIT=50K "$bin" analyze --model "$fixture" --prompt "hi" --generate 60 --out "$work/gen-out"
[ -e "$work/gen-out" ] && { echo "FAIL analyze made --out before refusing"; failures=$((failures + 1)); }
head -c 300000 /dev/zero | tr '\0' 'a' >"$work/long-prompt.txt"
expect_bad "prompt of more bytes than the context can hold, refused before tokenizing" \
  "the prompt has 300000 bytes, more than the model's context length of 64 tokens can hold" -- \
  "$bin" dump --model "$fixture" --prompt-file "$work/long-prompt.txt" --out "$work/long.safetensors"
head -c $((65 << 20)) /dev/zero >"$work/huge-prompt.txt"
expect_bad "prompt file over the size limit" "huge-prompt.txt: 68.2 MB is more than the 67.1 MB a prompt file may have" -- \
  "$bin" generate --model "$fixture" --prompt-file "$work/huge-prompt.txt"
rm -f "$work/huge-prompt.txt"
expect_bad "the same head repeated in --attention-heads" "--attention-heads entry 1 is given more than once" -- \
  "$bin" analyze --model "$fixture" --prompt "hi" --attention-heads 1,0,1 --out "$work/rep-out"
expect_bad "the same layer repeated in --attention-layers" "--attention-layers entry 0 is given more than once" -- \
  "$bin" analyze --model "$fixture" --prompt "hi" --attention-layers 0,0 --out "$work/rep-out"
expect_bad "unknown --html-maps" "--html-maps sometimes: expected auto, exact or pooled" -- \
  "$bin" analyze --model "$fixture" --prompt "hi" --html-maps sometimes --out "$work/rep-out"
expect_bad "--html-maps exact without attention" "--html-maps exact needs attention patterns: use --attention on" -- \
  "$bin" analyze --model "$fixture" --prompt "hi" --attention off --html-maps exact --out "$work/rep-out"
[ -e "$work/rep-out" ] && { echo "FAIL analyze made --out before refusing"; failures=$((failures + 1)); }

# 6. Bad values are refused, not taken for something else.
expect_bad "--model ''" "--model: empty name" -- "$bin" info --model ''
expect_bad "--layer -1" "--layer: '-1' is not a whole number from 0 up" -- "$bin" analyze --model "$fixture" --layer -1 --out "$work/x"
expect_bad "negative --attention-max-tokens" "--attention-max-tokens: '-5' is not a whole number" -- \
  "$bin" analyze --model "$fixture" --attention-max-tokens -5 --out "$work/x"
expect_bad "negative --seed (generate)" "--seed: '-1' is not a whole number" -- "$bin" generate --model "$fixture" --prompt hi --seed -1
expect_bad "negative --seed (analyze)" "--seed: '-7' is not a whole number" -- "$bin" analyze --model "$fixture" --seed -7 --out "$work/x"
[ -e "$work/x" ] && { echo "FAIL analyze made --out before refusing"; failures=$((failures + 1)); }
d=$(cp -r "$llama" "$work/rope" && echo "$work/rope"); sed -i 's/"rope_theta": 10000.0/"rope_theta": 1e300/' "$d/config.json"
expect_bad "rope_theta 1e300" "config.json: rope_theta inf must be positive and finite" -- "$bin" info --model "$d"

# 8. Control characters and newlines from paths stay escaped on one line.
nl_path="$work/two
lines.gguf"
printf 'NOPE\x03\x00\x00\x00' >"$nl_path"
expect_bad "newline in a path" "two\\\\nlines.gguf: not a GGUF file" -- "$bin" info --model "$nl_path"
expect_bad "escape character in a path" "a\\\\x1b\[31mred: no such file" -- "$bin" generate --model "$fixture" --prompt-file "$work/a"$'\x1b'"[31mred"

# 9 and 10. Checked before the model is loaded, printed or run; messages that name the problem.
mkdir -p "$work/prompt-dir"
expect_bad "a folder as --prompt-file" "--prompt-file .*prompt-dir: is a folder, not a file" -- \
  "$bin" generate --model "$fixture" --prompt-file "$work/prompt-dir"
printf 'caf\xe9 au lait' >"$work/latin1.txt"
expect_bad "non-UTF-8 prompt file" "--prompt-file .*latin1.txt: not UTF-8 text \(byte 3 is 0xe9\)" -- \
  "$bin" generate --model "$fixture" --prompt-file "$work/latin1.txt"
expect_bad "non-UTF-8 --prompt" "--prompt: not UTF-8 text \(byte 2 is 0xff\)" -- "$bin" generate --model "$fixture" --prompt $'hi\xff'
: >"$work/empty.txt"
expect_bad "empty prompt file" "--prompt-file .*empty.txt: the file is empty" -- "$bin" generate --model "$fixture" --prompt-file "$work/empty.txt"
expect_bad "dump --out '' before the model is loaded" "--out: empty file name" -- \
  "$bin" dump --model "$work/no-such-model" --prompt hi --out ''
expect_bad "analyze: --out is not made before the checks" "--layer 99 is out of range" -- \
  "$bin" analyze --model "$fixture" --layer 99 --out "$work/never-made"
[ -e "$work/never-made" ] && { echo "FAIL analyze left an empty --out folder"; failures=$((failures + 1)); }
# --- end hardening ---
# --- kvscope compress (the tiny GPT-2 has 64 positions, head_dim 16) ---
words=$(printf 'the keeper lit the lamp and wrote the weather in a book %.0s' $(seq 1 20))
cmp() { "$bin" compress --model "$fixture" --context 24 --continuation 8 --windows 2 --out "$work/cmp" "$@"; }
expect_bad "compress: unknown method" "unknown method 'lru' \(in 'window\+lru'\); known: full, window, streaming_llm" -- \
  cmp --prompt "$words" --methods window+lru
expect_bad "compress: budget out of range" "budget 1.5 is out of range" -- cmp --prompt "$words" --methods window --budgets 1.5
expect_bad "compress: budget keeps nothing" "budget 0.99 keeps 0 of 24 context tokens" -- \
  cmp --prompt "$words" --methods window --budgets 0.99
expect_bad "compress: negative budget" "budget -0.5 is out of range" -- cmp --prompt "$words" --methods window --budgets=-0.5
expect_bad "compress: token budget above the context" "budget 30 keeps more tokens than the context of 24" -- \
  cmp --prompt "$words" --methods window --budgets 30
expect_bad "compress: context + continuation too long" \
  "--context 60 \+ --continuation 8 = 68 tokens is longer than the model's context of 64" -- \
  "$bin" compress --model "$fixture" --prompt "$words" --context 60 --continuation 8 --windows 1 --out "$work/cmp"
expect_bad "compress: text too short" "the text is too short: it has [0-9]+ tokens; 2 windows of 24 \+ 8 \+ 1 need 66" -- \
  cmp --prompt "the keeper lit the lamp" --methods window
expect_bad "compress: empty text" "the text is empty" -- cmp --prompt "" --methods window
: >"$work/empty.txt"
expect_bad "compress: empty text file" "the text is empty" -- cmp --text-file "$work/empty.txt" --methods window
expect_bad "compress: missing text file" "--text-file .*nope.txt: cannot read the file" -- cmp --text-file "$work/nope.txt"
expect_bad "compress: block format needs head_dim % 32" "q4_0 needs a head_dim that is a multiple of 32; this model's is 16" -- \
  cmp --prompt "$words" --methods q4_0
expect_bad "compress: sensitivity without budget" "give a budget as METHOD@BUDGET" -- \
  cmp --prompt "$words" --methods int4-token --sensitivity window
expect_bad "compress: layer out of range" "--layer 5 is out of range: the model has 2 layers" -- \
  cmp --prompt "$words" --methods int4-token --sensitivity window@0.5 --layer 5
expect_bad "compress: unknown figure format" "--format gif: expected png, svg or pdf" -- cmp --prompt "$words" --format gif
echo "not a folder" >"$work/a-file"
expect_bad "compress: unwritable --out" "--out .*a-file/out: .*a-file is not a folder" -- \
  "$bin" compress --model "$fixture" --prompt "$words" --context 24 --continuation 8 --windows 2 --methods window --out "$work/a-file/out"
if [ -e "$work/cmp" ]; then echo "FAIL compress left output behind after bad input"; failures=$((failures + 1)); fi
# --- end kvscope compress ---

# --- Gemma 3: windows, layer kinds, q/k norms ---
gemma=$src/tests/fixtures/models/gemma3-tiny
gemma_copy() {
  local d=$work/$1
  rm -rf "$d"
  cp -r "$gemma" "$d"
  echo "$d"
}
d=$(gemma_copy gemma-no-window); sed -i '/"sliding_window": 8,/d' "$d/config.json"
expect_bad "gemma3 config without its window" "config.json: layer 0 is a sliding_attention layer but the config has no 'sliding_window'" -- "$bin" info --model "$d"
d=$(gemma_copy gemma-window-0); sed -i 's/"sliding_window": 8,/"sliding_window": 0,/' "$d/config.json"
expect_bad "gemma3 window 0" "config.json: field 'sliding_window': value 0 is out of range" -- "$bin" info --model "$d"
d=$(gemma_copy gemma-short-kinds); sed -i '/^    "full_attention",$/d' "$d/config.json"
expect_bad "gemma3 layer_types of the wrong length" "config.json: field 'layer_types': expected a list of 4 layer kinds" -- "$bin" info --model "$d"
d=$(gemma_copy gemma-kind); sed -i 's/^    "full_attention",$/    "local_attention",/' "$d/config.json"
expect_bad "gemma3 unknown layer kind" "config.json: field 'layer_types\[2\]': unknown layer kind \"local_attention\"" -- "$bin" info --model "$d"
py=${KVSCOPE_PYTHON:-}
if [ -z "$py" ]; then
  if [ -x "$src/build/venv-test/bin/python" ]; then py=$src/build/venv-test/bin/python; else py=python3; fi
fi
if "$py" -c "import numpy, safetensors, gguf" 2>/dev/null; then
  d=$(gemma_copy gemma-qnorm)
  "$py" - "$d/model.safetensors" <<'PY'
import sys
from safetensors.numpy import load_file, save_file
w = load_file(sys.argv[1])
w["model.layers.1.self_attn.q_norm.weight"] = w["model.layers.1.self_attn.q_norm.weight"][:16]
save_file(w, sys.argv[1], metadata={"format": "pt"})
PY
  expect_bad "gemma3 q_norm of the wrong size" "model.safetensors: tensor 'model.layers.1.self_attn.q_norm.weight' has shape \[16\], config calls for \[24\]" -- "$bin" info --model "$d"
  for case in none zero; do
    "$py" - "$work/gemma-$case.gguf" "$case" <<'PY'
import sys
import numpy as np
import gguf
w = gguf.GGUFWriter(sys.argv[1], "gemma3")
for key, value in [("block_count", 1), ("embedding_length", 8), ("feed_forward_length", 8),
                   ("context_length", 16), ("attention.head_count", 1),
                   ("attention.head_count_kv", 1), ("attention.key_length", 8)]:
    w.add_uint32(f"gemma3.{key}", value)
if sys.argv[2] == "zero":
    w.add_uint32("gemma3.attention.sliding_window", 0)
w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
  done
  expect_bad "gemma3 GGUF without its window" "gemma-none.gguf: missing metadata key 'gemma3.attention.sliding_window'" -- "$bin" info --model "$work/gemma-none.gguf"
  expect_bad "gemma3 GGUF window 0" "gemma-zero.gguf: metadata 'gemma3.attention.sliding_window': value 0 must be positive" -- "$bin" info --model "$work/gemma-zero.gguf"
else
  echo "skip gemma3 q_norm and GGUF cases: no python with numpy, safetensors and gguf"
fi
# --- end Gemma 3 ---

if [ "$failures" -ne 0 ]; then
  echo "$failures bad-input case(s) failed"
  exit 1
fi
echo "all bad-input cases passed"
