#!/usr/bin/env bash
# The README demo: runs the most complete main job that exists.
set -euo pipefail
VENV=${1:-.venv}
PPKG="$VENV/bin/ppkgtool"
OUT=demo-out
rm -rf "$OUT"; mkdir -p "$OUT"
echo "== ppkgtool demo (output in $OUT/) =="
"$PPKG" --version
"$PPKG" --help
