#!/usr/bin/env bash
# Build the same real puzzle files with trm-tui and with the official dataset builders, then
# compare every output file: the .npy arrays byte for byte, the JSON files as parsed values (the
# two codes write different whitespace).
#
#   scripts/build-identity.sh --official ../shared/reference/official-trm [--python PY]
#                             [--bin PATH] [--data DIR] [--out DIR]
#
#   --official DIR  the official TRM code (its dataset/build_*_dataset.py are run)
#   --driver PY     the official-code driver (default: DIR/../../tools/train_official.py)
#   --python PY     a Python with numpy and pydantic (default: $PYTHON or python3)
#   --bin PATH      the trm-tui binary (default target/release/trm-tui)
#   --data DIR      the real puzzle files (default: DIR/../../data, i.e. ../shared/data)
#   --out DIR       scratch folder (default: a temporary one, removed afterwards)
#
# Builds compared (no augmentation, so neither builder draws random numbers):
#   sudoku: train sudoku/hard_magictour_top1465.csv, test sudoku/hard_forum_hardest_1106.csv
#   maze:   train maze/train.csv, test maze/test.csv (Maze-Hard, 30x30)
# Exit status 0 when every file agrees, 1 when one differs, 2 on bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
official="" driver="" python="${PYTHON:-python3}" bin="target/release/trm-tui" data="" out=""
die() { echo "build-identity: $*" >&2; exit 2; }
source scripts/fidelity-recipe.sh
while [ $# -gt 0 ]; do
    if official_option "$@"; then shift 2; continue; fi
    case "$1" in
        --data) data="${2:?}"; shift 2 ;;
        --out) out="${2:?}"; shift 2 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$official" ] || die "--official DIR is required"
[ -d "$official/dataset" ] || die "--official $official: no dataset/ folder there"
[ -n "$driver" ] || driver="$official/../../tools/train_official.py"
[ -n "$data" ] || data="$official/../../data"
[ -f "$driver" ] || die "--driver $driver: not found"
[ -x "$bin" ] || die "--bin $bin: not an executable (cargo build --release)"
for f in sudoku/hard_magictour_top1465.csv sudoku/hard_forum_hardest_1106.csv maze/train.csv maze/test.csv; do
    [ -f "$data/$f" ] || die "--data $data: missing $f"
done
if [ -z "$out" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

"$python" "$driver" build-sudoku --ref-src "$official" --output-dir "$out/official-sudoku" \
    --train-csv "$data/sudoku/hard_magictour_top1465.csv" \
    --test-csv "$data/sudoku/hard_forum_hardest_1106.csv" > "$out/official-sudoku.log"
"$bin" data build sudoku --input "$data/sudoku/hard_magictour_top1465.csv" \
    --test-input "$data/sudoku/hard_forum_hardest_1106.csv" --out "$out/ours-sudoku" > /dev/null
"$python" "$driver" build-maze --ref-src "$official" --output-dir "$out/official-maze" \
    --train-csv "$data/maze/train.csv" --test-csv "$data/maze/test.csv" > "$out/official-maze.log"
"$bin" data build maze --input "$data/maze/train.csv" --test-input "$data/maze/test.csv" \
    --out "$out/ours-maze" > /dev/null

"$python" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
bad = 0
for kind in ("sudoku", "maze"):
    ref, ours = os.path.join(out, f"official-{kind}"), os.path.join(out, f"ours-{kind}")
    files = sorted(os.path.relpath(os.path.join(d, f), ref) for d, _, fs in os.walk(ref) for f in fs)
    for rel in files:
        a, b = os.path.join(ref, rel), os.path.join(ours, rel)
        if not os.path.exists(b):
            same = False
        elif rel.endswith(".json"):
            same = json.load(open(a)) == json.load(open(b))
        else:
            same = open(a, "rb").read() == open(b, "rb").read()
        bad += not same
        print(f"{kind:6} {rel:34} {'identical' if same else 'DIFFERS'}")
print("all files identical" if bad == 0 else f"{bad} file(s) differ")
sys.exit(1 if bad else 0)
PY
