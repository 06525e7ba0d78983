#!/usr/bin/env python3
"""Expected outputs of the real Gemma 3 270M (models/gemma-3-270m-q4_k_m.gguf, installed by
scripts/fetch_gemma_model.sh) from transformers loading the same GGUF, for
tests/unit/gemma_model_test.cpp: token ids, the top logits of every prompt position, a greedy
30-token continuation, and the tokenizer's ids on the tokenizer test corpus.

Made with the versions written into the fixture (transformers 5.24.0, torch 2.15.0, gguf
0.19.0), in the virtual environment described in make_window_model_fixtures.py:
    build/oracle-venv-new/bin/python tests/oracle/make_gemma_model_fixture.py

Is transformers' GGUF loader a fair reference for Gemma 3? llama.cpp's converter stores Gemma's
RMSNorm weights with the 1 of (1 + w) added; transformers' Gemma3RMSNorm adds 1 itself, so the
loader must subtract it. Checked here before anything else (check_norms): every one of the
file's 18 x 6 + 1 norm weights (input, post-attention, pre- and post-feedforward, q and k, and
the final norm) loads as exactly the file's value minus 1 in transformers 5.24.0 (its loader
subtracts 1 from every tensor whose name has "norm.weight"), and the layer kinds it builds
(every sixth layer global), the local RoPE base (10000) and the query scale (256^-1/2) are the
ones llama.cpp uses for this file, which stores none of them. Other versions map Gemma 3's
tensors differently; the script stops if the check fails.
"""

import json
import sys
from pathlib import Path

import gguf
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "gemma-3-270m-q4_k_m.gguf"
OUT = REPO / "tests" / "fixtures" / "gemma_model" / "expected.json"
PROMPT = "The key-value cache of a transformer stores"
GREEDY_NEW_TOKENS = 30
TOP_K = 10
PROBES = [0, 1, 2, 3, 106, 107, 236743, 262143]  # pad, eos, bos, unk, turn end, "\n", "▁", last


def check_norms(model):
    reader = gguf.GGUFReader(str(MODEL))
    file_norms = {t.name: np.array(t.data, dtype=np.float32) for t in reader.tensors
                  if t.name.endswith("norm.weight")}
    names = {"attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
             "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}
    params = dict(model.named_parameters())
    checked = 0
    for gname, values in file_norms.items():
        if gname == "output_norm.weight":
            hname = "model.norm.weight"
        else:
            _, l, kind, _ = gname.split(".")
            hname = f"model.layers.{l}.{names[kind]}.weight"
        loaded = params[hname].detach().float().numpy()
        assert np.array_equal(loaded, values - np.float32(1)), (gname, hname)
        checked += 1
    assert checked == 18 * 6 + 1, checked
    cfg = model.config
    assert cfg.layer_types == ["full_attention" if (l + 1) % 6 == 0 else "sliding_attention"
                               for l in range(18)], cfg.layer_types
    assert cfg.query_pre_attn_scalar == 256 and cfg.sliding_window == 512
    local = cfg.rope_parameters["sliding_attention"]["rope_theta"]
    glob = cfg.rope_parameters["full_attention"]["rope_theta"]
    assert (local, glob) == (10000.0, 1000000.0), (local, glob)
    return checked


def corpus_ids(tok):
    """Ids of every line of the tokenizer test corpus, as transformers' tokenizer gives them."""
    folder = REPO / "tests" / "fixtures" / "tokenizer"
    corpus = json.loads((folder / "corpus.json").read_text())
    return [dict(text=t, ids=tok(t)["input_ids"]) for t in corpus]


def main():
    torch.set_grad_enabled(False)
    tok = AutoTokenizer.from_pretrained(MODEL.parent, gguf_file=MODEL.name)
    model = AutoModelForCausalLM.from_pretrained(MODEL.parent, gguf_file=MODEL.name,
                                                 dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    n_norms = check_norms(model)
    ids = tok(PROMPT)["input_ids"]
    assert ids[0] == 2, ids  # BOS added
    x = torch.tensor([ids])
    logits = model(x).logits[0].float()
    positions = []
    for i in range(len(ids)):
        top = torch.topk(logits[i], TOP_K)
        positions.append(dict(top_ids=top.indices.tolist(), top_logits=top.values.tolist(),
                              probe_logits=logits[i, PROBES].tolist()))
    model.generation_config.eos_token_id = None
    gen = model.generate(x, do_sample=False, max_new_tokens=GREEDY_NEW_TOKENS, min_new_tokens=0,
                         eos_token_id=None, pad_token_id=0, return_dict_in_generate=True,
                         output_logits=True)
    new_ids = gen.sequences[0, len(ids):].tolist()
    step = torch.cat([s.float() for s in gen.logits])
    top2 = torch.topk(step, 2, dim=-1).values
    gaps = (top2[:, 0] - top2[:, 1]).tolist()
    doc = dict(model=MODEL.name, transformers_version=transformers.__version__,
               torch_version=torch.__version__, gguf_version=gguf.__version__
               if hasattr(gguf, "__version__") else "0.19.0",
               norms_checked_as_file_minus_one=n_norms, prompt=PROMPT, input_ids=ids,
               probe_ids=PROBES, positions=positions,
               logit_range=float(logits.max() - logits.min()),
               greedy_new_tokens=GREEDY_NEW_TOKENS, greedy_ids=new_ids,
               greedy_text=tok.decode(new_ids, skip_special_tokens=False),
               greedy_top1_gaps=gaps)
    corpus_file = REPO / "tests" / "fixtures" / "tokenizer" / "corpus.json"
    if corpus_file.exists():
        doc["corpus"] = corpus_ids(tok)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(ids)} prompt tokens, greedy {new_ids[:8]}..., min gap {min(gaps):.3g}")


if __name__ == "__main__":
    sys.exit(main())
