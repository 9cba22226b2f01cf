#!/usr/bin/env bash
# The controlled run of docs/fidelity.md: trm-tui and the official code from the same initial
# weights, on batches that hold the same examples, with halting exploration off, so that the only
# difference left between the two runs is floating-point rounding. A third run, of the official
# code from the same weights scaled by 1 +- 6e-8 (a rounding-sized change), is the yardstick: how
# fast the official code's own trajectories part. Prints the relative difference of the training
# lm_loss at each step, for both pairs.
#
#   scripts/trajectory-check.sh --official ../shared/reference/official-trm [--python PY]
#                               [--bin PATH] [--steps N] [--seed S] [--out DIR]
#
# Same data: 64 generated 6x6 easy Sudokus, no augmentation, batch 64, so every batch holds all 64
# examples (in each code's own order; the loss is a sum over the batch, so the order changes only
# rounding). Same weights: trm-tui's seeded initial weights, saved by a one-step run whose update
# is zero (lr 1e-30), then loaded into the official model by scripts/official_from_weights.py.
# Recipe otherwise as scripts/side-by-side.sh (hidden 64, MLP-t, T = 2, n = 3, 6 steps, lr 1e-3).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
official="" driver="" python="${PYTHON:-python3}" bin="target/release/trm-tui" steps=100 seed=0 out=""
die() { echo "trajectory-check: $*" >&2; exit 2; }
source scripts/fidelity-recipe.sh
while [ $# -gt 0 ]; do
    if official_option "$@"; then shift 2; continue; fi
    case "$1" in
        --steps) steps="${2:?}"; shift 2 ;;
        --seed) seed="${2:?}"; shift 2 ;;
        --out) out="${2:?}"; shift 2 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
locate_official
[ -x "$bin" ] || die "--bin $bin: not an executable (cargo build --release)"
[[ "$steps" =~ ^[0-9]+$ ]] && [ "$steps" -ge 2 ] || die "--steps must be a number >= 2"
[ -n "$out" ] || out="runs/trajectory-check"
mkdir -p "$out"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

"$bin" puzzles gen sudoku --size 6 --difficulty easy --count 64 --seed 0 --out "$out/train.csv" > /dev/null
"$bin" puzzles gen sudoku --size 6 --difficulty easy --count 200 --seed 1000003 --out "$out/test.csv" > /dev/null
rm -rf "$out/data" "$out/init" "$out/ours"
"$bin" data build sudoku --input "$out/train.csv" --test-input "$out/test.csv" --out "$out/data" > /dev/null

ours_set=("${ours_recipe[@]}" --data "$out/data" --set arch.halt_exploration_prob=0 --set seed="$seed")
RAYON_NUM_THREADS=1 "$bin" train "${ours_set[@]}" --steps 1 --set lr=1e-30 --set puzzle_emb_lr=1e-30 \
    --run-dir "$out/init" > "$out/init.log" 2>&1
init="$out/init/checkpoints/step_1.safetensors"
RAYON_NUM_THREADS=1 "$bin" train "${ours_set[@]}" --steps "$steps" --run-dir "$out/ours" \
    > "$out/ours.log" 2>&1

official_run() { # OUT PERTURB
    OMP_NUM_THREADS=1 "$python" "$repo/scripts/official_from_weights.py" --init "$init" --perturb "$2" \
        --driver "$driver" -- train --ref-src "$official" --data "$out/data" --out "$1" \
        "${official_recipe[@]}" --halt_exploration_prob 0 --steps "$steps" --eval_every 0 \
        --log_every 1 --seed "$seed" --threads 1 > "$1.log" 2>&1
}
official_run "$out/official.jsonl" 0
official_run "$out/official-perturbed.jsonl" 6e-8

"$python" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def official(name):
    return {r["step"]: r["train"]["lm_loss"] for r in map(json.loads, open(os.path.join(out, name)))
            if r["kind"] == "train"}
a, b = official("official.jsonl"), official("official-perturbed.jsonl")
ours = {}
for line in open(os.path.join(out, "ours", "metrics.jsonl")):
    r = json.loads(line)
    if r["split"] == "train":
        ours[r["step"]] = r["lm_loss"]
print("relative difference of the training lm_loss")
print("step | official vs official (weights x 1 +- 6e-8) | official vs trm-tui")
for s in sorted(a):
    if s in b and s in ours and (s <= 10 or s % 10 == 0):
        print(f"{s:4d} | {abs(a[s] - b[s]) / a[s]:.1e} | {abs(a[s] - ours[s]) / a[s]:.1e}")
PY
