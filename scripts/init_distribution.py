"""Compare trm-tui's initial weights with the official constructor's over seeds (the check of
docs/fidelity.md; scripts/init-distribution.sh makes the trm-tui side and calls this).

    python scripts/init_distribution.py --official DIR --driver train_official.py \
        --inits DIR_WITH_seedN/checkpoints/step_1.safetensors --seeds N

Prints a Markdown table: per tensor with a spread, the seed mean of the per-seed standard
deviation for each code and the Welch t-test p-value of the difference, the same p-value for
the per-seed mean, and the two-sample Kolmogorov-Smirnov statistic and p-value of all seeds'
values pooled. The model is the recipe of scripts/fidelity-recipe.sh (hidden 64, MLP-t, 2
layers, T = 2, n = 3, 6 supervision steps, one puzzle-embedding token) on 6x6 Sudoku.
"""
import argparse
import importlib.util
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--official", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--inits", required=True)
    ap.add_argument("--seeds", type=int, default=30)
    args = ap.parse_args()

    import numpy as np
    import torch
    from scipy import stats

    sys.path.insert(0, args.official)
    spec = importlib.util.spec_from_file_location("train_official", args.driver)
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    driver._ensure_module("argdantic", driver._argdantic_stub)
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from official_from_weights import read_safetensors

    cfg = dict(batch_size=64, vocab_size=8, seq_len=36, num_puzzle_identifiers=1, causal=False,
               H_cycles=2, L_cycles=3, H_layers=0, L_layers=2, hidden_size=64, expansion=4,
               num_heads=2, pos_encodings="none", rms_norm_eps=1e-5, rope_theta=10000.0,
               halt_max_steps=6, halt_exploration_prob=0.1, forward_dtype="float32", mlp_t=True,
               puzzle_emb_len=1, puzzle_emb_ndim=64, no_ACT_continue=True)
    per_seed = {}  # name -> (official [(mean, std)], ours [(mean, std)], official values, ours values)
    for seed in range(args.seeds):
        torch.random.manual_seed(seed)
        model = TinyRecursiveReasoningModel_ACTV1(cfg)
        official = {k: v.detach().double().numpy() for k, v in model.inner.state_dict().items()}
        path = os.path.join(args.inits, f"seed{seed}", "checkpoints", "step_1.safetensors")
        if not os.path.isfile(path):
            sys.exit(f"{path}: missing (scripts/init-distribution.sh makes it)")
        ours = read_safetensors(path)
        for name, v in official.items():
            if name not in ours:
                sys.exit(f"{path}: no tensor {name}")
            w = ours[name].astype(np.float64)
            if w.shape != v.shape:
                sys.exit(f"{path}: {name} has shape {w.shape}, the official {v.shape}")
            e = per_seed.setdefault(name, ([], [], [], []))
            e[0].append((v.mean(), v.std()))
            e[1].append((w.mean(), w.std()))
            e[2].append(v.ravel())
            e[3].append(w.ravel())
    print(f"Initial weights over {args.seeds} seeds of each code (tensors with a spread; the others "
          "are constants: the Q head's zero weight and -5 bias, the zero puzzle embedding).\n")
    print("| tensor | official std | trm-tui std | p (std) | p (mean) | KS D | KS p |")
    print("|---|---|---|---|---|---|---|")
    for name, (o, t, ov, tv) in per_seed.items():
        o, t = np.array(o), np.array(t)
        if o[:, 1].max() == 0:
            # A constant in the official code: trm-tui's must equal it, up to the 1e-30 its
            # one-step save may have moved it.
            gap = max(np.abs(a - b).max() for a, b in zip(ov, tv))
            if gap > 1e-20:
                print(f"| {name} | constant {ov[0][0]:g} | differs by up to {gap:.3g} | | | | |")
            continue
        p_std = stats.ttest_ind(o[:, 1], t[:, 1], equal_var=False).pvalue
        p_mean = stats.ttest_ind(o[:, 0], t[:, 0], equal_var=False).pvalue
        ks = stats.ks_2samp(np.concatenate(ov), np.concatenate(tv))
        print(f"| {name} | {o[:, 1].mean():.4f} | {t[:, 1].mean():.4f} | {p_std:.2f} | {p_mean:.2f} "
              f"| {ks.statistic:.4f} | {ks.pvalue:.2f} |")


if __name__ == "__main__":
    main()
