#!/usr/bin/env bash
# The GPU check: correctness, speed against the official PyTorch code, and a short real
# training, in one run on a GPU machine (an H200 with driver 580 / CUDA 13.0 and PyTorch's cu13
# wheels, no Rust toolchain, no network). docs/gpu.md says how to read the results.
#
#   scripts/gpu-check.sh --bundle [--cpu-bin PATH]   here: build gpu-bundle/ (git-ignored)
#   scripts/gpu-check.sh [--out DIR] [--time S]      on the GPU machine, from the repo root
#                        [--only "2 3"]               only these steps (a second try)
#   scripts/gpu-check.sh --dry-run [--bin PATH]      here: every step on the CPU, small sizes
#
# The bundle (at most 55 MiB, travels with the working tree): the stripped, gzipped CUDA binary
# (target/cuda/release/trm-tui from scripts/build-cuda.sh --nccl), the official model code and
# its benchmark script, pydantic and its dependencies as CPython 3.12 manylinux x86_64 wheels, a
# small built Sudoku-Extreme-format dataset, the parity fixtures, and the CPU's figures for
# every shipped checkpoint (float32 and bfloat16) that the GPU's must match.
#
# The run writes everything into one folder (default gpu-check-out/<time>/), step by step,
# and goes on after a failed step; summary.txt lists each step's PASS/FAIL:
#   0 smoke        scripts/cuda-smoke.sh (binary starts, agrees with the CPU, ranks, nccl)
#   1 environment  nvidia-smi, driver, the CUDA 13 runtime libraries (LD_LIBRARY_PATH is set
#                  from the PyTorch wheels' site-packages/nvidia/*/lib, never a stub)
#   2 correctness  eval of every shipped checkpoint on cuda:0 in float32 (exact accuracy within
#                  one puzzle of the CPU's) and bfloat16 (within 1 percentage point)
#   3 parity       the parity fixtures' first-step logits on cuda:0 in float32 (tol 2e-4)
#   4 bench        ours: sudoku-extreme-mlp and -att at batch 768 and 64 (samples/s, solve
#                  time, peak GPU memory)
#   5 official     bench_official.py on the same GPU, bfloat16, batch 768, with and without
#                  --compile
#   6 train        train --preset sudoku-extreme-mlp (warm-up 200 steps) on the bundled data
#                  for --time seconds (default 120): the loss must fall; samples/s recorded
#
# Settings: PYTHON (the Python with torch; default python3, /work/venv-official/bin/python in
# a dry run), --bin (the trm-tui binary; default unpacked from gpu-bundle/bin/trm-tui.gz, or target/release/trm-tui
# in a dry run), --cpu-bin (the CPU binary that makes the bundle's figures; default
# target/release/trm-tui).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUNDLE="$ROOT/gpu-bundle"
LIMIT_BYTES=$((55 * 1024 * 1024))
mode=run
dry=0
bin=""
cpu_bin="target/release/trm-tui"
out=""
train_s=120
only=""
while (($#)); do
    case "$1" in
    --bundle) mode=bundle ;;
    --dry-run) dry=1 ;;
    --bin)
        bin="$2"
        shift
        ;;
    --cpu-bin)
        cpu_bin="$2"
        shift
        ;;
    --out)
        out="$2"
        shift
        ;;
    --time)
        train_s="$2"
        shift
        ;;
    --only)
        only="$2"
        shift
        ;;
    -h | --help)
        sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "gpu-check: unknown argument $1 (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done
say() { printf '[gpu-check] %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }

# The eval command of each shipped checkpoint's model card: "CHECKPOINT DATA" lines.
shipped_evals() {
    local card ck data
    for card in checkpoints/*.md; do
        ck="${card%.md}.safetensors"
        [[ -f "$ck" ]] || continue
        data="$(grep -m1 -E 'trm-tui eval --checkpoint' "$card" | grep -v -- '--untrained' |
            sed -E 's/.*--data ([^ `]+).*/\1/')"
        [[ -n "$data" && -e "$data" ]] && echo "$ck $data"
    done
}

# ---------------------------------------------------------------------------------------
# The bundle.
make_bundle() {
    local cuda_bin=target/cuda/release/trm-tui
    [[ -x "$cpu_bin" ]] || die "no CPU binary at $cpu_bin (cargo build --release)"
    cpu_bin="$(abs "$cpu_bin")"
    rm -rf "$BUNDLE"
    mkdir -p "$BUNDLE"/{bin,official,tools,wheels,data,fixtures/parity}
    if [[ -x "$cuda_bin" ]]; then
        # Stripped it is about 55 MiB (candle's kernels for sm_90 are most of it); gzip takes it
        # to about 14 MiB, and the run unpacks it.
        strip -o "$BUNDLE/bin/trm-tui" "$cuda_bin" || die "strip failed"
        gzip -9 "$BUNDLE/bin/trm-tui" || die "gzip failed"
        say "CUDA binary: $(du -h "$BUNDLE/bin/trm-tui.gz" | cut -f1) stripped and gzipped (from $cuda_bin)"
    else
        say "warning: no CUDA binary at $cuda_bin (scripts/build-cuda.sh --nccl): the bundle has none"
    fi
    cp -r /work/shared/reference/official-trm/. "$BUNDLE/official/"
    cp /work/shared/tools/bench_official.py "$BUNDLE/tools/"
    "${PIP_PYTHON:-python3}" -m pip download --disable-pip-version-check --quiet \
        --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        -d "$BUNDLE/wheels" pydantic || die "pip download of the pydantic wheels failed"
    say "wheels: $(ls "$BUNDLE/wheels" | tr '\n' ' ')"
    "$cpu_bin" data build sudoku --input /work/shared/data/sudoku/hard_magictour_top1465.csv \
        --test-input puzzles/sudoku-9x9-extreme.csv --subsample-size 500 --num-aug 15 --seed 0 \
        --out "$BUNDLE/data/sudoku-small" >&2 || die "data build failed"
    cp /work/shared/fixtures/parity/*.safetensors /work/shared/fixtures/parity/*.json \
        "$BUNDLE/fixtures/parity/"
    # The CPU's figures, which the GPU's must match.
    : >"$BUNDLE/cpu-figures.jsonl"
    local ck data dt
    while read -r ck data; do
        for dt in float32 bfloat16; do
            RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}" "$cpu_bin" check eval --checkpoint "$ck" \
                --data "$data" --device cpu --dtype "$dt" >>"$BUNDLE/cpu-figures.jsonl" ||
                die "CPU eval of $ck ($dt) failed"
        done
        say "CPU figures: $ck on $data"
    done < <(shipped_evals)
    "$cpu_bin" check parity --fixtures "$BUNDLE/fixtures/parity" --device cpu \
        >"$BUNDLE/cpu-parity.jsonl" || die "CPU parity check failed"
    (cd "$BUNDLE" && find . -type f ! -name MANIFEST.txt -exec sha256sum {} + | sort -k2 >MANIFEST.txt)
    local bytes
    bytes=$(du -sb "$BUNDLE" | cut -f1)
    say "bundle: $BUNDLE, $((bytes / 1024 / 1024)) MiB ($bytes bytes; limit $LIMIT_BYTES)"
    ((bytes <= LIMIT_BYTES)) || die "the bundle is over 55 MiB"
}

if [[ "$mode" == bundle ]]; then
    make_bundle
    exit 0
fi

# ---------------------------------------------------------------------------------------
# The run.
[[ -d "$BUNDLE" ]] || die "no $BUNDLE (scripts/gpu-check.sh --bundle, here, first)"
if ((dry)); then
    GPU=cpu
    PY="${PYTHON:-/work/venv-official/bin/python}"
    [[ -n "$bin" ]] || bin=target/release/trm-tui
    out="${out:-gpu-check-out/dry-run}"
    export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"
else
    GPU=cuda:0
    PY="${PYTHON:-python3}"
    out="${out:-gpu-check-out/$(date -u +%Y%m%dT%H%M%SZ)}"
    if [[ -z "$bin" ]]; then
        [[ -f "$BUNDLE/bin/trm-tui.gz" ]] || die "no $BUNDLE/bin/trm-tui.gz (the bundle was made without a CUDA binary)"
        unpacked="$(mktemp -d)"
        trap 'rm -rf "$unpacked"' EXIT
        gzip -dc "$BUNDLE/bin/trm-tui.gz" >"$unpacked/trm-tui" && chmod +x "$unpacked/trm-tui" ||
            die "cannot unpack $BUNDLE/bin/trm-tui.gz"
        bin="$unpacked/trm-tui"
    fi
fi
[[ -x "$bin" ]] || die "no binary at $bin"
bin="$(abs "$bin")"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
summary="$out/summary.txt"
: >"$summary"
export TRM_RUNS_DIR="$out/runs"
failures=0
start=$SECONDS

step() {
    local name="$1"
    shift
    if [[ -n "$only" && " $only " != *" ${name%%-*} "* ]]; then
        return 0
    fi
    local t0=$SECONDS
    say "step $name ..."
    if "$@" >"$out/$name.log" 2>&1; then
        printf 'PASS  %-16s %5ds\n' "$name" $((SECONDS - t0)) | tee -a "$summary" >&2
    else
        failures=$((failures + 1))
        printf 'FAIL  %-16s %5ds  (%s)\n' "$name" $((SECONDS - t0)) "$out/$name.log" | tee -a "$summary" >&2
        tail -n 4 "$out/$name.log" | sed 's/^/      /' >&2
    fi
}

# The CUDA 13 runtime libraries from the PyTorch wheels (site-packages/nvidia/*/lib).
NEEDED=(libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libcurand.so.10 libnvrtc.so.13 libnccl.so.2)
set_libs() {
    local sp dirs=() d lib
    while read -r sp; do
        for d in "$sp"/nvidia/*/lib "$sp"/nvidia/cu13/lib; do
            [[ -d "$d" && "$d" != *stubs* ]] && dirs+=("$d")
        done
    done < <("$PY" -c 'import site; print("\n".join(site.getsitepackages()))' 2>/dev/null)
    local path
    path="$(printf '%s\n' "${dirs[@]}" | awk '!seen[$0]++' | paste -sd:)"
    [[ -n "$path" ]] && export LD_LIBRARY_PATH="$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
set_libs

environment() {
    echo "binary: $bin"
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    if ((dry)); then
        echo "dry run: no nvidia-smi"
    else
        nvidia-smi || return 1
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || return 1
    fi
    local lib found missing=0
    for lib in "${NEEDED[@]}"; do
        found=""
        for d in ${LD_LIBRARY_PATH//:/ }; do
            [[ -e "$d/$lib" ]] && found="$d/$lib" && break
        done
        echo "$lib: ${found:-NOT FOUND}"
        [[ -z "$found" ]] && missing=1
    done
    echo "--- ldd"
    ldd "$bin"
    if ldd "$bin" | grep -q 'not found'; then return 1; fi
    ((dry)) || ((missing == 0))
}

# correctness: each shipped checkpoint's exact accuracy on the device against the CPU's.
correctness() {
    local ck data dt
    : >"$out/correctness.jsonl"
    while read -r ck data; do
        for dt in float32 bfloat16; do
            "$bin" check eval --checkpoint "$ck" --data "$data" --device "$GPU" --dtype "$dt" \
                >>"$out/correctness.jsonl" || echo "{\"checkpoint\": \"$ck\", \"dtype\": \"$dt\", \"error\": true}" >>"$out/correctness.jsonl"
        done
    done < <(shipped_evals)
    "$PY" - "$BUNDLE/cpu-figures.jsonl" "$out/correctness.jsonl" <<'PYEOF'
import json, sys
load = lambda p: [json.loads(l) for l in open(p) if l.strip()]
cpu = {(r["checkpoint"], r["dtype"]): r for r in load(sys.argv[1])}
bad = 0
print(f"{'checkpoint':<40} {'dtype':<9} {'count':>6} {'cpu exact':>10} {'device':>10} {'diff':>9}  verdict")
for r in load(sys.argv[2]):
    key = (r["checkpoint"], r["dtype"])
    if r.get("error") or key not in cpu:
        print(f"{key[0]:<40} {key[1]:<9} failed or no CPU figure"); bad += 1; continue
    c = cpu[key]
    n = c["count"]
    diff = r["exact_accuracy"] - c["exact_accuracy"]
    # float32: within one puzzle; bfloat16: within 1 percentage point.
    tol = 1.0 / n + 1e-12 if key[1] == "float32" else 0.01 + 1e-12
    ok = abs(diff) <= tol
    bad += not ok
    print(f"{key[0]:<40} {key[1]:<9} {int(n):>6} {c['exact_accuracy']:>10.4f} {r['exact_accuracy']:>10.4f} {diff:>+9.4f}  {'ok' if ok else 'OVER ' + format(tol, '.4f')}")
sys.exit(1 if bad else 0)
PYEOF
}

parity() {
    "$bin" check parity --fixtures "$BUNDLE/fixtures/parity" --device "$GPU" --dtype float32
}

bench_ours() {
    local preset batch steps=5 batches=(768 64)
    if ((dry)); then
        batches=(8 4)
        steps=1
    fi
    : >"$out/bench-ours.jsonl"
    for preset in sudoku-extreme-mlp sudoku-extreme-att; do
        for batch in "${batches[@]}"; do
            "$bin" bench --preset "$preset" --device "$GPU" --batch "$batch" --steps "$steps" --json \
                >>"$out/bench-ours.jsonl" || return 1
        done
    done
    cat "$out/bench-ours.jsonl"
}

bench_official() {
    local pylib="$out/pylib"
    if ((dry)) && ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
        # The bundled wheels are for CPython 3.12 (the GPU machine's); check that they resolve
        # there, and use this Python's own pydantic.
        "${PIP_PYTHON:-python3}" -m pip install --disable-pip-version-check --dry-run --no-index \
            --find-links "$BUNDLE/wheels" --only-binary=:all: --python-version 3.12 \
            --implementation cp --abi cp312 --platform manylinux2014_x86_64 \
            --platform manylinux_2_17_x86_64 --target "$pylib" pydantic || return 1
    else
        "$PY" -m pip install --disable-pip-version-check --quiet --no-index \
            --find-links "$BUNDLE/wheels" --target "$pylib" pydantic || return 1
        export PYTHONPATH="$pylib${PYTHONPATH:+:$PYTHONPATH}"
    fi
    local args=(--models-dir "$BUNDLE/official" --device cuda --dtype bfloat16 --batch 768
        sudoku_mlp_paper sudoku_att_paper)
    ((dry)) && args=(--models-dir "$BUNDLE/official" --device cpu --dtype float32 --batch 2
        --steps 1 --threads 2 sudoku_mlp_small)
    : >"$out/bench-official.jsonl"
    echo "--- compiled"
    "$PY" "$BUNDLE/tools/bench_official.py" "${args[@]}" --compile | tee -a "$out/bench-official.jsonl" || return 1
    echo "--- eager"
    "$PY" "$BUNDLE/tools/bench_official.py" "${args[@]}" | tee -a "$out/bench-official.jsonl" || return 1
}

train_short() {
    # The paper recipe with a 200-step warm-up (instead of 2000), so that a couple of minutes
    # show the loss falling; in a dry run also a small model and batch.
    local dir="$out/runs/train" extra=(--set lr_warmup_steps=200)
    ((dry)) && extra=(--set lr_warmup_steps=5 --set lr=1e-3 --set global_batch_size=16
        --set arch.hidden_size=64 --set arch.puzzle_emb_ndim=64 --set arch.L_cycles=2
        --set arch.H_cycles=2 --set arch.halt_max_steps=4)
    rm -rf "$dir"
    # SIGINT after the time: the trainer stops cleanly, with a checkpoint.
    timeout -s INT -k 30 "$train_s" "$bin" train --preset sudoku-extreme-mlp \
        --data "$BUNDLE/data/sudoku-small" --device "$GPU" --run-dir "$dir" \
        --set eval_interval=1000000 "${extra[@]}"
    local rc=$?
    ((rc == 0 || rc == 124 || rc == 130)) || return 1
    "$PY" - "$dir/metrics.jsonl" "$train_s" <<'PYEOF'
import json, sys
def find(d, key):
    if isinstance(d, dict):
        if key in d and not isinstance(d[key], (dict, list)):
            return d[key]
        for v in d.values():
            r = find(v, key)
            if r is not None:
                return r
    return None
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
train = [r for r in recs if str(find(r, "split")).lower() == "train" and find(r, "lm_loss") is not None]
if len(train) < 4:
    print(f"only {len(train)} training steps logged"); sys.exit(1)
k = max(1, len(train) // 10)
first = sum(find(r, "lm_loss") for r in train[:k]) / k
last = sum(find(r, "lm_loss") for r in train[-k:]) / k
sps = [find(r, "samples_per_s") for r in train[1:] if find(r, "samples_per_s")]
rate = f"{sum(sps) / len(sps):.1f}" if sps else "n/a"
print(f"steps {len(train)} in {find(train[-1], 'wall_s'):.1f} s; samples/s (mean after step 1) {rate}")
print(f"lm_loss: first {k} steps {first:.4f}, last {k} steps {last:.4f}")
for r in train[:: max(1, len(train) // 20)]:
    print(f"  step {find(r, 'step')}: lm_loss {find(r, 'lm_loss'):.4f}")
sys.exit(0 if last < first else 1)
PYEOF
}

say "binary $bin, device $GPU, output $out"
if ((dry)); then
    step 0-smoke "$ROOT/scripts/cuda-smoke.sh" --dry-run --bin "$bin" --out "$out/smoke"
else
    step 0-smoke "$ROOT/scripts/cuda-smoke.sh" --bin "$bin" --out "$out/smoke"
fi
step 1-environment environment
step 2-correctness correctness
step 3-parity parity
step 4-bench-ours bench_ours
step 5-bench-official bench_official
step 6-train train_short
say "done in $((SECONDS - start)) s; $failures step(s) failed; summary: $summary"
cat "$summary" >&2
((failures == 0))
