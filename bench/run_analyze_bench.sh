#!/usr/bin/env bash
# End-to-end benchmark: `kvscope analyze` against bench/reference_pipeline.py (the same
# figures drawn with transformers + matplotlib/seaborn/sklearn/pandas), on one GPT-2-small-shape
# random-weight checkpoint, at each prompt length in LENGTHS. See bench/README_analyze.md.
#
# Environment (all optional):
#   PYTHON    interpreter with torch, transformers, matplotlib, seaborn, sklearn, pandas (python3)
#   KVSCOPE   the kvscope binary (build/kvscope)
#   THREADS   CPU threads for both sides (2)
#   LENGTHS   prompt lengths in tokens ("80 512")
#   REF_ARGS  extra arguments for the reference pipeline (e.g. "--tick-labels auto")
#   SKIP_REF  1: time kvscope only (the reference columns stay empty)
#   KEEP      1: keep the temporary folder (checkpoint, prompts, figures) and print its path
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
KVSCOPE=${KVSCOPE:-build/kvscope}
THREADS=${THREADS:-2}
LENGTHS=${LENGTHS:-"80 512"}
REF_ARGS=${REF_ARGS:-}
SKIP_REF=${SKIP_REF:-0}
KEEP=${KEEP:-0}

work=$(mktemp -d "${TMPDIR:-/tmp}/kvscope-bench.XXXXXX")
if [[ "$KEEP" == 1 ]]; then
  echo "keeping $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi
model="$work/gpt2-small-random"
results="$work/results.jsonl"
: >"$results"

export OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
export TOKENIZERS_PARALLELISM=false

have_kvscope=0
if [[ -x "$KVSCOPE" ]] && "$KVSCOPE" analyze --help >/dev/null 2>&1; then
  have_kvscope=1
else
  echo "note: $KVSCOPE has no 'analyze' subcommand (build it: cmake --build build --target kvscope); timing the reference only" >&2
fi

echo "== making a GPT-2-small-shape checkpoint with random weights" >&2
"$PYTHON" - "$model" <<'EOF'
import sys, torch
from transformers import GPT2Config, GPT2LMHeadModel
torch.manual_seed(0)
cfg = GPT2Config(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024)
GPT2LMHeadModel(cfg).eval().save_pretrained(sys.argv[1], safe_serialization=True)
EOF
# A small trained byte-level BPE: its ids all fall inside the model's vocabulary, which is all
# the timing needs.
cp tests/fixtures/models/gpt2-a/tokenizer.json tests/fixtures/models/gpt2-a/tokenizer_config.json "$model/"

# Runs a command under /usr/bin/time; leaves "wall user sys" seconds in $work/time.txt and
# stdout in $work/stdout.txt (stderr goes to $work/stderr.txt).
timed() {
  /usr/bin/time -f "%e %U %S" -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt" || {
    echo "failed: $*" >&2
    tail -n 20 "$work/stderr.txt" >&2
    return 1
  }
}

for L in $LENGTHS; do
  prompt="$work/prompt_$L.txt"
  "$PYTHON" bench/reference_pipeline.py --model "$model" --tokens "$L" --out "$work/ref_$L" \
    --prompt-out "$prompt" --prompt-only
  load=$(cut -d' ' -f1-3 /proc/loadavg)

  ref_json=null ref_time=""
  if [[ "$SKIP_REF" != 1 ]]; then
    echo "== reference pipeline, $L tokens (load $load)" >&2
    # shellcheck disable=SC2086
    timed "$PYTHON" bench/reference_pipeline.py --model "$model" --tokens "$L" --out "$work/ref_$L" \
      --threads "$THREADS" $REF_ARGS
    ref_json=$(tail -n 1 "$work/stdout.txt")
    ref_time=$(cat "$work/time.txt")
  fi

  kv_line=null kv_time="" kv_tokens=null
  if [[ "$have_kvscope" == 1 ]]; then
    echo "== kvscope analyze, $L tokens" >&2
    timed "$KVSCOPE" analyze --model "$model" --prompt-file "$prompt" --out "$work/kv_$L"
    kv_line=$(tail -n 1 "$work/stdout.txt" | "$PYTHON" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')
    kv_tokens=$(grep -oiE '[0-9]+ (prompt )?tokens' "$work/stdout.txt" | head -n 1 | grep -oE '^[0-9]+' || echo null)
    kv_time=$(cat "$work/time.txt")
  fi

  printf '{"tokens": %s, "load": "%s", "ref": %s, "ref_time": "%s", "kv_line": %s, "kv_time": "%s", "kv_tokens": %s}\n' \
    "$L" "$load" "$ref_json" "$ref_time" "$kv_line" "$kv_time" "${kv_tokens:-null}" >>"$results"
done

"$PYTHON" - "$results" "$THREADS" <<'EOF'
import json, re, sys

def kv_phases(line):
    """Seconds of each phase named on kvscope's last stdout line ("load 0.1 s, forward 2.3 s,
    ..." or with ms); None for a phase it does not name."""
    out = {}
    for name in ("load", "forward", "analysis", "figures"):
        m = re.search(name + r"\D{0,12}?([0-9]+(?:\.[0-9]+)?)\s*(ms|s)?\b", line or "", re.I)
        if m:
            v = float(m.group(1))
            out[name] = v / 1000 if m.group(2) == "ms" else v
    return out

rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"threads {sys.argv[2]}; wall-clock seconds end to end (CPU = user + sys); phases in seconds")
head = ("tokens", "load avg", "reference wall", "ref CPU", "ref phases load/fwd/anal/draw",
        "kvscope wall", "kv CPU", "kv phases load/fwd/anal/fig", "ratio wall", "ratio CPU",
        "kv anal+fig <= fwd")
print(" | ".join(head))
for r in rows:
    ref, kvt, rt = r["ref"], r["kv_time"].split(), r["ref_time"].split()
    ref_wall = float(rt[0]) if rt else None
    ref_cpu = float(rt[1]) + float(rt[2]) if rt else None
    kv_wall = float(kvt[0]) if kvt else None
    kv_cpu = float(kvt[1]) + float(kvt[2]) if kvt else None
    ph = kv_phases(r["kv_line"])
    fmt = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"
    ref_ph = "-" if not ref else "/".join(fmt(ref[k], 1) for k in ("load", "forward", "analysis", "drawing"))
    kv_ph = "/".join(fmt(ph.get(k), 3) for k in ("load", "forward", "analysis", "figures")) if ph else "-"
    ok = "-"
    if all(k in ph for k in ("forward", "analysis", "figures")):
        ok = "yes" if ph["analysis"] + ph["figures"] <= ph["forward"] else "no"
    ratio = lambda a, b: "-" if a is None or not b else f"{a / b:.0f}x"
    tokens = str(r["tokens"]) + ("" if r["kv_tokens"] in (None, r["tokens"]) else f" (kvscope: {r['kv_tokens']})")
    print(" | ".join([tokens, r["load"], fmt(ref_wall, 1), fmt(ref_cpu, 1), ref_ph, fmt(kv_wall), fmt(kv_cpu),
                      kv_ph, ratio(ref_wall, kv_wall), ratio(ref_cpu, kv_cpu), ok]))
    if r["kv_line"]:
        print(f"  kvscope's timing line at {r['tokens']}: {r['kv_line']}")
EOF
