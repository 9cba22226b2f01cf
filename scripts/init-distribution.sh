#!/usr/bin/env bash
# The initial-weight check of docs/fidelity.md: N seeds of trm-tui's initialisation against N
# seeds of the official constructor's, tensor by tensor: the per-seed standard deviation and
# mean (Welch t-tests over seeds) and the pooled values (two-sample Kolmogorov-Smirnov test).
# The model is the recipe of scripts/fidelity-recipe.sh.
#
#   scripts/init-distribution.sh --official ../shared/reference/official-trm [--python PY]
#                                [--bin PATH] [--seeds N] [--out DIR]
#
# trm-tui's initial weights of seed s are saved by a one-step run whose update is zero
# (lr 1e-30), as in scripts/trajectory-check.sh; the official ones are the state of
# `TinyRecursiveReasoningModel_ACTV1` right after `torch.random.manual_seed(s)` and its
# constructor, as train_official.py (and pretrain.py) make them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
official="" driver="" python="${PYTHON:-python3}" bin="target/release/trm-tui" seeds=30 out="runs/init-distribution"
die() { echo "init-distribution: $*" >&2; exit 2; }
source scripts/fidelity-recipe.sh
while [ $# -gt 0 ]; do
    if official_option "$@"; then shift 2; continue; fi
    case "$1" in
        --seeds) seeds="${2:?}"; shift 2 ;;
        --out) out="${2:?}"; shift 2 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
locate_official
[ -x "$bin" ] || die "--bin $bin: not an executable (cargo build --release)"
[[ "$seeds" =~ ^[0-9]+$ ]] && [ "$seeds" -ge 3 ] || die "--seeds must be a number >= 3"
"$python" -c "import torch, numpy, scipy" 2>/dev/null || die "$python lacks torch, numpy or scipy"
mkdir -p "$out"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# A small built dataset of the recipe's shape (6x6 Sudoku); the weights do not depend on it.
if [ ! -f "$out/data/test/dataset.json" ]; then
    "$bin" puzzles gen sudoku --size 6 --difficulty easy --count 64 --seed 0 --out "$out/train.csv" > /dev/null
    "$bin" puzzles gen sudoku --size 6 --difficulty easy --count 16 --seed 1 --out "$out/test.csv" > /dev/null
    rm -rf "$out/data"
    "$bin" data build sudoku --input "$out/train.csv" --test-input "$out/test.csv" --out "$out/data" > /dev/null
fi
for s in $(seq 0 $((seeds - 1))); do
    if [ ! -f "$out/ours/seed$s/checkpoints/step_1.safetensors" ]; then
        rm -rf "$out/ours/seed$s"
        RAYON_NUM_THREADS=1 "$bin" train "${ours_recipe[@]}" --data "$out/data" --steps 1 \
            --set lr=1e-30 --set puzzle_emb_lr=1e-30 --set seed="$s" --run-dir "$out/ours/seed$s" \
            > "$out/init-$s.log" 2>&1 || die "trm-tui seed $s failed: $out/init-$s.log"
    fi
done
OMP_NUM_THREADS=1 "$python" "$repo/scripts/init_distribution.py" --official "$official" \
    --driver "$driver" --inits "$out/ours" --seeds "$seeds" | tee "$out/init-distribution.md"
