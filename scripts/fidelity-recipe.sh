# The training recipe of docs/fidelity.md, sourced by the fidelity scripts (side-by-side.sh,
# trajectory-check.sh, init-distribution.sh, build-identity.sh) so that they train the same
# thing: the sudoku6-cpu preset at hidden 64, MLP-t, T = 2, n = 3, 6 supervision steps, batch 64,
# lr 1e-3 after 100 warm-up steps (constant after), weight decay 0.1, puzzle-embedding lr 1e-3
# and decay 0.1, beta (0.9, 0.95), EMA 0.99. Halting exploration, seed, steps and evaluation
# are each script's own.

# trm-tui's settings (`trm-tui train` arguments).
ours_recipe=(--preset sudoku6-cpu --set lr_warmup_steps=100 --set ema_rate=0.99)

# The same recipe in the flags of the official-code driver (../shared/tools/train_official.py).
official_recipe=(--hidden_size 64 --num_heads 2 --expansion 4 --L_layers 2 --H_cycles 2
    --L_cycles 3 --halt_max_steps 6 --mlp_t --pos_encodings none --puzzle_emb_len 1
    --batch_size 64 --lr 1e-3 --lr_min_ratio 1.0 --warmup_steps 100 --weight_decay 0.1
    --beta1 0.9 --beta2 0.95 --puzzle_emb_lr 1e-3 --puzzle_emb_weight_decay 0.1 --ema
    --ema_rate 0.99)

# Check $official (the official TRM code) and $driver (default: the driver beside it in this
# project's ../shared layout), and make both absolute; stops through the caller's `die`.
locate_official() {
    [ -n "$official" ] || die "--official DIR is required (the official TRM code, e.g. ../shared/reference/official-trm)"
    [ -f "$official/puzzle_dataset.py" ] || die "--official $official: no puzzle_dataset.py there"
    official=$(cd "$official" && pwd)
    [ -n "$driver" ] || driver="$official/../../tools/train_official.py"
    [ -f "$driver" ] || die "--driver $driver: not found"
    driver=$(cd "$(dirname "$driver")" && pwd)/$(basename "$driver")
}

# The options every fidelity script takes: --official, --driver, --python, --bin, and -h/--help
# (the calling script's header comment). `official_option "$@"` sets the matching variable and
# returns 0 when "$1" is one of them (the caller then shifts 2); 1 otherwise. Stops through the
# caller's `die` when the value is missing.
official_option() {
    case "$1" in
        --official|--driver|--python|--bin) [ $# -ge 2 ] || die "$1 needs a value" ;;
    esac
    case "$1" in
        --official) official="${2:?}" ;;
        --driver) driver="${2:?}" ;;
        --python) python="${2:?}" ;;
        --bin) bin="${2:?}" ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) return 1 ;;
    esac
}
