"""One training run from a resolved config: env, agent, logs, checkpoints, resume, summary.

The run loop is agent-agnostic (PPO and DQN share every line here) and env-agnostic: it receives a
``make_env(env_cfg, num_envs, seed, device)`` factory returning a gymnasium vector env, so ``agents`` never imports
``envs``. :func:`run` validates the config, resumes from the run directory's latest checkpoint when there is
one (or from ``resume=<dir>``), guards against non-finite values and keeps ``status.json`` up to date. A run
directory holds::

    config.yaml      the resolved config
    status.json      running | completed | failed | preempted | interrupted (with the reason)
    .lock            held by the process training in it (a second one is refused)
    checkpoints/     step_<N>.pt + step_<N>.pt.sha256 (the last checkpoint.keep of them) and final.zip
    metrics.csv      periodic and per-task-switch rows (see agents.logs.METRIC_COLUMNS)
    episodes.csv     one row per finished episode
    tasks.csv        one row per task visit
    eval.csv         evaluation of every task (at switches, every eval.every steps, at the end)
    plasticity.csv   plasticity metrics (long format), periodic / at switches / at the end
    tb/              TensorBoard events
    wandb.json       with wandb.enabled: the W&B run id and what was sent (wandb/ holds W&B's own files)
"""

from __future__ import annotations

import shutil
import sys
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
from stable_baselines3.common.logger import TensorBoardOutputFormat, configure

from agents.algorithms.factory import make_agent
from agents.algorithms.vec_env import GymnasiumVecEnv
from agents.callbacks.evaluation import EvalCallback
from agents.callbacks.plasticity_metrics import PlasticityMetrics
from agents.callbacks.run_logger import RunLogger
from agents.config.validation import load_stored_config, validate, with_arm
from agents.errors import ConfigError, first_line
from agents.methods import Method, build_method
from agents.run.checkpoint import CHECKPOINT_DIR, LOG_FILES, Checkpointer, intact_checkpoint, restore
from agents.run.console import Console
from agents.run.guard import NonFiniteError, NonFiniteGuard
from agents.run.lock import run_dir_lock
from agents.run.logs import MetricsCSV, add_sink, remove_sink
from agents.run.malloc import raise_malloc_thresholds
from agents.run.status import RunStateError, read_status, write_status
from agents.run.summary import print_summary, summarize
from agents.run.wandb_log import WandbLog
from plasticity.units.base import UnknownLayerError

EnvFactory = Callable[[Mapping[str, Any], int, int, str], VectorEnv]  # (env config, num_envs, seed, device)


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
    metrics: PlasticityMetrics | None = None
    checkpointer: Checkpointer | None = None
    guard: NonFiniteGuard | None = None

    def stateful_callbacks(self) -> dict[str, Any]:
        named = {"run_logger": self.run_logger, "evaluator": self.evaluator, "metrics": self.metrics,
                 "checkpointer": self.checkpointer}
        return {name: cb for name, cb in named.items() if cb is not None}


def prepare(cfg: Mapping[str, Any], make_env: EnvFactory) -> Run:
    """Build the env, the method and the agent of ``cfg`` and open its run directory's logs."""
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(dict(cfg)), run_dir / "config.yaml")
    torch.set_num_threads(int(cfg.get("torch_threads", 1)))
    raise_malloc_thresholds()
    device = resolve_device(str(cfg.get("device", "auto")))
    seed = int(cfg["seed"])
    agent_cfg = cfg["agent"]

    venv = make_env(cfg["env"], int(agent_cfg["n_envs"]), seed, device)
    schedule = getattr(venv, "total_steps", None)
    total = cfg.get("total_timesteps") or schedule
    if not total:
        raise ValueError("total_timesteps is not set and the env has no schedule length; set total_timesteps")
    if schedule and total > schedule:
        print(f"warning: total_timesteps={total:,} is longer than the curriculum ({schedule:,} env steps): its last "
              f"task goes on for {total - schedule:,} more steps", file=sys.stderr, flush=True)
    env = GymnasiumVecEnv(venv, device)
    method = build_method(cfg["method"])
    try:
        model = make_agent(agent_cfg, env, method, int(total), seed=seed, device=device)
    except UnknownLayerError as err:  # the names are known only once the policy exists
        raise ConfigError("method.units.layers", err.layers, f"{err.unknown!r} is not a hidden layer of this "
                          f"agent's network; valid choices: {', '.join(err.valid)}") from None
    logger = configure(str(run_dir / "tb"), ["tensorboard"])
    logger.output_formats.append(MetricsCSV(run_dir / "metrics.csv"))
    model.set_logger(logger)
    console = Console(int(total), progress=bool(cfg.get("progress", True)))
    run_logger = RunLogger(run_dir, int(cfg.get("log_every", 10_000)), console)
    evaluator = make_evaluator(cfg, env, run_dir)
    metrics = make_metrics(cfg, run_dir)
    for observer in (evaluator, metrics):  # first: the network as it ended the old task
        if observer is not None:
            run_logger.on_switch.append(observer.on_switch)
    run_logger.on_switch.append(lambda old, new, step: method.on_task_switch(model, old, new, step))
    run = Run(cfg, run_dir, model, method, env, int(total), CallbackList([]), run_logger, console, evaluator,
              metrics)
    ck = dict(cfg.get("checkpoint") or {})
    run.checkpointer = Checkpointer(run, every=int(ck.get("every", 500_000)), at_switch=bool(ck.get("at_switch", True)),
                                    keep=int(ck.get("keep", 3)), replay_buffer=bool(ck.get("replay_buffer", True)))
    run_logger.on_switch.append(run.checkpointer.on_switch)
    run.callback = CallbackList([cb for cb in (run_logger, evaluator, metrics, run.checkpointer) if cb is not None])
    return run


def make_metrics(cfg: Mapping[str, Any], run_dir: Path) -> PlasticityMetrics | None:
    options = dict(cfg.get("metrics") or {})
    if not options.pop("enabled", True):
        return None
    return PlasticityMetrics(run_dir, seed=int(cfg["seed"]), **options)


def make_evaluator(cfg: Mapping[str, Any], env: GymnasiumVecEnv, run_dir: Path) -> EvalCallback | None:
    ev = dict(cfg.get("eval") or {})
    if not ev.get("enabled", True):
        return None
    if not hasattr(env.venv, "make_eval_envs"):
        warnings.warn(f"{type(env.venv).__name__} provides no eval envs (use env.vectorization=batched); "
                      "evaluation is off", stacklevel=2)
        return None
    # env.venv at evaluation time: a resumed run replaces the curriculum object
    return EvalCallback(run_dir, lambda n: env.venv.make_eval_envs(n), num_envs=int(ev.get("num_envs", 8)),
                        every=int(ev.get("every", 250_000)), episodes=int(ev.get("episodes", 8)),
                        max_steps=int(ev.get("max_steps", 2000)), deterministic=bool(ev.get("deterministic", False)),
                        seed=int(cfg["seed"]) + 10_000)


RUN_ONLY_KEYS = ("run_dir", "resume", "progress", "wandb")  # may differ between a run and its resumption


def _resolve_resume(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``resume=<dir>``: that run's own config (validated like a new one), in that directory."""
    if not cfg.get("resume"):
        return dict(cfg)
    stored = load_stored_config(Path(cfg["resume"]))
    return {**stored, "run_dir": str(cfg["resume"]), "resume": None, "progress": cfg.get("progress", True)}


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: tree}


def _check_same_config(run_dir: Path, cfg: Mapping[str, Any]) -> None:
    stored = _leaves(OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml")))
    current = _leaves(cfg)
    differ = [k for k in sorted(set(stored) | set(current))
              if k.split(".")[0] not in RUN_ONLY_KEYS and stored.get(k) != current.get(k)]
    if differ:
        listed = ", ".join(differ[:6]) + (", …" if len(differ) > 6 else "")
        raise ConfigError("run_dir", str(run_dir), f"holds a run with another config (differs in: {listed}); use "
                          "another run_dir, or resume=<dir> to continue that run")


def run(cfg: Mapping[str, Any], make_env: EnvFactory) -> Path:
    """Train ``cfg`` into its run directory, resuming from its latest intact checkpoint if there is one."""
    validate(cfg)
    cfg = with_arm(_resolve_resume(cfg))
    run_dir = Path(cfg["run_dir"])
    with run_dir_lock(run_dir):
        status = read_status(run_dir)
        final_zip = run_dir / CHECKPOINT_DIR / "final.zip"
        if status is not None and status["status"] == "completed" and final_zip.exists():
            _check_same_config(run_dir, cfg)
            print(f"{run_dir} is already complete ({status.get('step', 0):,} env steps); nothing to do", flush=True)
            print_summary(summarize(run_dir))
            return run_dir
        checkpoint, damaged = intact_checkpoint(run_dir)
        for path, why in damaged:
            print(f"warning: checkpoint {path.name} is damaged ({why}); set aside as {path.name}.damaged",
                  file=sys.stderr, flush=True)
        if damaged:
            if checkpoint is None:
                raise RunStateError(f"{run_dir} has no intact checkpoint left (damaged: "
                                    f"{', '.join(p.name for p, _ in damaged)}); delete the directory to start over")
            print(f"resuming from {checkpoint.name}, the newest intact checkpoint", file=sys.stderr, flush=True)
        if checkpoint is not None or (status is not None and status["status"] == "completed"):
            _check_same_config(run_dir, cfg)
        if checkpoint is None:  # a fresh start: drop logs of an attempt that died before its first checkpoint
            for name in LOG_FILES:
                (run_dir / name).unlink(missing_ok=True)
            shutil.rmtree(run_dir / "tb", ignore_errors=True)
        if cfg.get("deterministic", False):
            torch.use_deterministic_algorithms(True)
        return train(cfg, make_env, checkpoint)


def train(cfg: Mapping[str, Any], make_env: EnvFactory, checkpoint: Path | None = None) -> Path:
    """Train the agent described by ``cfg`` (continuing from ``checkpoint``) and return its run directory."""
    run = prepare(cfg, make_env)
    model = run.model
    mirror = open_mirror(cfg, run.run_dir)
    finished = False
    if checkpoint is not None:
        restored = restore(run, checkpoint)
        purge_tensorboard(model, restored["step"])
        finished = restored["reason"] == "final"  # the run had ended: only its final files are missing
    write_status(run.run_dir, "running", step=int(model.num_timesteps))
    guard = run.guard = NonFiniteGuard(model.policy, model.policy.optimizer, lambda: model.num_timesteps)
    run.checkpointer.install_signal_handlers()
    start, start_step = time.time(), model.num_timesteps
    try:
        if not finished:
            model.learn(max(0, run.total_timesteps - model.num_timesteps), callback=run.callback,
                        log_interval=None, reset_num_timesteps=checkpoint is None)
            guard.check()  # a deferred (CUDA) check: before the final checkpoint
    except NonFiniteError as err:
        write_status(run.run_dir, "failed", step=int(model.num_timesteps), reason=str(err))
        raise SystemExit(f"error: {err}") from None
    except KeyboardInterrupt:  # a second Ctrl-C: the last checkpoint stands
        write_status(run.run_dir, "interrupted", step=int(model.num_timesteps),
                     reason="a second Ctrl-C; resume by re-running the command (from the last checkpoint)")
        raise SystemExit("interrupted: re-run the command to resume from the last checkpoint") from None
    except BaseException as err:
        write_status(run.run_dir, "failed", step=int(model.num_timesteps), reason=f"{type(err).__name__}: {err}")
        raise
    finally:
        close_mirror(mirror, run.run_dir)
        run.checkpointer.restore_signal_handlers()
        guard.remove()
        run.console.close()
        model.logger.close()
    elapsed = time.time() - start
    if run.checkpointer.preempted:
        print(f"{run.checkpointer.stopped_as} at env step {run.checkpointer.last_step:,}: checkpoint written; "
              "re-run the command to resume", flush=True)
        raise SystemExit(130 if run.checkpointer.stopped_as == "interrupted" else 143)
    if not finished:
        run.checkpointer.save("final")
    model.save(run.run_dir / CHECKPOINT_DIR / "final.zip")
    run.env.close()
    write_status(run.run_dir, "completed", step=int(model.num_timesteps))

    print_summary(summarize(run.run_dir, final_step=model.num_timesteps))
    if finished:
        print(f"the run had ended at env step {model.num_timesteps:,}; its final model and status are written now; "
              f"run directory: {run.run_dir}", flush=True)
        return run.run_dir
    steps = model.num_timesteps - start_step
    print(f"{steps:,} env steps in {elapsed:.0f} s ({steps / max(elapsed, 1e-9):,.0f} steps/s); "
          f"run directory: {run.run_dir}", flush=True)
    return run.run_dir


def open_mirror(cfg: Mapping[str, Any], run_dir: Path) -> WandbLog | None:
    """The W&B mirror of the run's logs when ``wandb.enabled`` (agents/run/wandb_log.py), else None."""
    if not (cfg.get("wandb") or {}).get("enabled", False):
        return None
    try:
        mirror = WandbLog(cfg, run_dir)
    except Exception as err:  # W&B down or misconfigured: the run goes on, its logs are the CSV files
        print(f"warning: W&B did not start ({type(err).__name__}: {first_line(err)}); training goes on without it, "
              f"the logs are in {run_dir}", file=sys.stderr, flush=True)
        return None
    add_sink(run_dir, mirror)
    return mirror


def close_mirror(mirror: WandbLog | None, run_dir: Path) -> None:
    if mirror is not None:
        remove_sink(run_dir, mirror)
        mirror.finish()


def purge_tensorboard(model: BaseAlgorithm, step: int) -> None:
    """Hide TensorBoard events written after ``step`` by the interrupted process (they are produced again)."""
    from torch.utils.tensorboard import SummaryWriter
    for fmt in model.logger.output_formats:
        if isinstance(fmt, TensorBoardOutputFormat):
            log_dir = fmt.writer.log_dir
            fmt.writer.close()
            fmt.writer = SummaryWriter(log_dir=log_dir, purge_step=step)
