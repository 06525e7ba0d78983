#!/usr/bin/env bash
# Writes texts/kjv-genesis.txt, the default text of `kvscope compress`: the Book of Genesis of
# the King James Bible (public domain), read from Debian's bible-kjv / bible-kjv-text packages,
# one paragraph per chapter with the verse numbers removed. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
out=texts/kjv-genesis.txt
[ -s "$out" ] && exit 0
mkdir -p texts
# -l2000: one verse per line. Chapter headings ("Genesis 12") become paragraph breaks.
bible -l2000 "Genesis 1:1-50:26" </dev/null |
  awk '/^Genesis [0-9]+$/ { if (n) printf "\n\n"; n = 0; next }
       /^ *[0-9]+ / { sub(/^ *[0-9]+ /, ""); printf "%s%s", (n ? " " : ""), $0; n++ }
       END { printf "\n" }' >"$out.tmp"
mv "$out.tmp" "$out"
