#!/usr/bin/env bash
# A run's output folder holds that run's files only: analyze (and dump --npy) fill a hidden
# temporary folder beside the target and swap it in at the end. Two runs into one folder never
# mix; a failure or a signal leaves the previous output as it was and no temporary behind; a
# later run removes stale temporaries; a folder holding other files is never replaced.
# Usage: output_folder.sh KVSCOPE_BINARY SOURCE_DIR
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")  # absolute: one check runs elsewhere
src=$(cd "$2" && pwd)
model=$src/tests/fixtures/models/llama-gqa
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}
ok() { echo "ok   $*"; }
prompt_a="The cache keeps every key and value of the prompt."
prompt_b="A second prompt, with other words, for a second run."
# Temporaries of kvscope's naming (".<name>.tmp.<pid>.<n>") and of the old plot writer.
debris() { find "$work" -name '*.tmp*'; }
metrics_prompt() { grep -o '"prompt": *"[^"]*"' "$1/metrics.json" | head -n 1; }
# A pid that no process has now.
true &
dead_pid=$!
wait $dead_pid

# 1. Two runs into one folder: the second replaces the first whole (no generation files left
#    from the first run's --generate).
"$bin" analyze --model "$model" --prompt "$prompt_a" --out "$work/out" --generate 3 >/dev/null 2>"$work/err" ||
  fail "first run: $(cat "$work/err")"
[ -s "$work/out/generation.png" ] || fail "first run wrote no generation.png"
"$bin" analyze --model "$model" --prompt "$prompt_b" --out "$work/out" >/dev/null 2>"$work/err" ||
  fail "second run: $(cat "$work/err")"
if [ -e "$work/out/generation.png" ] || [ -e "$work/out/generation.csv" ]; then
  fail "the second run's folder still holds the first run's generation files"
elif ! metrics_prompt "$work/out" | grep -q "second prompt"; then
  fail "metrics.json is not the second run's: $(metrics_prompt "$work/out")"
else
  ok "a second run into one folder replaces the first whole"
fi
[ -z "$(debris)" ] || fail "temporaries left: $(debris)"
[ "$(ls -A "$work" | grep -v '^err$')" = "out" ] || fail "the work folder holds more than out/: $(ls -A "$work")"
before=$(cd "$work/out" && ls -A | sort | tr '\n' ' ')

# 2. A late failure (files limited to 64 KiB, so a figure cannot be written, as on a full
#    disk) keeps the previous complete output and leaves nothing new; exit 1 (not bad input).
(
  trap '' XFSZ
  ulimit -f 64
  exec "$bin" analyze --model "$model" --prompt "$prompt_a" --out "$work/out" --generate 3
) >/dev/null 2>"$work/err"
code=$?
after=$(cd "$work/out" && ls -A | sort | tr '\n' ' ')
if [ $code -ne 1 ]; then
  fail "late failure: exit code $code, expected 1: $(cat "$work/err")"
elif ! grep -q "$work/out/[a-z_]*\.png: cannot write: File too large" "$work/err"; then
  fail "late failure: stderr does not say why: $(cat "$work/err")"
elif [ "$before" != "$after" ] || ! metrics_prompt "$work/out" | grep -q "second prompt"; then
  fail "late failure changed the previous output: $after"
elif [ -n "$(debris)" ] || [ "$(ls -A "$work" | grep -v '^err$')" != "out" ]; then
  fail "late failure left files: $(ls -A "$work") $(debris)"
else
  ok "a late failure keeps the previous output and leaves nothing: $(cat "$work/err")"
fi

# 3. SIGINT and SIGTERM while the figures are written: the temporary folder is removed, the
#    previous output stays, and the exit status is the signal's. The signal is sent once the
#    temporary folder exists (figures are being written); a run that finishes before that is
#    tried again.
set -m  # background jobs of a script ignore SIGINT otherwise
for sig in INT TERM; do
  caught=0
  for attempt in 1 2 3 4 5 6 7 8; do
    OMP_NUM_THREADS=1 "$bin" analyze --model "$model" --prompt "$prompt_a" --out "$work/out" \
      --format pdf --generate 3 >/dev/null 2>"$work/err" &
    pid=$!
    while kill -0 $pid 2>/dev/null && ! ls -A "$work" | grep -q '^\.out\.tmp\.'; do sleep 0.002; done
    kill -s $sig $pid 2>/dev/null
    wait $pid
    code=$?
    if ! ls "$work/out" | grep -q '\.pdf$'; then
      caught=1
      break
    fi
    # Finished first: put the PNG output back and try again.
    "$bin" analyze --model "$model" --prompt "$prompt_b" --out "$work/out" >/dev/null 2>&1
  done
  expected=$((128 + $(kill -l $sig)))
  after=$(cd "$work/out" && ls -A | sort | tr '\n' ' ')
  if [ $caught -eq 0 ]; then
    fail "SIG$sig: every run finished before the signal"
  elif [ $code -ne $expected ]; then
    fail "SIG$sig: exit status $code, expected $expected: $(cat "$work/err")"
  elif [ -n "$(debris)" ] || [ "$(ls -A "$work" | grep -v '^err$')" != "out" ]; then
    fail "SIG$sig left temporaries: $(ls -A "$work") $(debris)"
  elif [ "$before" != "$after" ]; then
    fail "SIG$sig changed the previous output: $after"
  else
    ok "SIG$sig while writing figures leaves the previous output and no temporaries"
  fi
done
set +m

# 4. Stale temporaries of kvscope's naming beside the target (an interrupted run whose
#    process is gone) are removed by the next run; those of a live process are kept.
mkdir "$work/.out.tmp.$dead_pid.0" "$work/.out.tmp.$$.0"
touch "$work/.out.tmp.$dead_pid.0/kv_cache_layers.png" "$work/.out.tmp.$$.0/kv_cache_layers.png"
"$bin" analyze --model "$model" --prompt "$prompt_b" --out "$work/out" >/dev/null 2>"$work/err" ||
  fail "run after an interrupted one: $(cat "$work/err")"
if [ -e "$work/.out.tmp.$dead_pid.0" ]; then
  fail "a stale temporary folder was not removed"
elif [ ! -e "$work/.out.tmp.$$.0" ]; then
  fail "the temporary folder of a live process was removed"
else
  ok "stale temporaries are removed, live ones kept"
fi
rm -rf "$work/.out.tmp.$$.0"

# 5. Two runs at once into one folder: both succeed and the folder is one run's, whole.
"$bin" analyze --model "$model" --prompt "$prompt_a" --out "$work/par" --generate 3 >/dev/null 2>"$work/err1" &
p1=$!
"$bin" analyze --model "$model" --prompt "$prompt_b" --out "$work/par" >/dev/null 2>"$work/err2" &
p2=$!
wait $p1 || fail "concurrent run 1: $(cat "$work/err1")"
wait $p2 || fail "concurrent run 2: $(cat "$work/err2")"
if metrics_prompt "$work/par" | grep -q "second prompt"; then
  [ -e "$work/par/generation.png" ] && fail "concurrent runs mixed: run 2's metrics with run 1's generation.png"
else
  [ -e "$work/par/generation.png" ] || fail "concurrent runs mixed: run 1's metrics without its generation.png"
fi
[ -z "$(debris)" ] || fail "concurrent runs left temporaries: $(debris)"
ok "two concurrent runs leave one run's output"

# 6. A folder holding files kvscope did not write is refused (exit 2) and left untouched.
mkdir "$work/mine" && echo "notes" >"$work/mine/notes.txt"
"$bin" analyze --model "$model" --prompt "$prompt_a" --out "$work/mine" >/dev/null 2>"$work/err"
code=$?
if [ $code -ne 2 ] || ! grep -q "holds 'notes.txt', which kvscope did not write" "$work/err"; then
  fail "foreign folder: exit $code: $(cat "$work/err")"
elif [ "$(ls -A "$work/mine")" != "notes.txt" ]; then
  fail "foreign folder was changed: $(ls -A "$work/mine")"
else
  ok "a folder holding other files is refused: $(cat "$work/err")"
fi

# 6b. The current folder is never replaced (it would leave the shell in a removed folder).
mkdir "$work/here"
(cd "$work/here" && "$bin" analyze --model "$model" --prompt "$prompt_a" --out . >/dev/null 2>"$work/err")
code=$?
if [ $code -ne 2 ] || ! grep -q -- "--out .: is the current or the root folder" "$work/err"; then
  fail "--out .: exit $code: $(cat "$work/err")"
elif [ -n "$(ls -A "$work/here")" ]; then
  fail "--out . wrote files: $(ls -A "$work/here")"
else
  ok "--out . is refused: $(cat "$work/err")"
fi
rmdir "$work/here"

# 7. Bad input creates no output folder (it is made only after the inputs are checked).
"$bin" analyze --model "$model" --prompt "$prompt_a" --out "$work/new/deep" --layer 7 >/dev/null 2>"$work/err"
code=$?
if [ $code -ne 2 ]; then
  fail "--layer 7: exit $code"
elif [ -e "$work/new" ]; then
  fail "bad input created the output folder"
else
  ok "bad input creates no output folder"
fi

# 8. dump --npy: the folder is replaced whole; an impossible --npy folder fails before the
#    model runs and leaves no .safetensors.
"$bin" dump --model "$model" --prompt "$prompt_a" --attention --out "$work/a.safetensors" --npy "$work/npy" >/dev/null 2>"$work/err" ||
  fail "dump --attention --npy: $(cat "$work/err")"
n1=$(ls "$work/npy" | grep -c 'pattern')
"$bin" dump --model "$model" --prompt "$prompt_a" --out "$work/a.safetensors" --npy "$work/npy" >/dev/null 2>"$work/err" ||
  fail "dump --npy: $(cat "$work/err")"
n2=$(ls "$work/npy" | grep -c 'pattern')
if [ "$n1" -eq 0 ] || [ "$n2" -ne 0 ]; then
  fail "dump --npy: attention files from the first run: $n1 then $n2"
else
  ok "dump --npy replaces the folder whole"
fi
echo x >"$work/plain"
"$bin" dump --model "$model" --prompt "$prompt_a" --out "$work/b.safetensors" --npy "$work/plain/npy" >/dev/null 2>"$work/err"
code=$?
if [ $code -ne 2 ] || [ -e "$work/b.safetensors" ]; then
  fail "dump --npy under a file: exit $code, safetensors left: $(ls "$work")"
else
  ok "dump --npy under a file: $(cat "$work/err")"
fi
[ -z "$(debris)" ] || fail "dump left temporaries: $(debris)"

if [ "$failures" -ne 0 ]; then
  echo "$failures output folder check(s) failed"
  exit 1
fi
echo "all output folder checks passed"
