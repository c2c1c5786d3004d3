"""The GPU benchmark: env-only steps/s at 8192 envs and PPO/DQN steps/s at the papers' settings, CUDA vs CPU.

    python scripts/bench_gpu.py --out "$OUT/bench_gpu.md"        # (make bench-gpu) ≈ 4 min on one H100

Prints and writes a markdown page (what docs/benchmarks.md quotes). Nothing is downloaded; every section catches its
own failure and reports it, so one run gives every number it can. Sections:

1. env only: every MinAtar game as tensors, 8192 envs, random actions (``bench_envs``), on CUDA and on the CPU;
2. PPO at the AdamO paper's settings (``experiment=adamo_paper``: MLP 64×4, 2048 envs × 128 steps, 4 epochs × 128
   minibatches) for ``--ppo-rollouts`` rollouts after one warm-up rollout, on CUDA and on the CPU;
3. DQN on Breakout: one env at the MinAtar paper's cadence, and 64 envs at a replay ratio of 1/16.

Timings on CUDA synchronize before the clock is read. The CPU rows use ``--cpu-threads`` threads (the machine's
cores: a lone run on a GPU box may use them).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import traceback
from pathlib import Path

import torch

from agents.bench import env_speed as bench_envs
from agents.bench.update import load_config
from agents.reporting.markdown import table
from agents.training.runner import prepare
from envs import make_curriculum

QUIET = ["eval.enabled=false", "metrics.enabled=false", "checkpoint.every=0", "progress=false"]
DQN_CASES = {"DQN, 1 env, MinAtar cadence": ["agent=dqn", "env=breakout", "method=adam", "agent.learning_starts=0"],
             "DQN, 64 envs, replay ratio 1/16": ["agent=dqn", "env=breakout", "method=adam", "agent.n_envs=64",
                                                 "agent.replay_ratio=0.0625", "agent.learning_starts=0"]}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_speed(overrides: list[str], device: str, warmup_steps: int, steps: int) -> float:
    """Env steps/s of ``steps`` training steps after ``warmup_steps`` (built as scripts/train.py builds a run)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(*overrides, *QUIET, f"device={device}", f"torch_threads={torch.get_num_threads()}")
        cfg["run_dir"] = f"{tmp}/run"
        run = prepare(cfg, make_curriculum)
        model = run.model
        model.learn(warmup_steps, callback=run.callback, log_interval=None)
        sync(device)
        start, before = time.perf_counter(), model.num_timesteps
        model.learn(steps, callback=run.callback, log_interval=None, reset_num_timesteps=False)
        sync(device)
        return (model.num_timesteps - before) / (time.perf_counter() - start)


def section(lines: list[str], title: str, body) -> None:
    print(f"== {title}", flush=True)
    lines += [f"## {title}", ""]
    try:
        lines += body()
    except Exception:  # report and go on: one run should give every number it can
        err = traceback.format_exc().strip().splitlines()
        lines += ["failed:", "", "```", *err[-12:], "```"]
    lines.append("")
    print("\n".join(lines[-40:]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench_gpu.md")
    parser.add_argument("--envs", type=int, default=8192)
    parser.add_argument("--env-steps", type=int, default=2_000_000, help="env steps per game and device")
    parser.add_argument("--ppo-rollouts", type=int, default=3)
    parser.add_argument("--dqn-steps", type=int, default=20_000)
    parser.add_argument("--cpu-threads", type=int, default=0, help="0: every core")
    parser.add_argument("--device", default="cuda", help="the accelerator (cpu: a smoke run of this script)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: this benchmark compares CUDA with the CPU (see docs/scaling.md)")
    torch.set_num_threads(args.cpu_threads or torch.get_num_threads())
    cuda = args.device
    name = torch.cuda.get_device_name(0) if cuda.startswith("cuda") else "no GPU (smoke run)"
    lines = ["# GPU benchmark", "", f"`python scripts/bench_gpu.py` — {name}, torch "
             f"{torch.__version__}, Python {platform.python_version()}, {torch.get_num_threads()} CPU threads, "
             f"{time.strftime('%Y-%m-%d')}", ""]

    def envs() -> list[str]:
        rows = []
        for game in bench_envs.GAMES:
            speeds = {dev: bench_envs.measure(game, args.envs, args.env_steps, 1, ("torch",), dev)["torch"]
                      for dev in (cuda, "cpu")}
            rows.append((game, args.envs, f"{speeds[cuda]:,.0f}", f"{speeds['cpu']:,.0f}",
                         f"{speeds[cuda] / speeds['cpu']:.1f}"))
        return table(["game", "envs", "cuda steps/s", "cpu steps/s", "cuda / cpu"], rows)
    section(lines, f"1. Env only: {args.envs} envs, random actions", envs)

    def ppo() -> list[str]:
        rollout = 2048 * 128
        speeds = {dev: train_speed(["experiment=adamo_paper", "method=adam"], dev, rollout, args.ppo_rollouts * rollout)
                  for dev in (cuda, "cpu")}
        return table(["setting", "cuda steps/s", "cpu steps/s", "cuda / cpu"],
                     [("PPO, adamo_paper (2048 × 128, MLP 64×4)", f"{speeds[cuda]:,.0f}", f"{speeds['cpu']:,.0f}",
                       f"{speeds[cuda] / speeds['cpu']:.1f}")])
    section(lines, "2. PPO at the AdamO paper's settings", ppo)

    def dqn() -> list[str]:
        rows = []
        for name, overrides in DQN_CASES.items():
            speeds = {dev: train_speed(overrides, dev, 1024, args.dqn_steps) for dev in (cuda, "cpu")}
            rows.append((name, f"{speeds[cuda]:,.0f}", f"{speeds['cpu']:,.0f}", f"{speeds[cuda] / speeds['cpu']:.2f}"))
        return table(["setting", "cuda steps/s", "cpu steps/s", "cuda / cpu"], rows)
    section(lines, "3. DQN", dqn)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
