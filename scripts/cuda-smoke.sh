#!/usr/bin/env bash
# The first five minutes on a GPU machine: does the CUDA binary start, train, and agree with
# the CPU? Run from the repository root before anything longer (scripts/gpu-check.sh runs it
# first). Every step runs even when an earlier one failed; the summary says which passed.
#
#   scripts/cuda-smoke.sh [--dry-run] [--bin PATH] [--out DIR]
#
# Steps, in order:
#   1. nvidia-smi, and the binary's linked libraries (none missing);
#   2. `bench --preset smoke` on cuda:0 (bfloat16, the default there);
#   3. one training step in float32 on cuda:0 and on the CPU, same seed: the first step's
#      lm_loss and gradient norm agree within 1e-4 relative;
#   4. `train --steps 2` with one rank, with `--nproc 2` (local engine) and with `--nproc 2`
#      (nccl engine, both ranks on cuda:0, NCCL_MULTI_RANK_GPU_ENABLE=1), all with
#      micro-batches of 16, so the three compute the same sums: lm_loss and the gradient norm
#      of both steps agree within 1e-4 relative.
#
# --dry-run runs the same steps with the CPU binary on the CPU ("cuda:0" becomes "cpu",
# nvidia-smi is skipped, the nccl run uses the local engine when the binary has no nccl), to
# check the script itself without a GPU.
#
# Settings: --bin (default target/cuda/release/trm-tui, or target/release/trm-tui with
# --dry-run), --out (default cuda-smoke-out/), TRM_SMOKE_TOL (default 1e-4).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
dry=0
bin=""
out="cuda-smoke-out"
while (($#)); do
    case "$1" in
    --dry-run) dry=1 ;;
    --bin)
        bin="$2"
        shift
        ;;
    --out)
        out="$2"
        shift
        ;;
    -h | --help)
        sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "cuda-smoke: unknown argument $1 (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done
if [[ -z "$bin" ]]; then
    if ((dry)); then bin=target/release/trm-tui; else bin=target/cuda/release/trm-tui; fi
fi
[[ -x "$bin" ]] || {
    echo "cuda-smoke: no binary at $bin (build it: scripts/build-cuda.sh --nccl, or cargo build --release for --dry-run)" >&2
    exit 2
}
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
TOL="${TRM_SMOKE_TOL:-1e-4}"
PY="${PYTHON:-python3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
summary="$out/summary.txt"
: >"$summary"
if ((dry)); then GPU=cpu; else GPU=cuda:0; fi
export TRM_RUNS_DIR="$out/runs"
# One thread per rank on the CPU (the machine may be shared); the GPU runs do not care.
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-1}"

failures=0
# step NAME CMD...: run CMD with its output in $out/NAME.log; PASS/FAIL into the summary.
step() {
    local name="$1"
    shift
    local t0=$SECONDS
    printf '[cuda-smoke] %-34s ' "$name" >&2
    if "$@" >"$out/$name.log" 2>&1; then
        printf 'PASS  %-34s %4ds\n' "$name" $((SECONDS - t0)) | tee -a "$summary" >&2
    else
        failures=$((failures + 1))
        printf 'FAIL  %-34s %4ds  (see %s)\n' "$name" $((SECONDS - t0)) "$out/$name.log" | tee -a "$summary" >&2
        tail -n 5 "$out/$name.log" | sed 's/^/        /' >&2
    fi
}

# Whether the binary has the nccl engine (it names ncclAllReduce, which only that build links).
has_nccl() { grep -q ncclAllReduce "$bin"; }

env_check() {
    if ((dry)); then
        echo "dry run: no nvidia-smi"
    else
        nvidia-smi || return 1
    fi
    echo "--- ldd $bin"
    ldd "$bin" || return 1
    if ldd "$bin" | grep -q 'not found'; then
        echo "missing libraries:"
        ldd "$bin" | grep 'not found'
        return 1
    fi
    if ldd "$bin" | grep -q 'stubs/libcuda'; then
        echo "libcuda resolves to the link stub (LD_LIBRARY_PATH must not hold lib/stubs)"
        return 1
    fi
}

bench() {
    "$bin" bench --preset smoke --device "$GPU" --batch 32 --steps 3 --json
}

# train_run DIR DEVICE EXTRA...: a smoke-preset run in float32 with every step's gradient
# norm logged (clipping far above it), micro-batches of 16.
train_run() {
    local dir="$1" device="$2"
    shift 2
    rm -rf "$dir"
    "$bin" train --preset smoke --device "$device" --run-dir "$dir" \
        --set arch.forward_dtype=float32 --set grad_clip=1e9 --set micro_batch_size=16 "$@"
}

# compare A B STEPS: the train records of two runs agree in lm_loss and grad_norm for the
# first STEPS steps.
compare() {
    "$PY" - "$1/metrics.jsonl" "$2/metrics.jsonl" "$3" "$TOL" <<'PYEOF'
import json, sys

def find(d, key):
    """The first value of `key` anywhere in a nested record."""
    if isinstance(d, dict):
        if key in d and not isinstance(d[key], (dict, list)):
            return d[key]
        for v in d.values():
            r = find(v, key)
            if r is not None:
                return r
    return None

def train_records(path):
    recs = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if str(find(r, "split")).lower() != "train":
                continue
            recs[int(find(r, "step"))] = r
    return recs

a, b, steps, tol = train_records(sys.argv[1]), train_records(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
bad = 0
for s in range(1, steps + 1):
    for key in ("lm_loss", "grad_norm"):
        x, y = find(a.get(s, {}), key), find(b.get(s, {}), key)
        if x is None or y is None:
            print(f"step {s} {key}: missing ({x}, {y})")
            bad += 1
            continue
        rel = abs(x - y) / max(abs(x), abs(y), 1e-12)
        ok = rel <= tol
        bad += not ok
        print(f"step {s} {key}: {x:.9g} vs {y:.9g}  rel {rel:.3e}  {'ok' if ok else 'OVER ' + str(tol)}")
sys.exit(1 if bad else 0)
PYEOF
}

first_step_vs_cpu() {
    train_run "$out/runs/f32-gpu" "$GPU" --steps 1 &&
        train_run "$out/runs/f32-cpu" cpu --steps 1 &&
        compare "$out/runs/f32-gpu" "$out/runs/f32-cpu" 1
}

ranks() {
    train_run "$out/runs/rank1" "$GPU" --steps 2 || return 1
    TRM_DIST_ENGINE=local train_run "$out/runs/local2" "$GPU" --steps 2 --nproc 2 || return 1
    echo "--- one rank vs two (local)"
    compare "$out/runs/rank1" "$out/runs/local2" 2 || return 1
    local engine=nccl
    if ! has_nccl; then
        if ((dry)); then
            engine=local
            echo "dry run: this binary has no nccl engine; the third run uses local"
        else
            echo "the binary has no nccl engine (build with scripts/build-cuda.sh --nccl)"
            return 1
        fi
    fi
    NCCL_MULTI_RANK_GPU_ENABLE=1 TRM_DIST_ENGINE=$engine \
        train_run "$out/runs/nccl2" "$GPU" --steps 2 --nproc 2 || return 1
    echo "--- one rank vs two ($engine)"
    compare "$out/runs/rank1" "$out/runs/nccl2" 2
}

echo "[cuda-smoke] binary $bin, device $GPU, output $out" >&2
step 1-environment env_check
step 2-bench-smoke bench
step 3-float32-first-step-vs-cpu first_step_vs_cpu
step 4-ranks-1-local2-nccl2 ranks
if ((failures)); then
    echo "[cuda-smoke] $failures step(s) failed (summary: $summary)" >&2
    exit 1
fi
echo "[cuda-smoke] all steps passed (summary: $summary)" >&2
