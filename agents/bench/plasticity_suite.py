"""Does each method keep a network able to learn? The continual supervised benchmark (pure torch, minutes on a CPU).

    python scripts/bench_plasticity.py                              # every method, both settings, 2 seeds
    python scripts/bench_plasticity.py --methods adam adamo cbp --seeds 0 1 2 --out docs

Settings and method options: plasticity/continual/suite.py. Writes ``<out>/plasticity_benchmark.md`` (the
table) and ``<out>/img/plasticity_<setting>.png`` (per-task scores, mean over seeds).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits
from tqdm import tqdm

from agents.reporting.markdown import table as markdown_table
from plasticity.continual import METHODS, SETTINGS, early_late, run_setting
from plasticity.continual.suite import HIGHER_IS_BETTER


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32)
    return (x - x.mean(0)) / (x.std(0) + 1e-6), torch.tensor(data.target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    data = digits()
    lines = ["# Continual supervised benchmark", "",
             f"Command: `python scripts/bench_plasticity.py --seeds {' '.join(map(str, args.seeds))}` "
             "(settings: `plasticity/continual/suite.py`). Early / late: mean score over the first / last fifth "
             "of the tasks, then the median over seeds; dormant: fraction of hidden ReLU units never active on "
             "the task's data at the end of the first / last task.", ""]
    jobs = [(s, m, seed) for s in args.settings for m in args.methods for seed in args.seeds]
    results = {}
    for setting, method, seed in tqdm(jobs, desc="runs"):
        results[setting, method, seed] = run_setting(setting, method, seed, data)
    for setting in args.settings:
        better = "higher" if HIGHER_IS_BETTER[setting] else "lower"
        lines += [f"## {setting} (score: {better} is better)", ""]
        table_rows = []
        fig, ax = plt.subplots(figsize=(7, 4))
        for method in args.methods:
            runs = [results[setting, method, seed] for seed in args.seeds]
            early = statistics.median(early_late(r)[0] for r in runs)
            late = statistics.median(early_late(r)[1] for r in runs)
            d0 = statistics.median(r.dormant[0] for r in runs)
            d1 = statistics.median(r.dormant[-1] for r in runs)
            table_rows.append((method, f"{early:.3f}", f"{late:.3f}", f"{late / early:.2f}", f"{d0:.2f} → {d1:.2f}"))
            curve = [statistics.mean(r.score[t] for r in runs) for t in range(len(runs[0].score))]
            ax.plot(range(1, len(curve) + 1), curve, label=method, lw=2 if method in ("adam", "adamo", "cbp") else 1)
        ax.set_xlabel("task")
        ax.set_ylabel("end-of-task accuracy" if HIGHER_IS_BETTER[setting] else "online squared error")
        ax.set_title(setting.replace("_", " "))
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
        fig.savefig(out / "img" / f"plasticity_{setting}.png", dpi=100)
        plt.close(fig)
        lines += [*markdown_table(["method", "early", "late", "late / early", "dormant first → last"], table_rows),
                  "", f"![{setting}](img/plasticity_{setting}.png)", ""]
    (out / "plasticity_benchmark.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
