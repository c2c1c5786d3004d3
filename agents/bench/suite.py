"""The throughput benchmark: every ratio side by side in one run, written to docs/benchmarks.md.

    python scripts/bench.py                      # (make bench) ≈ 35 min on a 2-core CPU
    python scripts/bench.py --baseline /tmp/prev # section 1 also times another checkout (the previous release)
    python scripts/bench.py --quick --out /tmp/b.md

Sections (each also a script of its own, for more repetitions or other settings):

1. whole training runs on the device path vs today's env path (``env.backend=minatar``): PPO at the AdamO paper's
   and at the demo settings, vectorized DQN vs one-env DQN (scripts/bench_paths.py);
2. our PPO and DQN vs vanilla Stable-Baselines3, env-steps/s on a MinAtar switching curriculum
   (scripts/bench_agents.py), and learning curves of both on Breakout at the same seeds;
3. DQN's learning at the MinAtar cadence vs vectorized at lower replay ratios (scripts/bench_agents.py);
4. the update-phase cost of each plasticity method vs torch Adam (scripts/bench_update.py);
5. run time with plasticity metrics at the default cadence vs without (scripts/bench_metrics.py);
6. env only: the torch MinAtar games vs the numpy kernels, the reference game objects and SB3's DummyVecEnv
   (scripts/bench_envs.py);
7. the GPU: scripts/bench_gpu.py (``make bench-gpu``), run on a CUDA machine; its page is quoted when there is one.

Repetitions alternate between the compared sides; medians are reported, and ratios are the claim.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from agents.bench import env_speed as bench_envs
from agents.bench import metrics_cost as bench_metrics
from agents.bench import paths as bench_paths
from agents.bench import update as bench_update
from agents.bench import versus_sb3 as bench_agents
from agents.reporting.markdown import table as markdown_table

GPU_NOTE = ("Not yet timed on a GPU: no GPU machine was lent to the sessions that wrote this page. On a CUDA machine, "
            "`make bench-gpu` (after `make gpu-wheels` where there is no package index) runs the CUDA tests and "
            "`scripts/bench_gpu.py`: env-only steps/s at 8192 envs, PPO at the AdamO paper's settings and DQN, CUDA "
            "vs CPU, in about 5 minutes; its page belongs here.")
UPDATE_METHODS = ["adam", "adamo", "iso_adam", "l2_init", "spectral", "wasserstein", "shrink_perturb", "cbp",
                  "cbp_active", "redo", "redo_every_10", "adam_paper_network"]


def machine(device: str) -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "none used"
    return [f"- CPU: {cpu}, {os.cpu_count()} cores; torch threads: {torch.get_num_threads()}",
            f"- torch {torch.__version__}, Python {platform.python_version()}, device: {device}, GPU: {gpu}",
            f"- date: {time.strftime('%Y-%m-%d')}"]


def checkout(path: Path) -> str:
    """What another checkout is: its git commit where it has one."""
    import subprocess
    out = subprocess.run(["git", "-C", str(path), "log", "-1", "--format=commit %h, %cs"], capture_output=True,
                         text=True)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "another checkout"


def table(header: list[str], rows: list[tuple]) -> list[str]:
    return [*markdown_table(header, rows), ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--agent-reps", type=int, default=7,
                        help="repetitions of section 2, ours vs vanilla SB3 (≈ 25 s per repetition of both agents)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes for the learning curves of section 1 (they do not depend on timing)")
    parser.add_argument("--quick", action="store_true", help="one repetition, fewer methods (a smoke run)")
    parser.add_argument("--baseline", type=Path, help="section 1 also runs this checkout (e.g. the previous release)")
    parser.add_argument("--dqn-steps", type=int, default=100_000, help="env steps of each run of section 3")
    args = parser.parse_args()
    unknown = sorted(set(UPDATE_METHODS) - set(bench_update.ALL_METHODS))
    if unknown:  # before any heavy work
        parser.error(f"UPDATE_METHODS has unknown methods {unknown}; valid: {', '.join(bench_update.ALL_METHODS)}")
    torch.set_num_threads(1)
    reps = 1 if args.quick else args.reps
    agent_reps = 1 if args.quick else args.agent_reps
    start = time.perf_counter()
    quick = "--quick, " if args.quick else ""
    lines = ["# Benchmarks", "", f"`python scripts/bench.py` ({quick}{agent_reps} repetitions per side in section 2, "
             f"{reps} in the others, alternating; medians). Machine:", "", *machine(args.device), ""]

    print("1/6 whole runs: device path vs today's env path …", flush=True)
    cases = ["ppo_demo", "dqn"] if args.quick else list(bench_paths.CASES)
    paths = {case: bench_paths.measure(case, 1 if args.quick else 3, args.baseline) for case in cases}
    baseline = (f" The baseline is `{args.baseline}` ({checkout(args.baseline)}, run with the minatar side's "
                "overrides but the backend key)." if args.baseline else "")
    lines += ["## 1. Whole runs: the device path vs today's env path", "",
              "`python scripts/bench_paths.py` — each run a fresh `scripts/train.py` process (evaluation, metrics "
              "and checkpoints off, one torch thread, CPU), its own steps/s; 3 alternating repetitions, medians. "
              "torch: `env.backend=torch` (default); minatar: `env.backend=minatar`, the reference numpy envs "
              "stepping the same agents." + baseline, "",
              *[f"- `{case}`: {bench_paths.CASES[case][2]}" for case in cases], "",
              *table(bench_paths.HEADER, bench_paths.rows(paths))]

    print("2/6 agents vs vanilla SB3 …", flush=True)
    results = {a: bench_agents.measure(a, agent_reps, args.device) for a in bench_agents.BENCHMARKS}
    lines += ["## 2. Env-steps/s: our agents vs vanilla Stable-Baselines3", "",
              "Breakout → SpaceInvaders, default agent configs (`conf/agent/*.yaml`), the same MinAtar network, "
              "1 torch thread on both sides; PPO: 64 envs, 2 × 16,384 steps; DQN: one env, one update of batch "
              "32 per step (the MinAtar paper's cadence), 2 × 1,500 steps after 256 warm-up steps. See "
              "`scripts/bench_agents.py` for what each side is.", "",
              *table(bench_agents.HEADER, bench_agents.rows(results)), *bench_agents.ceilings(results), "",
              "On a shared VM the ratios move between runs; docs/performance.md lists earlier runs of this "
              "table and where the time goes.", ""]
    seeds = [0] if args.quick else [0, 1, 2]
    print("    learning curves …", flush=True)
    curves = {agent: bench_agents.learning(agent, seeds, steps // 10 if args.quick else None, workers=args.workers)
              for agent, (_, steps) in bench_agents.LEARNING.items()}
    lines += [f"Learning on Breakout, same seeds ({', '.join(map(str, seeds))}) and hyper-parameters on both sides "
              "(DQN with ε annealed over 5k steps and learning from step 1k, so that 30k steps show learning): mean "
              "training return of the episodes ending in each fifth of the run (mean over seeds); the area under "
              "that curve (AUC, the mean of the fifths) and the final return (last 100 episodes) per seed, compared "
              "with Welch's t-test for a difference of means. The seeds run in parallel processes (learning does not "
              "depend on timing); `python scripts/bench_agents.py --learning 0 1 2 3 4` for more.", "",
              *table(bench_agents.LEARNING_HEADER, bench_agents.learning_rows(curves)),
              *bench_agents.learning_notes(curves), ""]

    print("3/6 DQN: cadence vs vectorized, learning …", flush=True)
    dqn_steps = 20_000 if args.quick else args.dqn_steps
    dqn = bench_agents.settings_learning(bench_agents.DQN_SETTINGS, seeds, dqn_steps, workers=args.workers)
    lines += ["## 3. DQN: the MinAtar cadence vs vectorized envs at lower replay ratios, learning", "",
              f"Breakout, {dqn_steps:,} env steps, seeds {', '.join(map(str, seeds))}, ε 1 → 0.1 over 10k steps, "
              "learning from step 1k, target copied every 1,000 env steps, batch 32, Adam; the replay ratio is "
              "gradient updates per env step (`agent.replay_ratio`). Return per fifth of the run (mean over seeds), "
              "AUC and final return with Welch's p against the cadence. `python scripts/bench_agents.py "
              "--dqn-settings 0 1 2 --steps 100000`.", "",
              *table(bench_agents.SETTINGS_HEADER, bench_agents.settings_rows(dqn)), ""]

    print("4/6 update phase per method …", flush=True)
    methods = ["adam", "adamo", "cbp"] if args.quick else UPDATE_METHODS
    times = bench_update.time_updates(bench_update.build_agents(methods), reps)
    lines += ["## 4. Update phase per method vs torch Adam", "",
              "One PPO `train()` (4 epochs × 16 minibatches of 512 on the MinAtar network) on the same rollout; "
              "`torch_adam` is `torch.optim.Adam` (for-loop kernel), every method runs on our fused Adam; "
              "`adam_paper_network` is `adam` with the network's forward written plainly in the paper's order "
              "(`bench_update.paper_order_forward`, the vanilla side of section 2), so `adam_paper_network / adam` "
              "is what our network layout saves.", "",
              *table(["method", "median ms", "min ms", "× torch Adam"],
                     [(n, f"{m:.1f}", f"{lo:.1f}", f"{r:.2f}") for n, m, lo, r in bench_update.ratio_rows(times)])]

    print("5/6 metrics overhead …", flush=True)
    steps = 50_000 if args.quick else 125_000
    t = bench_metrics.measure(1 if args.quick else 2, ["env=minatar_demo", f"env.steps_per_task={steps}"])
    base = statistics.median(t["without metrics"])
    lines += ["## 5. Plasticity metrics at the default cadence", "",
              f"Whole PPO run on the demo curriculum at {steps:,} steps per visit (4 visits), evaluation off:", "",
              *table(["configuration", "median s", "ratio"],
                     [(k, f"{statistics.median(v):.1f}", f"{statistics.median(v) / base:.2f}") for k, v in t.items()])]

    print("6/6 envs …", flush=True)
    env_steps = 20_000 if args.quick else 200_000
    big_sides = ("torch", "numpy", "loop")
    big = {(g, 2048): bench_envs.measure(g, 2048, env_steps, reps, big_sides) for g in bench_envs.GAMES}
    small_sides = ("torch", "numpy", "loop", "DummyVecEnv")
    small = {(g, 64): bench_envs.measure(g, 64, env_steps // 4, reps, small_sides)
             for g in ("breakout", "space_invaders")}
    lines += ["## 6. Env only: the torch games vs the numpy kernels and the reference", "",
              "Random actions, env-steps/s, one CPU thread (`python scripts/bench_envs.py`): torch = the default "
              "backend's games; numpy = the reference backend's kernels (Breakout, SpaceInvaders); loop = the "
              "`minatar` game objects one after another (the reference backend of the other games); DummyVecEnv = "
              "SB3's over `gym.make`.", "",
              *table(bench_envs.header(big_sides), bench_envs.rows(big, big_sides)),
              "", *table(bench_envs.header(small_sides), bench_envs.rows(small, small_sides)), ""]

    lines += ["## 7. GPU", "", GPU_NOTE, "", f"Benchmark wall time: {time.perf_counter() - start:.0f} s.", ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
