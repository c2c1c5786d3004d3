"""One training run from a resolved config: env, agent, logs, checkpoint, summary.

The run loop is agent-agnostic (PPO and DQN share every line here) and env-agnostic: it receives a
``make_env(env_cfg, num_envs, seed)`` factory returning a gymnasium vector env, so ``agents`` never imports
``envs``. A run directory holds::

    config.yaml      the resolved config
    metrics.csv      periodic and per-task-switch rows (see agents.logs.METRIC_COLUMNS)
    episodes.csv     one row per finished episode
    tasks.csv        one row per task visit
    eval.csv         evaluation of every task (at switches, every eval.every steps, at the end)
    tb/              TensorBoard events
    checkpoints/final.zip   the SB3 model (policy + optimizer state)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from gymnasium.vector import VectorEnv
from omegaconf import OmegaConf
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import configure

from agents.algorithms import make_agent
from agents.callbacks import RunLogger
from agents.console import Console
from agents.evaluation import EvalCallback
from agents.logs import MetricsCSV
from agents.methods import Method, build_method
from agents.summary import print_summary, summarize
from agents.vec_env import GymnasiumVecEnv

EnvFactory = Callable[[Mapping[str, Any], int, int], VectorEnv]


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when a GPU is present, else ``cpu``; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but no CUDA GPU is available; valid choices here: auto, cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"device={name!r}; valid choices: auto, cpu, cuda, cuda:<index>")
    return name


@dataclass
class Run:
    """Everything a run is made of, built and validated before any training starts."""

    cfg: Mapping[str, Any]
    run_dir: Path
    model: BaseAlgorithm
    method: Method
    env: GymnasiumVecEnv
    total_timesteps: int
    callback: CallbackList
    run_logger: RunLogger
    console: Console
    evaluator: EvalCallback | None = None


def prepare(cfg: Mapping[str, Any], make_env: EnvFactory) -> Run:
    """Build the env, the method and the agent of ``cfg`` and open its run directory's logs."""
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(dict(cfg)), run_dir / "config.yaml")
    torch.set_num_threads(int(cfg.get("torch_threads", 1)))
    device = resolve_device(str(cfg.get("device", "auto")))
    seed = int(cfg["seed"])
    agent_cfg = cfg["agent"]

    venv = make_env(cfg["env"], int(agent_cfg["n_envs"]), seed)
    total = cfg.get("total_timesteps") or getattr(venv, "total_steps", None)
    if not total:
        raise ValueError("total_timesteps is not set and the env has no schedule length; set total_timesteps")
    env = GymnasiumVecEnv(venv)
    method = build_method(cfg["method"])
    model = make_agent(agent_cfg, env, method, int(total), seed=seed, device=device)
    logger = configure(str(run_dir / "tb"), ["tensorboard"])
    logger.output_formats.append(MetricsCSV(run_dir / "metrics.csv"))
    model.set_logger(logger)
    console = Console(int(total), progress=bool(cfg.get("progress", True)))
    run_logger = RunLogger(run_dir, int(cfg.get("log_every", 10_000)), console)
    evaluator = make_evaluator(cfg, venv, run_dir)
    if evaluator is not None:
        run_logger.on_switch.append(evaluator.on_switch)  # first: the policy as it ended the old task
    run_logger.on_switch.append(lambda old, new, step: method.on_task_switch(model, old, new, step))
    callbacks = CallbackList([run_logger, *([evaluator] if evaluator else [])])
    return Run(cfg, run_dir, model, method, env, int(total), callbacks, run_logger, console, evaluator)


def make_evaluator(cfg: Mapping[str, Any], venv: VectorEnv, run_dir: Path) -> EvalCallback | None:
    ev = dict(cfg.get("eval") or {})
    if not ev.get("enabled", True):
        return None
    if not hasattr(venv, "make_eval_envs"):
        warnings.warn(f"{type(venv).__name__} provides no eval envs (use env.vectorization=batched); "
                      "evaluation is off", stacklevel=2)
        return None
    envs = venv.make_eval_envs(int(ev.get("num_envs", 8)))
    return EvalCallback(run_dir, envs, every=int(ev.get("every", 250_000)), episodes=int(ev.get("episodes", 8)),
                        max_steps=int(ev.get("max_steps", 2000)), deterministic=bool(ev.get("deterministic", False)),
                        seed=int(cfg["seed"]) + 10_000)


def train(cfg: Mapping[str, Any], make_env: EnvFactory) -> Path:
    """Train the agent described by ``cfg`` and return its run directory."""
    run = prepare(cfg, make_env)
    model = run.model
    start = time.time()
    try:
        model.learn(run.total_timesteps, callback=run.callback, log_interval=None)
    finally:
        run.console.close()
        model.logger.close()
        if run.evaluator is not None:
            run.evaluator.close()
    elapsed = time.time() - start
    (run.run_dir / "checkpoints").mkdir(exist_ok=True)
    model.save(run.run_dir / "checkpoints" / "final.zip")
    run.env.close()

    print_summary(summarize(run.run_dir, final_step=model.num_timesteps))
    print(f"{model.num_timesteps:,} env steps in {elapsed:.0f} s ({model.num_timesteps / elapsed:,.0f} steps/s); "
          f"run directory: {run.run_dir}", flush=True)
    return run.run_dir
