"""The GPU benchmark: env-only steps/s at 8192 envs and PPO/DQN steps/s at the papers' settings, CUDA vs CPU.

    python scripts/bench_gpu.py --out "$OUT/bench_gpu.md"        # (make bench-gpu) ≈ 4 min on one H100
    python scripts/bench_gpu.py --device cpu --envs 16 --env-steps 64 --ppo-envs 8 --ppo-steps 16 \
        --ppo-rollouts 1 --dqn-steps 64 --games breakout      # the smoke run the tests make (seconds, no GPU)

Prints and writes a markdown page (what docs/benchmarks.md quotes); the page is rewritten after every section, so
a run stopped at a time limit keeps what it measured. Nothing is downloaded; every section catches its own failure
and reports it, so one run gives every number it can. Sections:

1. env only: the MinAtar games as tensors, ``--envs`` envs (8192), random actions made on the device beforehand
   (as training hands them over), on the accelerator and on the CPU;
2. PPO at the AdamO paper's settings (``experiment=adamo_paper``: MLP 64×4, ``--ppo-envs`` × ``--ppo-steps``
   (2048 × 128), 4 epochs, 128 minibatches at full size) for ``--ppo-rollouts`` rollouts after one warm-up rollout;
3. DQN on Breakout: one env at the MinAtar paper's cadence, and 64 envs at a replay ratio of 1/16.

Timings on CUDA synchronize before the clock is read. The CPU rows use ``--cpu-threads`` threads (the machine's
cores: a lone run on a GPU box may use them). Self-check: every measured env and model is asked where it ran, and
a section whose work was not on the device it names fails.
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


def check_device(what: str, actual: torch.device, device: str) -> None:
    """The self-check: ``what`` ran on ``actual``; it must be the device the row names."""
    if actual.type != torch.device(device).type:
        raise RuntimeError(f"{what} ran on {actual}, not on {device}: the row would be mislabelled")


def train_speed(overrides: list[str], device: str, warmup_steps: int, steps: int) -> float:
    """Env steps/s of ``steps`` training steps after ``warmup_steps`` (built as scripts/train.py builds a run)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(*overrides, *QUIET, f"device={device}", f"torch_threads={torch.get_num_threads()}")
        cfg["run_dir"] = f"{tmp}/run"
        run = prepare(cfg, make_curriculum)
        model = run.model
        check_device(f"{overrides[0]} (policy)", next(model.policy.parameters()).device, device)
        model.learn(warmup_steps, callback=run.callback, log_interval=None)
        sync(device)
        start, before = time.perf_counter(), model.num_timesteps
        model.learn(steps, callback=run.callback, log_interval=None, reset_num_timesteps=False)
        sync(device)
        return (model.num_timesteps - before) / (time.perf_counter() - start)


def section(lines: list[str], title: str, body, out: Path) -> bool:
    """Run one section, append its table (or its failure) and rewrite ``out``; returns whether it succeeded."""
    print(f"== {title}", flush=True)
    lines += [f"## {title}", ""]
    ok = True
    try:
        lines += body()
    except Exception:  # report and go on: one run should give every number it can
        err = traceback.format_exc().strip().splitlines()
        lines += ["failed:", "", "```", *err[-12:], "```"]
        ok = False
    lines.append("")
    out.write_text("\n".join(lines))
    print("\n".join(lines[-40:]), flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench_gpu.md")
    parser.add_argument("--games", nargs="+", default=list(bench_envs.GAMES), choices=bench_envs.GAMES)
    parser.add_argument("--envs", type=int, default=8192, help="envs of the env-only section")
    parser.add_argument("--env-steps", type=int, default=2_000_000, help="env steps per game and device")
    parser.add_argument("--ppo-envs", type=int, default=2048)
    parser.add_argument("--ppo-steps", type=int, default=128, help="steps per env per rollout")
    parser.add_argument("--ppo-rollouts", type=int, default=3)
    parser.add_argument("--dqn-steps", type=int, default=20_000)
    parser.add_argument("--cpu-threads", type=int, default=0, help="0: every core")
    parser.add_argument("--device", default="cuda", help="the accelerator (cpu: a smoke run of this script)")
    args = parser.parse_args(argv)
    for name in ("envs", "env_steps", "ppo_envs", "ppo_steps", "ppo_rollouts", "dqn_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: this benchmark compares CUDA with the CPU (see docs/scaling.md)")
    torch.set_num_threads(args.cpu_threads or torch.get_num_threads())
    cuda = args.device
    if cuda.startswith("cuda"):
        index = torch.device(cuda).index or 0
        name = f"{torch.cuda.get_device_name(index)} ({cuda})"
        check_device("a tensor", torch.zeros(1, device=cuda).device, cuda)
    else:
        name = "no GPU (smoke run)"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# GPU benchmark", "", f"`python scripts/bench_gpu.py` — {name}, torch "
             f"{torch.__version__}, Python {platform.python_version()}, {torch.get_num_threads()} CPU threads, "
             f"{time.strftime('%Y-%m-%d')}", ""]

    def envs() -> list[str]:
        rows = []
        for game in args.games:
            speeds = {}
            for dev in (cuda, "cpu"):
                check_device(f"MinAtar {game}", bench_envs.TorchMinAtarVectorEnv(game, 1, device=dev).device, dev)
                speeds[dev] = bench_envs.measure(game, args.envs, args.env_steps, 1, ("torch",), dev)["torch"]
            rows.append((game, args.envs, f"{speeds[cuda]:,.0f}", f"{speeds['cpu']:,.0f}",
                         f"{speeds[cuda] / speeds['cpu']:.1f}"))
        return table(["game", "envs", f"{cuda} steps/s", "cpu steps/s", f"{cuda} / cpu"], rows)

    def ppo() -> list[str]:
        rollout = args.ppo_envs * args.ppo_steps
        batch = max(2, rollout // 128)  # the paper's 128 minibatches per epoch (SB3 needs batches of 2+)
        overrides = ["experiment=adamo_paper", "method=adam", f"agent.n_envs={args.ppo_envs}",
                     f"agent.n_steps={args.ppo_steps}", f"agent.batch_size={batch}"]
        speeds = {dev: train_speed(overrides, dev, rollout, args.ppo_rollouts * rollout) for dev in (cuda, "cpu")}
        return table(["setting", f"{cuda} steps/s", "cpu steps/s", f"{cuda} / cpu"],
                     [(f"PPO, adamo_paper ({args.ppo_envs} × {args.ppo_steps}, MLP 64×4)", f"{speeds[cuda]:,.0f}",
                       f"{speeds['cpu']:,.0f}", f"{speeds[cuda] / speeds['cpu']:.1f}")])

    def dqn() -> list[str]:
        rows = []
        for case, overrides in DQN_CASES.items():
            speeds = {dev: train_speed(overrides, dev, min(1024, args.dqn_steps), args.dqn_steps)
                      for dev in (cuda, "cpu")}
            rows.append((case, f"{speeds[cuda]:,.0f}", f"{speeds['cpu']:,.0f}", f"{speeds[cuda] / speeds['cpu']:.2f}"))
        return table(["setting", f"{cuda} steps/s", "cpu steps/s", f"{cuda} / cpu"], rows)

    results = [section(lines, f"1. Env only: {args.envs} envs, random actions", envs, out),
               section(lines, "2. PPO at the AdamO paper's settings", ppo, out),
               section(lines, "3. DQN", dqn, out)]
    print(f"written to {out}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
