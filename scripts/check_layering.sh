#!/usr/bin/env bash
# Fails if a layer of src/kvscope includes a layer below it in DESIGN.md's diagram:
#   io -> model, tokenizer -> capture -> analysis -> plot, report -> (cli)
# A layer may include itself, the layers above it, and the common headers at the root.
set -u
root=${1:-src/kvscope}
rank() {
  case $1 in
    io) echo 0 ;; model | tokenizer) echo 1 ;; capture) echo 2 ;; analysis) echo 3 ;;
    plot) echo 4 ;; report) echo 5 ;; *) echo -1 ;;
  esac
}
bad=0
for dir in "$root"/*/; do
  layer=$(basename "$dir")
  r=$(rank "$layer")
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "kvscope\/([a-z_]+)\/.*/\1/' <<<"$line")
    ri=$(rank "$inc")
    # plot is a leaf library: it includes nothing of the model side.
    if [ "$layer" = plot ] && [ "$inc" != plot ]; then ri=99; fi
    if [ "$ri" -gt "$r" ] || { [ "$layer" != "$inc" ] && [ "$ri" -eq "$r" ]; }; then
      echo "layering: $file includes kvscope/$inc/ (layer '$layer' may not include '$inc')"
      bad=1
    fi
  done < <(grep -rH '#include "kvscope/[a-z_]*/' "$dir" 2>/dev/null)
done
[ $bad -eq 0 ] && echo "layering ok"
exit $bad
