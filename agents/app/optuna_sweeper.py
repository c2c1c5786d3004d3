"""Coefficient search: Hydra's Optuna sweeper with per-method search spaces and a study that resumes.

``plasticity-rl train -m hydra/sweeper=optuna_coef method=adamo hydra.sweep.dir=multirun/adamo_search`` runs
``n_trials`` trials of AdamO's λ (log-uniform, ``search_spaces`` in conf/hydra/sweeper/optuna_coef.yaml), each a
full run scored by :func:`agents.app.objective.plasticity_score`, maximized by TPE. The study lives in
``<sweep dir>/optuna.db`` (SQLite). Two things differ from the plain Optuna sweeper:

* **the search space comes with the method**: without a range on the command line, the method's coefficient
  range in :mod:`plasticity.registry` is used, or its entry of ``search_spaces`` where the config gives one (a
  range on the command line, ``'method.coef=tag(log, interval(1e-4, 1e-1))'``, wins);
* **the study resumes to its target**: ``n_trials`` is the number of finished trials the study should hold, so the
  same command after a crash or Ctrl-C runs only the missing trials (the trial that was running when the process
  died is marked failed and its parameters are tried again first, in its directory, so that its run resumes from
  its checkpoint under the new trial); a complete study just reports its best. A
  resumed search seeds its sampler with ``seed + <trials so far>``, so it does not draw again the values the first
  process drew (TPE's startup trials are random draws);
* **one search per sweep directory** (a lock; a second process is refused in one line);
* **a trial that fails is a failed trial, not a failed search**: a run stopped by the non-finite guard (or any
  error) and a run whose score is NaN (no episode finished) are recorded as FAIL with one line, and the search goes
  on while the failures of a batch stay within ``max_failure_rate``; beyond it, it stops with one line.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


def _log() -> logging.Logger:
    # Looked up when used: Hydra's logging setup disables the loggers that exist before it (this module is imported
    # by Hydra's plugin scan, earlier).
    return logging.getLogger("hydra_plugins.plasticity_rl_sweeper")


def range_override(key: str, low: float, high: float, log_scale: bool = True) -> str:
    """The Hydra override of an Optuna range: ``key=tag(log, interval(low, high))``."""
    interval = f"interval({low!r}, {high!r})"
    return f"{key}=tag(log, {interval})" if log_scale else f"{key}={interval}"


def method_space(search_spaces: Any, method: Any) -> list[str]:
    """The overrides of the search space of ``method`` (a method config): ``search_spaces[<its name>]`` if given
    (``{key: [low, high]}``), else its coefficient's range in :mod:`plasticity.registry` (log-uniform); [] if none."""
    from agents.methods import search_space
    method = OmegaConf.to_container(method, resolve=True) if isinstance(method, DictConfig) else dict(method)
    space = (search_spaces or {}).get(method.get("name")) or search_space(method)
    return [range_override(key, float(lo), float(hi)) for key, (lo, hi) in space.items()]


class CoefficientSweeper(Sweeper):
    """:class:`hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper` with method search spaces and
    resumable studies (see the module docstring); the same options plus ``search_spaces``."""

    def __init__(self, sampler: Any, direction: Any, storage: Any, study_name: str | None, n_trials: int,
                 n_jobs: int, max_failure_rate: float = 0.0, search_space: DictConfig | None = None,
                 custom_search_space: str | None = None, params: DictConfig | None = None,
                 search_spaces: DictConfig | None = None) -> None:
        from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
        self.impl = OptunaSweeperImpl(sampler, direction, storage, study_name, n_trials, n_jobs, max_failure_rate,
                                      search_space, custom_search_space, params)
        self.target_trials = int(n_trials)
        self.search_spaces = OmegaConf.to_container(search_spaces) if search_spaces is not None else {}
        self._resume_dirs: list[tuple[dict[str, Any], str]] = []  # a dead trial's parameters → its run directory

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sampler_config = OmegaConf.select(config, "hydra.sweeper.sampler")
        self.impl.setup(hydra_context=hydra_context, task_function=_as_trial(task_function), config=config)

    def sweep(self, arguments: list[str]) -> None:
        from hydra.core.override_parser.overrides_parser import OverridesParser
        parsed = OverridesParser.create().parse_overrides(arguments)
        given = {o.get_key_element().lstrip("+~") for o in parsed}
        if self.impl.params:  # a preset's sweeps: the command line's value of a key wins, as with Hydra's grid
            self.impl.params = OmegaConf.create({k: v for k, v in self.impl.params.items() if k not in given})
        ranges = [o for o in parsed if o.is_interval_sweep()]
        ranges += [k for k, v in (self.impl.params or {}).items() if "interval(" in str(v)]
        if not ranges:
            arguments = [*arguments, *method_space(self.search_spaces, self.impl.config.method)]
        from agents.run.lock import run_dir_lock
        from agents.run.status import RunStateError
        configure = self.impl._configure_trials

        def configure_resuming(trials: list[Any], *args: Any) -> list[tuple[str, ...]]:
            """A re-queued trial runs in its dead predecessor's directory: its run resumes from its checkpoint."""
            out = []
            for trial, overrides in zip(trials, configure(trials, *args), strict=True):
                match = next((k for k, (params, _) in enumerate(self._resume_dirs) if params == trial.params), None)
                if match is not None:
                    overrides = (*overrides, f"hydra.sweep.subdir='{self._resume_dirs.pop(match)[1]}'")
                out.append(tuple(overrides))
            return out
        self.impl._configure_trials = configure_resuming
        try:
            with run_dir_lock(Path(self.impl.sweep_dir)):
                self._resume()
                return self.impl.sweep(arguments)
        except RunStateError as err:  # another search holds the directory
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        except TrialFailed as err:  # more failures than max_failure_rate allows: the trials are recorded as FAIL
            print(f"error: the search stopped: {err} (hydra.sweeper.max_failure_rate="
                  f"{self.impl.max_failure_rate} allows fewer failed trials per batch; the same command resumes)",
                  file=sys.stderr)
            sys.exit(1)

    def _resume(self) -> None:
        """Count the finished trials of a stored study; fail and re-queue the ones a dead process left running."""
        import optuna
        Path(self.impl.sweep_dir).mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
        if self.impl.storage is None:
            return
        try:
            study = optuna.load_study(study_name=self.impl.study_name, storage=self.impl.storage)
        except KeyError:  # no such study yet
            return
        states = optuna.trial.TrialState
        for trial in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
            study._storage.set_trial_state(trial._trial_id, states.FAIL)
            with warnings.catch_warnings():  # "enqueue_trial is experimental": stable since optuna 1.2
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.enqueue_trial(trial.params)
            job_dirs = sorted(p for p in Path(self.impl.sweep_dir).glob(f"{trial.number}_*") if p.is_dir())
            if job_dirs:  # its job number is its trial number (job_idx follows the study's trial count)
                self._resume_dirs.append((dict(trial.params), job_dirs[0].name))
            _log().warning("trial %d was left running by a process that died: failed, its parameters re-queued%s",
                           trial.number, f" to resume in {job_dirs[0].name}" if job_dirs else "")
        if study.trials and self.sampler_config is not None and "seed" in self.sampler_config:
            import hydra.utils
            config = OmegaConf.to_container(self.sampler_config)
            config["seed"] = int(config["seed"] or 0) + len(study.trials)  # new draws, reproducibly
            self.impl.sampler = hydra.utils.instantiate(config)
        done = len(study.get_trials(deepcopy=False, states=(states.COMPLETE,)))
        self.impl.n_trials = max(0, self.target_trials - done)
        self.impl.job_idx = len(study.trials)  # new job directories do not reuse the numbers of earlier ones
        _log().info("study %s holds %d finished trials of %d: %d to run", self.impl.study_name, done,
                 self.target_trials, self.impl.n_trials)


class TrialFailed(RuntimeError):
    """A trial's run stopped or scored NaN: Optuna records it as FAIL (its message is the one line logged)."""


def _as_trial(task_function: TaskFunction) -> TaskFunction:
    """The task as an Optuna trial: a run that stops itself (``SystemExit``: the non-finite guard, a refused
    directory) or scores NaN raises :class:`TrialFailed`, which Hydra's launcher hands to the sweeper as the job's
    result, so the trial is FAIL and the search goes on (``max_failure_rate``)."""
    def trial(cfg: DictConfig) -> float:
        try:
            score = task_function(cfg)
        except SystemExit as stop:  # the guard's message, or an exit status after a line already printed
            why = stop.code.removeprefix("error: ") if isinstance(stop.code, str) else f"exit status {stop.code}"
            raise TrialFailed(f"its run stopped ({why})") from None
        except Exception as err:
            from agents.errors import first_line
            raise TrialFailed(f"its run failed ({type(err).__name__}: {first_line(err)})") from err
        if not math.isfinite(float(score)):
            raise TrialFailed(f"its score is {score} (no episode finished in the visits that are scored)")
        return score
    return trial
