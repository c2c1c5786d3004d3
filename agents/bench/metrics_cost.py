"""Run time with plasticity metrics at the default cadence vs without, side by side (a benchmark, not a test).

    python scripts/bench_metrics.py                     # demo curriculum at 125k steps per visit, 2 repetitions
    python scripts/bench_metrics.py --reps 3 -- env.steps_per_task=250000

The two configurations differ only in ``metrics.enabled``; runs alternate (with, without, with, …) so machine
noise hits both. Evaluation is off in both so that only the metrics are compared.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from agents.app.paths import config_dir
from agents.config.cli import compose_checked
from agents.config.validation import effective_config
from agents.run.console import print_table
from agents.training.runner import run as train
from envs import make_curriculum

CONF = config_dir()


def run_seconds(overrides: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_checked(CONF, "config", [*overrides, f"run_dir={tmp}/run", "progress=false"])
        start = time.perf_counter()
        train(effective_config(cfg), make_env=make_curriculum)
        return time.perf_counter() - start


def measure(reps: int, overrides: list[str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"with metrics": [], "without metrics": []}
    for _ in range(reps):
        for label, enabled in (("with metrics", True), ("without metrics", False)):
            times[label].append(run_seconds([*overrides, "eval.enabled=false", f"metrics.enabled={enabled}"]))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("overrides", nargs="*", default=["env=minatar_demo", "env.steps_per_task=125000"])
    args = parser.parse_args()
    times = measure(args.reps, list(args.overrides))
    base = statistics.median(times["without metrics"])
    print_table("Whole-run wall time, medians", ["configuration", "seconds", "runs", "ratio"],
                [(k, round(statistics.median(v), 1), ", ".join(f"{t:.1f}" for t in v),
                  f"{statistics.median(v) / base:.3f}") for k, v in times.items()], left=(0,))


if __name__ == "__main__":
    main()
