#!/usr/bin/env python3
"""Fixtures for the GGUF reader and the dequantizers, computed with the `gguf` package.

Writes into tests/fixtures/gguf/:
  dequant_<type>.bin  raw blocks of one GGML block type (4 blocks)
  dequant_<type>.f32  gguf.quants.dequantize of those bytes, float32 little-endian
  tiny.gguf           a small GGUF v3 file from gguf.GGUFWriter: every metadata value
                      type, arrays, tensors of several types
  tiny_align64.gguf   the same writer with general.alignment = 64
  tiny.json           what tiny.gguf contains, as read back by gguf.GGUFReader

Blocks are half real data quantized by gguf.quants.quantize (where the package can
quantize the type) and half random bytes with sane f16 scales, so every bit pattern of
the quants is exercised.

Run from the repository root: tests/oracle/make_gguf_fixtures.py
"""
import json
import pathlib

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "gguf"

# Byte ranges of the f16 scale fields in each block (facts of the format).
F16_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
N_BLOCKS = 4


def random_blocks(rng, qtype, n):
    elems, nbytes = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        scale = rng.uniform(-0.05, 0.05, size=n).astype(np.float16)
        raw[:, off:off + 2] = scale.view(np.uint8).reshape(n, 2)
    return raw


def quant_blocks(rng, qtype, n):
    elems, _ = gguf.GGML_QUANT_SIZES[qtype]
    data = rng.normal(0.0, 1.0, size=(n, elems)).astype(np.float32)
    try:
        return gguf.quants.quantize(data, qtype).reshape(n, -1)
    except NotImplementedError:
        return None


def write_dequant_fixtures(rng):
    for qtype in F16_FIELDS:
        q = quant_blocks(rng, qtype, N_BLOCKS // 2)
        r = random_blocks(rng, qtype, N_BLOCKS if q is None else N_BLOCKS // 2)
        blocks = r if q is None else np.concatenate([q, r])
        expected = gguf.quants.dequantize(blocks.reshape(-1), qtype).astype(np.float32)
        name = qtype.name.lower()
        (OUT / f"dequant_{name}.bin").write_bytes(blocks.tobytes())
        (OUT / f"dequant_{name}.f32").write_bytes(expected.astype("<f4").tobytes())


def write_tiny(rng, path, alignment=None):
    w = gguf.GGUFWriter(str(path), arch="tinyarch")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.15625)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "hello, GGUF \u00e9\u4e16")
    w.add_string("test.empty_string", "")
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float64("test.f64", -2.718281828459045)
    w.add_key_value("test.arr_str", ["a", "", "ccc", "\u00fcber"], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("test.arr_i32", [1, -2, 3, 2147483647], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("test.arr_u8", [0, 255, 7], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("test.arr_f32", [0.5, -1.25, 3.0], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("test.arr_bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)

    w.add_tensor("t.f32", rng.normal(size=(3, 4)).astype(np.float32))
    w.add_tensor("t.f16", rng.normal(size=(2, 3, 8)).astype(np.float16))
    w.add_tensor("t.i32", np.arange(-3, 5, dtype=np.int32))
    bf16 = gguf.quants.quantize(rng.normal(size=(2, 16)).astype(np.float32), Q.BF16)
    w.add_tensor("t.bf16", bf16, raw_dtype=Q.BF16)
    q8 = gguf.quants.quantize(rng.normal(size=(2, 64)).astype(np.float32), Q.Q8_0)
    w.add_tensor("t.q8_0", q8, raw_dtype=Q.Q8_0)
    q41 = gguf.quants.quantize(rng.normal(size=(1, 2, 32)).astype(np.float32), Q.Q4_1)
    w.add_tensor("t.q4_1", q41, raw_dtype=Q.Q4_1)
    w.add_tensor("t.q4_k", random_blocks(rng, Q.Q4_K, 2).reshape(2, -1), raw_dtype=Q.Q4_K)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def describe(path):
    r = gguf.GGUFReader(str(path))
    meta = {}
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        vtype = f.types[0]
        entry = {"type": vtype.name.lower()}
        if vtype == V.ARRAY:
            sub = f.types[1] if len(f.types) > 1 else None
            entry["array_type"] = sub.name.lower() if sub is not None else None
            entry["value"] = f.contents()
            entry["len"] = len(f.data)
        else:
            entry["value"] = f.contents()
        meta[key] = entry
    tensors = []
    for t in r.tensors:
        if t.tensor_type in (Q.F32, Q.F16, Q.I8, Q.I16, Q.I32, Q.I64, Q.F64):
            values = np.asarray(t.data)  # plain types: the reader already gives elements
        else:
            values = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(x) for x in reversed(t.shape)],  # ne[] reversed
            "file_offset": int(t.data_offset),
            "n_bytes": int(t.n_bytes),
            "values": [float(x) for x in np.asarray(values, dtype=np.float64).reshape(-1)],
        })
    return {"version": 3, "metadata": meta, "tensors": tensors}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    write_dequant_fixtures(rng)
    write_tiny(np.random.default_rng(7), OUT / "tiny.gguf")
    write_tiny(np.random.default_rng(7), OUT / "tiny_align64.gguf", alignment=64)
    desc = describe(OUT / "tiny.gguf")
    desc["alignment64_tensors"] = [{"name": t["name"], "file_offset": t["file_offset"]}
                                   for t in describe(OUT / "tiny_align64.gguf")["tensors"]]
    (OUT / "tiny.json").write_text(json.dumps(desc, indent=1) + "\n")


if __name__ == "__main__":
    main()
