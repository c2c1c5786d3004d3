"""The composition root of a run: from a typed :class:`~agents.training.settings.RunConfig` it builds the env, the
method, the agent, the callbacks and the run-directory services (agents/run), resumes from the run directory's
latest intact checkpoint, guards against non-finite values and keeps ``status.json`` up to date. The files it
writes are named in :mod:`agents.run.layout`.

The run loop is agent-agnostic (PPO and DQN share every line here) and env-agnostic: it receives a
``make_env(env_cfg, num_envs, seed, device)`` factory returning a gymnasium vector env, so this layer never imports
``envs`` (tests/test_architecture.py). The config comes typed: the command line, the Python API and ``resume=<dir>``
build it with :func:`agents.config.validation.effective_config`.

**Task switch** (:class:`agents.tasks.TaskSwitch`): the evaluator and the metrics observe the network as it ended
the old task, then the method acts (resets, injection, Adam reset), then the checkpointer marks a checkpoint due.

**Optimizer step hooks** run in the order they are registered, which is this one: (1) the unit method's (CBP/ReDo,
registered when the agent is built, with the per-entry Adam correction after it) — it edits the network; (2) the
non-finite guard's (at the start of :func:`train`) — it checks what the step and the edit left; (3) the metrics'
(at the start of ``learn``) — so the logged update size includes the unit method's re-initialisations.
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
from agents.algorithms.normalize import Normalizer
from agents.algorithms.vec_env import GymnasiumVecEnv
from agents.callbacks.evaluation import EvalCallback
from agents.callbacks.plasticity_metrics import PlasticityMetrics
from agents.callbacks.run_logger import RunLogger
from agents.errors import ConfigError, first_line, validation_line
from agents.methods import Method, build_method
from agents.run.checkpoint import Checkpointer, intact_checkpoint, restore
from agents.run.console import Console
from agents.run.guard import GuardCheck, NonFiniteError, NonFiniteGuard
from agents.run.layout import LOG_FILES, RunDir
from agents.run.lock import run_dir_lock
from agents.run.logs import add_sink, remove_sink
from agents.run.malloc import raise_malloc_thresholds
from agents.run.metrics_writer import MetricsCSV
from agents.run.status import RunStateError, read_status, write_status
from agents.run.summary import print_summary, summarize
from agents.run.wandb_log import WandbLog
from agents.training.settings import RunConfig
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

    cfg: RunConfig
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


def typed(cfg: RunConfig | Mapping[str, Any]) -> RunConfig:
    """``cfg`` as a :class:`RunConfig` (a plain config is typed and checked by the schema; the command line, the
    Python API and a resume build it with :func:`agents.config.validation.effective_config`, which also merges a
    preset's arm and resolves ``resume=<dir>``)."""
    from pydantic import ValidationError
    if isinstance(cfg, RunConfig):
        return cfg
    try:
        return RunConfig.model_validate(dict(cfg))
    except ValidationError as err:
        raise validation_line(err, RunConfig) from None


def prepare(cfg: RunConfig | Mapping[str, Any], make_env: EnvFactory) -> Run:
    """Build the env, the method and the agent of ``cfg`` and open its run directory's logs."""
    cfg = typed(cfg)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(cfg.model_dump(mode="json")), RunDir(run_dir).config)
    torch.set_num_threads(cfg.torch_threads)
    raise_malloc_thresholds()
    device = resolve_device(cfg.device)

    venv = make_env(cfg.env, cfg.agent.n_envs, cfg.seed, device)
    schedule = getattr(venv, "total_steps", None)
    total = cfg.total_timesteps or schedule
    if not total:
        raise ValueError("total_timesteps is not set and the env has no schedule length; set total_timesteps")
    if schedule and total > schedule:
        print(f"warning: total_timesteps={total:,} is longer than the curriculum ({schedule:,} env steps): its last "
              f"task goes on for {total - schedule:,} more steps", file=sys.stderr, flush=True)
    env = GymnasiumVecEnv(venv, device, make_normalizer(cfg, venv, device))
    method = build_method(cfg.method)
    try:
        model = make_agent(cfg.agent, env, method, int(total), seed=cfg.seed, device=device)
    except UnknownLayerError as err:  # the names are known only once the policy exists
        raise ConfigError("method.units.layers", err.layers, f"{err.unknown!r} is not a hidden layer of this "
                          f"agent's network; valid choices: {', '.join(err.valid)}") from None
    logger = configure(str(RunDir(run_dir).tensorboard), ["tensorboard"])
    logger.output_formats.append(MetricsCSV(RunDir(run_dir).log("metrics")))
    model.set_logger(logger)
    console = Console(int(total), progress=cfg.progress)
    run_logger = RunLogger(run_dir, cfg.log_every, console)
    evaluator = make_evaluator(cfg, env, run_dir)
    metrics = PlasticityMetrics(run_dir, cfg.metrics, seed=cfg.seed) if cfg.metrics.enabled else None
    switch = run_logger.switch
    for observer in (evaluator, metrics):  # the network as it ended the old task
        if observer is not None:
            switch.on("observe", observer.on_switch)
    switch.on("method", lambda old, new, step: method.on_task_switch(model, old, new, step))
    run = Run(cfg, run_dir, model, method, env, int(total), CallbackList([]), run_logger, console, evaluator,
              metrics)
    run.checkpointer = Checkpointer(run, cfg.checkpoint)
    switch.on("after", run.checkpointer.on_switch)
    run.callback = CallbackList([cb for cb in (run_logger, evaluator, metrics, run.checkpointer) if cb is not None])
    return run


def make_normalizer(cfg: RunConfig, venv: Any, device: str) -> Normalizer | None:
    """The agent's observation/reward scaling (``agent.normalize``), or ``None`` when both are off."""
    options = getattr(cfg.agent, "normalize", None)
    if options is None or not (options.observations or options.rewards):
        return None
    return Normalizer(venv.single_observation_space.shape, venv.num_envs, device, observations=options.observations,
                      rewards=options.rewards, gamma=cfg.agent.gamma, clip=options.clip)


def make_evaluator(cfg: RunConfig, env: GymnasiumVecEnv, run_dir: Path) -> EvalCallback | None:
    if not cfg.eval.enabled:
        return None
    if not hasattr(env.venv, "make_eval_envs"):
        warnings.warn(f"{type(env.venv).__name__} provides no eval envs (use env.vectorization=batched); "
                      "evaluation is off", stacklevel=2)
        return None
    # env.venv at evaluation time: a resumed run replaces the curriculum object
    return EvalCallback(run_dir, lambda n: env.venv.make_eval_envs(n), cfg.eval, seed=cfg.seed + 10_000)


def _check_same_config(run_dir: Path, cfg: RunConfig) -> None:
    """The run directory holds a run of this config: the two typed configs are compared (a default spelled out
    in one and left out in the other is the same value)."""
    plain = {**OmegaConf.to_container(OmegaConf.load(RunDir(run_dir).config)), "run_dir": str(run_dir),
             "resume": None}
    older = "code" not in (read_status(run_dir) or {})  # status.json names the code since config format 2
    try:
        a = _leaves(typed(plain).comparable())
    except ConfigError as err:
        raise ConfigError("run_dir", str(run_dir), f"holds a run whose config.yaml this version cannot read ({err})"
                          + ("; it was written by an older plasticity-rl: continue it with that version" if older
                             else "")) from None
    b = _leaves(cfg.comparable())
    differ = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if differ:
        listed = ", ".join(differ[:6]) + (", …" if len(differ) > 6 else "")
        why = ("; it was written by an older plasticity-rl (config format 1): continue it with that version"
               if older else "; use another run_dir, or resume=<dir> to continue that run")
        raise ConfigError("run_dir", str(run_dir), f"holds a run with another config (differs in: {listed}){why}")


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: tree}


def run(cfg: RunConfig | Mapping[str, Any], make_env: EnvFactory) -> Path:
    """Train ``cfg`` into its run directory, resuming from its latest intact checkpoint if there is one."""
    cfg = typed(cfg)
    run_dir = Path(cfg.run_dir)
    with run_dir_lock(run_dir):
        status = read_status(run_dir)
        final_zip = RunDir(run_dir).final
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
            shutil.rmtree(RunDir(run_dir).tensorboard, ignore_errors=True)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        return train(cfg, make_env, checkpoint)


def train(cfg: RunConfig | Mapping[str, Any], make_env: EnvFactory, checkpoint: Path | None = None) -> Path:
    """Train the agent described by ``cfg`` (continuing from ``checkpoint``) and return its run directory."""
    run = prepare(cfg, make_env)
    model = run.model
    finished = False
    if checkpoint is not None:
        restored = restore(run, checkpoint)
        purge_tensorboard(model, restored["step"])
        finished = restored["reason"] == "final"  # the run had ended: only its final files are missing
    # after the restore, which cuts the logs back to the checkpoint: the mirror first sends what W&B lacks of them
    mirror = open_mirror(run.cfg.model_dump(mode="json"), run.run_dir)
    write_status(run.run_dir, "running", step=int(model.num_timesteps))
    guard = run.guard = NonFiniteGuard(model.policy, model.policy.optimizer, lambda: model.num_timesteps)
    run.checkpointer.install_signal_handlers()
    start, start_step = time.time(), model.num_timesteps
    try:
        if not finished:
            callback = CallbackList([GuardCheck(guard, run.cfg.log_every), run.callback]) if guard.deferred \
                else run.callback
            model.learn(max(0, run.total_timesteps - model.num_timesteps), callback=callback,
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
    model.save(RunDir(run.run_dir).final)
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
    """The W&B mirror of the run's logs when ``wandb.enabled`` (agents/run/wandb_log.py), else None; ``cfg`` is
    the run config in its plain form (what W&B stores)."""
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
