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

Per 100-step window of training: each code's mean training lm_loss (the mean of the per-step
values, as both codes normalise them) and mean halting step, over seeds, with the Welch CI of
the lm_loss difference.

When OUT_DIR/same-init exists (side-by-side.sh --same-init: each official run started from
trm-tui's initial weights of the same seed), the runs are also paired by seed: the mean of the
per-seed differences with its 95% paired-t CI, and the correlation of the two codes' values
across seeds (a shared initialisation that matters shows as a positive correlation).
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


def load_ours(out, train=None):
    """Eval curves per seed; with a dict `train`, also fills train[seed][step] = (lm_loss, count, steps)."""
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
                elif r.get("split") == "train" and train is not None and r.get("lm_loss") is not None:
                    train.setdefault(seed_of(path), {})[int(r["step"])] = (
                        float(r["lm_loss"]), float(r.get("count") or 0.0), float(r.get("steps") or 0.0))
        runs[seed_of(path)] = curve
    return runs


def load_official(out, train=None):
    """Eval curves per seed; with a dict `train`, also fills train[seed][step] = (lm_loss, steps)
    for each logged window ending at `step`."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, "official", "seed*.jsonl")), key=seed_of):
        curve = {}
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("kind") == "eval":
                    curve[int(r["step"])] = 100.0 * float(r["eval"]["exact_accuracy"])
                elif r.get("kind") == "train" and train is not None:
                    train.setdefault(seed_of(path), {})[int(r["step"])] = (
                        float(r["train"]["lm_loss"]), float(r["train"].get("steps") or 0.0))
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


def window_means(ours_train, steps, width=100):
    """trm-tui's per-step training records folded into windows (s - width, s]: the mean lm_loss
    and the halting step averaged over the slots that halted, as the official driver logs them."""
    out = {}
    for s in steps:
        recs = [v for k, v in ours_train.items() if s - width < k <= s]
        if not recs:
            continue
        count = sum(c for _, c, _ in recs)
        out[s] = (sum(l for l, _, _ in recs) / len(recs),
                  sum(c * h for _, c, h in recs) / count if count > 0 else float("nan"))
    return out


def paired(a, b):
    """Per-seed differences a - b: mean, 95% paired-t CI, and the correlation of a and b."""
    d = np.asarray(a, float) - np.asarray(b, float)
    n = len(d)
    half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
    r = float(np.corrcoef(a, b)[0, 1]) if n > 2 and np.std(a) > 0 and np.std(b) > 0 else float("nan")
    return d.mean(), d.mean() - half, d.mean() + half, r


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: side_by_side_report.py OUT_DIR")
    out = sys.argv[1]
    ours_train, off_train = {}, {}
    ours, official = load_ours(out, ours_train), load_official(out, off_train)
    same_init = os.path.exists(os.path.join(out, "same-init"))
    off_name = "official (trm-tui's initial weights)" if same_init else "official"
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
    training = ["", "Training, per 100-step window (mean of the per-step lm_loss; mean halting step of the "
                "slots that halted), mean ± sd over seeds:", "",
                "| window end | trm-tui lm_loss | official lm_loss | difference [95% Welch CI] | trm-tui halting step | official halting step |",
                "|---|---|---|---|---|---|"]
    ours_w = {seed: window_means(ours_train.get(seed, {}), steps) for seed in done_ours}
    for step in steps:
        a = [ours_w[k][step] for k in done_ours if step in ours_w[k]]
        b = [off_train[k][step] for k in done_off if step in off_train.get(k, {})]
        if len(a) < 2 or len(b) < 2:
            continue
        c = compare([x[0] for x in a], [x[0] for x in b])
        ha, hb = np.array([x[1] for x in a]), np.array([x[1] for x in b])
        training.append(
            f"| {step} | {c['mean_ours']:.3f} ± {c['sd_ours']:.3f} | {c['mean_official']:.3f} ± {c['sd_official']:.3f} "
            f"| {c['diff']:+.3f} [{c['diff_lo']:+.3f}, {c['diff_hi']:+.3f}] "
            f"| {ha.mean():.2f} ± {ha.std(ddof=1):.2f} | {hb.mean():.2f} ± {hb.std(ddof=1):.2f} |")
    pairs = []
    both = sorted(set(done_ours) & set(done_off))
    if same_init and len(both) >= 3:
        pairs = ["", f"Paired by seed ({len(both)} seeds, each official run from trm-tui's initial weights of "
                 "its seed): trm-tui − official, exact accuracy (points) and training lm_loss:", "",
                 "| step | accuracy difference [95% paired-t CI] | correlation across seeds | lm_loss difference [95% paired-t CI] | correlation |",
                 "|---|---|---|---|---|"]
        for step in steps:
            m, lo, hi, r = paired([done_ours[k][step] for k in both], [done_off[k][step] for k in both])
            cells = f"| {step} | {m:+.1f} [{lo:+.1f}, {hi:+.1f}] | {r:+.2f} "
            if all(step in ours_w[k] and step in off_train.get(k, {}) for k in both):
                m, lo, hi, r = paired([ours_w[k][step][0] for k in both], [off_train[k][step][0] for k in both])
                cells += f"| {m:+.3f} [{lo:+.3f}, {hi:+.3f}] | {r:+.2f} |"
            else:
                cells += "| | |"
            pairs.append(cells)
    text = "\n".join(lines + per_seed + training + pairs) + "\n"
    if same_init:
        text = text.replace("official mean", "official (trm-tui init) mean")
    with open(os.path.join(out, "side-by-side.md"), "w") as f:
        f.write(text)
    print(text)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, runs, colour in (("trm-tui", done_ours, "tab:blue"), (off_name, done_off, "tab:orange")):
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
