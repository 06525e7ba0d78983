#!/usr/bin/env python3
"""Writes the seed corpus for fuzz/safetensors_fuzz.cpp into fuzz/corpus/safetensors/: a few
tiny valid files and one corrupt file per validation rule of the reader."""
import json
import os
import struct


def st(header, data=b""):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def one(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"w": {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}}


SEEDS = {
    "valid_two_tensors": st({"__metadata__": {"format": "pt"},
                             "a": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]}},
                            f32(1.5, -2.0) + struct.pack("<2e", 0.5, 3.0)),
    "valid_scalar_empty_bf16": st({"s": {"dtype": "F64", "shape": [], "data_offsets": [0, 8]},
                                   "e": {"dtype": "BF16", "shape": [0, 3], "data_offsets": [8, 8]},
                                   "i": {"dtype": "I32", "shape": [1], "data_offsets": [8, 12]}},
                                  struct.pack("<d", 2.0) + struct.pack("<i", 7)),
    "bad_too_short": b"\x05\x00\x00",
    "bad_header_length": struct.pack("<Q", 1 << 40) + b"{}",
    "bad_json": st(b'{"w": '),
    "bad_not_object": st(b"[1,2]"),
    "bad_dtype": st(one(dtype="F7"), f32(1, 2)),
    "bad_negative_dim": st(one(shape=(2, -1)), f32(1, 2)),
    "bad_numel_overflow": st(one(shape=(1 << 32, 1 << 32)), f32(1, 2)),
    "bad_offsets_order": st(one(offsets=(8, 0)), f32(1, 2)),
    "bad_offsets_past_end": st(one(offsets=(4, 12)), f32(1, 2)),
    "bad_size_mismatch": st(one(dtype="F16"), f32(1, 2)),
    "bad_overlap": st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, f32(1, 2, 3)),
    "bad_metadata": st({"__metadata__": {"step": 3}}),
}

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")
os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
