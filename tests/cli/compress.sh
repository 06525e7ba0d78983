#!/usr/bin/env bash
# kvscope compress on the tiny GPT-2 and Llama checkpoints: every output file, results.json's
# fields, `full` giving KL 0, the table on stdout, and nothing on stderr when it is no terminal.
# Usage: compress.sh KVSCOPE_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL $*"
  failures=$((failures + 1))
}

words=$(printf 'the keeper lit the lamp and wrote the weather in a small book %.0s' $(seq 1 30))
out=$work/gpt2
"$bin" compress --model "$src/tests/fixtures/models/gpt2-a" --prompt "$words" --context 40 \
  --continuation 8 --windows 2 --methods full,window,streaming_llm,knorm,h2o,snapkv,int4-token,kivi2,k:int2-channel+v:int4-token \
  --budgets 0.5,0.75 --sensitivity streaming_llm@0.5 --layer 1 --out "$out" >"$work/stdout" 2>"$work/stderr"
code=$?
[ "$code" -eq 0 ] || fail "gpt2-a: exit code $code: $(cat "$work/stderr")"
[ -s "$work/stderr" ] && fail "gpt2-a: stderr is not empty: $(cat "$work/stderr")"
for f in results.json results.csv sensitivity.csv compression_pareto.png compression_kl_distribution.png \
  compression_sensitivity.png compression_guide.md; do
  [ -s "$out/$f" ] || fail "gpt2-a: $f missing"
done
grep -q "^streaming_llm .*0.5" "$work/stdout" || fail "gpt2-a: no streaming_llm row in the table: $(cat "$work/stdout")"
ls -a "$out" | grep -q '\.tmp' && fail "gpt2-a: temporary files left in $out"
python3 - "$out/results.json" <<'PY' || fail "gpt2-a: results.json"
import json, sys
r = json.load(open(sys.argv[1]))
for k in ["model", "text", "context", "continuation", "windows", "scored", "reference", "results"]:
    assert k in r, k
assert r["context"] == 40 and r["continuation"] == 8 and r["windows"] == 2 and r["scored"] == 16
assert r["reference"]["ppl"] > 1
names = [(x["method"], x["budget"]) for x in r["results"]]
assert len(names) == 1 + 5 * 2 + 3, names
fields = ["method", "budget", "kept_tokens", "cache_bytes", "bytes_ratio", "kl_mean", "kl_p50", "kl_p90",
          "kl_p99", "kl_max", "top1_agree", "ppl", "ppl_ratio", "delta_p_mean", "delta_p_rms"]
for x in r["results"]:
    for f in fields:
        assert f in x, (x["method"], f)
full = r["results"][0]
assert full["method"] == "full" and full["budget"] is None
assert full["kl_max"] < 1e-9 and full["top1_agree"] == 1.0 and abs(full["ppl_ratio"] - 1) < 1e-9
assert full["bytes_ratio"] == 1.0
w = [x for x in r["results"] if x["method"] == "window"]
assert [x["kept_tokens"] for x in w] == [20, 10], w
assert [x["bytes_ratio"] for x in w] == [0.5, 0.25], w
assert all(x["kl_mean"] > 0 for x in w)
kivi = [x for x in r["results"] if x["method"] == "kivi2"][0]
assert kivi["budget"] is None and kivi["kept_tokens"] == 40 and 0 < kivi["bytes_ratio"] < 1
s = r["sensitivity"]
assert s["method"] == "streaming_llm" and s["budget"] == 0.5 and len(s["per_layer"]) == 2
assert s["layer"] == 1 and [h["kv_head"] for h in s["per_kv_head"]] == [0, 1, 2, 3]
PY
head -1 "$out/results.csv" | grep -q "^method,budget,kept_tokens,cache_bytes,bytes_ratio,kl_mean" || fail "results.csv header"

# A Llama with grouped-query attention, SVG figures, the pre-RoPE quantizer and a token budget.
out=$work/llama
"$bin" compress --model "$src/tests/fixtures/models/llama-gqa" --prompt "$words" --context 48 \
  --continuation 8 --windows 1 --methods tova,keydiff,random,magnitude,prerope-int4-channel,k:int4-channel \
  --budgets 12 --format svg --out "$out" >"$work/stdout" 2>"$work/stderr" || fail "llama-gqa: $(cat "$work/stderr")"
for f in results.json compression_pareto.svg compression_kl_distribution.svg; do
  [ -s "$out/$f" ] || fail "llama-gqa: $f missing"
done
[ -e "$out/compression_sensitivity.svg" ] && fail "llama-gqa: a sensitivity figure nobody asked for"
python3 - "$out/results.json" <<'PY' || fail "llama-gqa: results.json"
import json, sys
r = json.load(open(sys.argv[1]))
ev = [x for x in r["results"] if x["budget"] is not None]
assert all(x["budget"] == 12 and x["kept_tokens"] == 12 for x in ev), ev
pre, post = [x for x in r["results"] if x["method"] in ("prerope-int4-channel", "k:int4-channel")]
assert pre["cache_bytes"] == post["cache_bytes"]
assert pre["kl_mean"] != post["kl_mean"]
PY

if [ "$failures" -ne 0 ]; then
  echo "$failures compress check(s) failed"
  exit 1
fi
echo "compress ok"
