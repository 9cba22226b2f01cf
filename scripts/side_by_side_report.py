"""Tabulate and plot a side-by-side study (scripts/side-by-side.sh): held-out exact accuracy of
trm-tui and of the official code at every eval step, over seeds.

    python scripts/side_by_side_report.py OUT_DIR

Reads OUT_DIR/ours/seed*/metrics.jsonl (trm-tui run folders) and OUT_DIR/official/seed*.jsonl
(the official-code driver's JSON lines); writes OUT_DIR/side-by-side.md, .csv and .png.

Per eval step: each code's mean and sample standard deviation (percent); the difference of
means (trm-tui - official) with its 95% Welch confidence interval; the variance ratio
(trm-tui / official) with the 95% bounds of F(n_ours - 1, n_official - 1) under equal variances,
and the 95% confidence interval of the true ratio. A ratio outside the bounds is a spread that
differs at the 5% level at that step.
"""
import csv
import glob
import json
import math
import os
import re
import sys

import numpy as np
from scipy import stats


def seed_of(path):
    m = re.search(r"seed(\d+)", path)
    return int(m.group(1)) if m else -1


def load_ours(out):
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, "ours", "seed*", "metrics.jsonl")), key=seed_of):
        curve = {}
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line being written
                if r.get("split") == "eval" and r.get("exact_accuracy") is not None:
                    curve[int(r["step"])] = 100.0 * float(r["exact_accuracy"])
        runs[seed_of(path)] = curve
    return runs


def load_official(out):
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, "official", "seed*.jsonl")), key=seed_of):
        curve = {}
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("kind") == "eval":
                    curve[int(r["step"])] = 100.0 * float(r["eval"]["exact_accuracy"])
        runs[seed_of(path)] = curve
    return runs


def compare(a, b):
    """a: trm-tui values, b: official values at one step."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = len(a), len(b)
    ma, mb = a.mean(), b.mean()
    va, vb = a.var(ddof=1), b.var(ddof=1)
    se2 = va / na + vb / nb
    diff = ma - mb
    if se2 > 0:
        df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
        half = stats.t.ppf(0.975, df) * math.sqrt(se2)
    else:
        df, half = float("nan"), 0.0
    lo_f = stats.f.ppf(0.025, na - 1, nb - 1)
    hi_f = stats.f.ppf(0.975, na - 1, nb - 1)
    ratio = va / vb if vb > 0 else (float("nan") if va == 0 else float("inf"))
    return {
        "n_ours": na, "n_official": nb,
        "mean_ours": ma, "sd_ours": math.sqrt(va), "mean_official": mb, "sd_official": math.sqrt(vb),
        "diff": diff, "diff_lo": diff - half, "diff_hi": diff + half, "welch_df": df,
        "var_ratio": ratio, "f_lo": lo_f, "f_hi": hi_f,
        "ratio_ci_lo": ratio / hi_f, "ratio_ci_hi": ratio / lo_f,
        # No spread on either side (every seed at 0%): nothing to compare.
        "spread_agrees": None if math.isnan(ratio) else bool(lo_f <= ratio <= hi_f),
    }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: side_by_side_report.py OUT_DIR")
    out = sys.argv[1]
    ours, official = load_ours(out), load_official(out)
    # Only finished runs count: those that reached the last eval step of the longest run.
    last = max((max(c) for c in list(ours.values()) + list(official.values()) if c), default=0)
    done_ours = {s: c for s, c in ours.items() if last in c}
    done_off = {s: c for s, c in official.items() if last in c}
    if len(done_ours) < 2 or len(done_off) < 2:
        sys.exit(f"{out}: need at least 2 runs of each code with evals (have {len(done_ours)} trm-tui, {len(done_off)} official)")
    steps = sorted(set.intersection(*[set(c) for c in list(done_ours.values()) + list(done_off.values())]))
    rows = []
    partial = sorted(set(ours) - set(done_ours)), sorted(set(official) - set(done_off))
    for step in steps:
        r = compare([c[step] for c in done_ours.values()], [c[step] for c in done_off.values()])
        r["step"] = step
        rows.append(r)

    keys = ["step", "n_ours", "mean_ours", "sd_ours", "n_official", "mean_official", "sd_official",
            "diff", "diff_lo", "diff_hi", "welch_df", "var_ratio", "f_lo", "f_hi", "ratio_ci_lo",
            "ratio_ci_hi", "spread_agrees"]
    with open(os.path.join(out, "side-by-side.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})

    lines = [
        f"Held-out exact accuracy (%), {len(done_ours)} trm-tui seeds ({', '.join(map(str, done_ours))}) "
        f"and {len(done_off)} official seeds ({', '.join(map(str, done_off))}).",
        "",
        "| step | trm-tui mean ± sd | official mean ± sd | difference [95% Welch CI] | variance ratio [95% F bounds] | ratio 95% CI | spreads agree |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['step']} | {r['mean_ours']:.1f} ± {r['sd_ours']:.1f} | {r['mean_official']:.1f} ± {r['sd_official']:.1f} "
            f"| {r['diff']:+.1f} [{r['diff_lo']:+.1f}, {r['diff_hi']:+.1f}] "
            f"| {r['var_ratio']:.2f} [{r['f_lo']:.2f}, {r['f_hi']:.2f}] "
            f"| [{r['ratio_ci_lo']:.2f}, {r['ratio_ci_hi']:.2f}] "
            f"| {'n/a (no spread)' if r['spread_agrees'] is None else 'yes' if r['spread_agrees'] else 'no'} |")
    if partial[0] or partial[1]:
        lines.insert(1, f"Unfinished runs left out: trm-tui seeds {partial[0]}, official seeds {partial[1]}.")
    per_seed = ["", "Per seed (exact accuracy %, at each eval step):", "",
                "| code | seed | " + " | ".join(str(s) for s in steps) + " |",
                "|---|---|" + "---|" * len(steps)]
    for name, runs in (("trm-tui", done_ours), ("official", done_off)):
        for seed, c in runs.items():
            per_seed.append(f"| {name} | {seed} | " + " | ".join(f"{c[s]:.1f}" for s in steps) + " |")
    text = "\n".join(lines + per_seed) + "\n"
    with open(os.path.join(out, "side-by-side.md"), "w") as f:
        f.write(text)
    print(text)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, runs, colour in (("trm-tui", done_ours, "tab:blue"), ("official", done_off, "tab:orange")):
        ys = np.array([[c[s] for s in steps] for c in runs.values()])
        mean, sd = ys.mean(0), ys.std(0, ddof=1)
        for y in ys:
            ax.plot(steps, y, color=colour, alpha=0.18, linewidth=0.8)
        ax.plot(steps, mean, color=colour, linewidth=2, label=f"{name} (n = {len(ys)})")
        ax.fill_between(steps, mean - sd, mean + sd, color=colour, alpha=0.2)
        ax2.plot(steps, sd, color=colour, linewidth=2, marker="o", label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("held-out exact accuracy (%)")
    ax.set_title("Mean ± 1 sd over seeds (thin: single seeds)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    ax2.set_xlabel("optimizer step")
    ax2.set_ylabel("seed standard deviation (points)")
    ax2.set_title("Seed spread")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "side-by-side.png"), dpi=110)


if __name__ == "__main__":
    main()
