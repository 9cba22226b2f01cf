#!/usr/bin/env bash
# Train trm-tui and the official TRM code side by side on the same built data and recipe, for
# several seeds, one thread per run, then tabulate and plot both codes' held-out exact accuracy
# (means, seed bands, Welch CI of the difference, variance ratio with its F bounds).
#
#   scripts/side-by-side.sh --official ../shared/reference/official-trm [options]
#
# Options:
#   --official DIR   the official TRM code (models/, puzzle_dataset.py, dataset/): required
#   --driver PY      the official-code driver (default: DIR/../../tools/train_official.py, which
#                    trains the official modules like pretrain.py)
#   --python PY      a Python with torch, numpy, einops, pydantic, scipy, matplotlib
#                    (default: $PYTHON or python3; docs/fidelity.md says how to make one)
#   --bin PATH       the trm-tui binary (default: a copy of target/release/trm-tui taken at start,
#                    so rebuilding during the runs changes nothing)
#   --out DIR        where data, runs, table and figure go (default: runs/side-by-side)
#   --seeds A-B      seeds, inclusive range or comma list (default 0-9)
#   --steps N        optimizer steps per run (default 1000; evals every 100)
#   --jobs N         runs at once, one thread each (default 2)
#   --only ours|official   train only one code
#   --same-init      start each official run from trm-tui's initial weights of the same seed
#                    (saved by a one-step run whose update is zero, loaded by
#                    scripts/official_from_weights.py), so that the two codes of one seed differ
#                    only in their batch order and exploration draws; the report then also pairs
#                    the runs by seed. Use its own --out: its official runs are not the plain ones
#   --report-only    skip training; tabulate what is there
#
# The recipe is scripts/fidelity-recipe.sh (the sudoku6-cpu preset at hidden 64, MLP-t, T = 2,
# n = 3, 6 supervision steps, batch 64, lr 1e-3, 100 warm-up steps, EMA 0.99, weight decay 0.1)
# with halting exploration 0.1 and an evaluation every 100 steps; data: 3000
# generated 6x6 easy Sudokus x 9 variants for train, 200 (seed 1000003) for test, built once by
# trm-tui into the official on-disk layout that both codes read. A finished run is skipped, so
# the script continues where it stopped (an unfinished official run starts again; an unfinished
# trm-tui run resumes from its latest checkpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

official="" driver="" python="${PYTHON:-python3}" bin="" out="runs/side-by-side"
seeds="0-9" steps=1000 jobs=2 only="" report_only=0 same_init=0
die() { echo "side-by-side: $*" >&2; exit 2; }
source scripts/fidelity-recipe.sh
while [ $# -gt 0 ]; do
    if official_option "$@"; then shift 2; continue; fi
    case "$1" in
        --out) out="${2:?}"; shift 2 ;;
        --seeds) seeds="${2:?}"; shift 2 ;;
        --steps) steps="${2:?}"; shift 2 ;;
        --jobs) jobs="${2:?}"; shift 2 ;;
        --only) only="${2:?}"; shift 2 ;;
        --report-only) report_only=1; shift ;;
        --same-init) same_init=1; shift ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
locate_official
case "$only" in ""|ours|official) ;; *) die "--only takes ours or official" ;; esac
[[ "$steps" =~ ^[0-9]+$ ]] && [ "$steps" -ge 100 ] || die "--steps must be a number >= 100"
[[ "$jobs" =~ ^[0-9]+$ ]] && [ "$jobs" -ge 1 ] || die "--jobs must be a positive number"
if [[ "$seeds" =~ ^([0-9]+)-([0-9]+)$ ]]; then
    seed_list=$(seq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
elif [[ "$seeds" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
    seed_list=$(tr , '\n' <<<"$seeds")
else
    die "--seeds takes A-B or a comma list, not '$seeds'"
fi
"$python" -c "import torch, numpy, einops, pydantic, scipy, matplotlib" 2>/dev/null \
    || die "$python lacks torch, numpy, einops, pydantic, scipy or matplotlib (docs/fidelity.md: how to install them)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -z "$bin" ]; then
    [ -x target/release/trm-tui ] || cargo build --release
    mkdir -p "$out/bin"
    cp target/release/trm-tui "$out/bin/trm-tui"
    bin="$out/bin/trm-tui"
fi
[ -x "$bin" ] || die "--bin $bin: not an executable"

data="$out/data"
if [ ! -f "$data/test/dataset.json" ]; then
    mkdir -p "$out/csv"
    "$bin" puzzles gen sudoku --size 6 --difficulty easy --count 3000 --seed 0 --out "$out/csv/train.csv"
    "$bin" puzzles gen sudoku --size 6 --difficulty easy --count 200 --seed 1000003 --out "$out/csv/test.csv"
    "$bin" data build sudoku --input "$out/csv/train.csv" --test-input "$out/csv/test.csv" \
        --num-aug 8 --seed 0 --out "$data.tmp"
    rm -rf "$data" && mv "$data.tmp" "$data"
fi

# One run: "ours SEED" or "official SEED". Finished runs (an eval line at the last step) are
# skipped.
run_one() {
    local code=$1 seed=$2
    source "$repo/scripts/fidelity-recipe.sh"
    case "$code" in
        ours)
            local dir="$out/ours/seed$seed"
            if [ -f "$dir/metrics.jsonl" ] && grep -q "\"step\":$steps,[^}]*\"split\":\"eval\"" "$dir/metrics.jsonl"; then
                return 0
            fi
            local resume=()
            [ -f "$dir/config.toml" ] && resume=(--resume latest)
            echo "[$(date +%H:%M:%S)] trm-tui seed $seed"
            RAYON_NUM_THREADS=1 "$bin" train "${ours_recipe[@]}" --data "$data" --steps "$steps" \
                --set eval_interval=100 --set seed="$seed" --run-dir "$dir" "${resume[@]}" \
                > "$out/logs/ours-$seed.log" 2>&1 \
                || { echo "trm-tui seed $seed failed: $out/logs/ours-$seed.log" >&2; return 1; }
            ;;
        official)
            local file="$out/official/seed$seed.jsonl"
            if [ -f "$file" ] && grep -q "\"kind\": \"eval\", \"step\": $steps," "$file"; then
                return 0
            fi
            echo "[$(date +%H:%M:%S)] official seed $seed"
            local start=()
            if [ "$same_init" = 1 ]; then
                local init="$out/init/seed$seed/checkpoints/step_1.safetensors"
                if [ ! -f "$init" ]; then
                    rm -rf "$out/init/seed$seed"
                    RAYON_NUM_THREADS=1 "$bin" train "${ours_recipe[@]}" --data "$data" --steps 1 \
                        --set lr=1e-30 --set puzzle_emb_lr=1e-30 --set seed="$seed" \
                        --run-dir "$out/init/seed$seed" > "$out/logs/init-$seed.log" 2>&1 \
                        || { echo "trm-tui init of seed $seed failed: $out/logs/init-$seed.log" >&2; return 1; }
                fi
                start=("$repo/scripts/official_from_weights.py" --init "$init" --driver "$driver" --)
            else
                start=("$driver")
            fi
            OMP_NUM_THREADS=1 "$python" "${start[@]}" train --ref-src "$official" --data "$data" \
                --out "$file.part" "${official_recipe[@]}" --halt_exploration_prob 0.1 \
                --steps "$steps" --eval_every 100 --log_every 100 --seed "$seed" --threads 1 \
                > "$out/logs/official-$seed.log" 2>&1 \
                || { echo "official seed $seed failed: $out/logs/official-$seed.log" >&2; return 1; }
            mv "$file.part" "$file"
            ;;
    esac
}
export -f run_one
export out steps bin data python driver official repo same_init

if [ "$same_init" = 1 ]; then
    touch "$out/same-init"
elif [ -f "$out/same-init" ]; then
    die "$out holds a --same-init study; pass --same-init or another --out"
fi
if [ "$report_only" = 0 ]; then
    mkdir -p "$out/ours" "$out/official" "$out/logs"
    # Alternate the codes so that both see the same machine load over the whole study.
    for s in $seed_list; do
        [ "$only" = official ] || echo "ours $s"
        [ "$only" = ours ] || echo "official $s"
    done | xargs -P "$jobs" -L 1 bash -c 'run_one "$0" "$1"' || failed=1
fi

"$python" "$repo/scripts/side_by_side_report.py" "$out"
[ "${failed:-0}" = 0 ] || die "some runs failed (their logs are in $out/logs); the table covers the finished ones"
