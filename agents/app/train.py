"""Training from the command line and from Python, through one Hydra launch path.

Command line (``scripts/train.py`` and ``plasticity-rl train`` run :func:`main`)::

    plasticity-rl train method=cbp seed=1
    plasticity-rl train -m method=adam,adamo seed=0,1,2

Python (a notebook, another program)::

    from agents import train, sweep
    run = train(["method=cbp", "seed=1", "env.steps_per_task=20000"])
    run.run_dir, run.status, run.visits          # the directory, "completed", a per-visit DataFrame
    run.read("metrics")                          # any of the run's CSV logs as a DataFrame
    result = sweep(["method=adam,adamo", "seed=0,1"])   # the -m form: result.runs, result.visits

Both check the overrides first with the command line's checks (:func:`agents.config.cli.check_cli`): a bad key or
value raises :class:`~agents.errors.ConfigError` with the message the command prints, before anything
is written. Both then run Hydra itself, so a run directory made from Python is the same as one made by the
command (``.hydra/``, ``train.log``, config, logs, checkpoints).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from agents.config.cli import check_cli
from agents.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from agents.training.runner import EnvFactory

TASK_NAME = "train"  # Hydra's job name: the log file is train.log, as for scripts/train.py


def _default_make_env() -> EnvFactory:
    from envs import make_curriculum
    return make_curriculum


def run_config(cfg: DictConfig, make_env: EnvFactory | None = None) -> tuple[Path, float]:
    """Train one composed config; its run directory and :func:`~agents.app.objective.plasticity_score`."""
    from hydra.core.hydra_config import HydraConfig

    from agents.app.objective import plasticity_score
    from agents.config.validation import effective_config
    from agents.training.runner import run
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    run_dir = run(effective_config(OmegaConf.to_container(cfg, resolve=True), overrides),
                  make_env=make_env or _default_make_env())
    return run_dir, plasticity_score(run_dir)


def _cli_task(cfg: DictConfig) -> float:
    """The command line's Hydra task: a problem found once the run directory is known is one line, exit 2."""
    from agents.run.status import RunStateError
    try:
        return run_config(cfg)[1]
    except (ConfigError, RunStateError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    """``scripts/train.py`` / ``plasticity-rl train``: check the command line, then let Hydra run it."""
    import hydra

    from agents.app.paths import config_dir
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("--help", "-h") for a in argv):  # ours: the groups and keys a user sets (--hydra-help: Hydra's)
        from agents.app.help import help_text
        print(help_text(config_dir()))
        return
    try:
        conf = config_dir()
        check_cli(argv, conf)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [prog or sys.argv[0], *argv]  # hydra.main reads the command line from sys.argv
    hydra.main(version_base="1.3", config_path=str(conf), config_name="config")(_cli_task)()


# ---------------------------------------------------------------------------------------------- the Python API


@dataclass(frozen=True)
class TrainResult:
    """A run directory and what a notebook wants first from it."""

    run_dir: Path
    status: str | None                       # completed | failed | preempted | interrupted | running | None
    visits: pd.DataFrame                     # one row per task visit (agents.run.summary.VisitSummary fields)
    score: float                             # agents.app.objective.plasticity_score (NaN: no finished episode)
    config: dict[str, Any] = field(repr=False)

    def read(self, log: str) -> pd.DataFrame:
        """One of the run's CSV logs (``metrics``, ``episodes``, ``tasks``, ``eval``, ``plasticity``)."""
        import pandas as pd

        from agents.run.layout import RunDir
        from agents.run.logs import read_csv
        return _numeric(pd.DataFrame(read_csv(RunDir(self.run_dir).log(log))))


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV text → numbers for the columns that are numbers (empty cells → NaN); text columns stay text."""
    import pandas as pd
    for col in frame.columns:
        converted = pd.to_numeric(frame[col].replace("", None), errors="coerce")
        if converted.notna().sum() == (frame[col] != "").sum():
            frame[col] = converted
    return frame


def load_run(run_dir: str | Path) -> TrainResult:
    """A :class:`TrainResult` for an existing run directory (made by the command line or by :func:`train`)."""
    from dataclasses import asdict

    import pandas as pd

    from agents.app.objective import plasticity_score
    from agents.reporting.runs import read_config
    from agents.run.layout import RunDir
    from agents.run.status import read_status
    from agents.run.summary import summarize
    run_dir = Path(run_dir)
    if not RunDir(run_dir).config.is_file():
        raise ValueError(f"no run directory at {run_dir} (it holds no config.yaml)")
    config = read_config(run_dir)  # damaged files: one line naming the file (agents.run.logs.LogError)
    status = read_status(run_dir)
    visits = pd.DataFrame([asdict(v) for v in summarize(run_dir)])
    return TrainResult(run_dir, status and status["status"], visits, plasticity_score(run_dir), config)


@dataclass(frozen=True)
class SweepResult:
    """A multirun: its directory, its runs, and all their visits in one table (with method and seed columns)."""

    sweep_dir: Path
    runs: list[TrainResult]
    best: dict[str, Any] | None = None       # an Optuna search's best_params and best_value

    @property
    def visits(self) -> pd.DataFrame:
        import pandas as pd
        frames = [r.visits.assign(method=r.config["method"]["name"], seed=r.config["seed"], run_dir=str(r.run_dir))
                  for r in self.runs]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@contextmanager
def _caller_hydra_set_aside() -> Iterator[None]:
    """The caller's own Hydra (a notebook or script that initialized it) set aside for the block and restored
    after it: the API composes and runs with its own."""
    from hydra.core.global_hydra import GlobalHydra
    before = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        GlobalHydra.instance().clear()
        if before is not None:
            GlobalHydra.instance().initialize(before)


@contextmanager
def _hydra(conf: Path) -> Iterator[Any]:
    """Hydra as ``hydra.main`` sets it up (search path, job name), restored afterwards."""
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    with _caller_hydra_set_aside():
        yield Hydra.create_main_hydra2(task_name=TASK_NAME, config_search_path=create_config_search_path(str(conf)))


def _sweep_dir(conf: Path, overrides: list[str]) -> str:
    from hydra import compose, initialize_config_dir
    plain = [o for o in overrides if not o.lstrip("+~").startswith("hydra") and "," not in o and "(" not in o]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("config", overrides=[*plain, "run_dir=x"], return_hydra_config=True)
    return str(OmegaConf.select(cfg, "hydra.sweep.dir"))


def _checked(overrides: Sequence[str], config_dir: str | Path | None, multirun: bool) -> tuple[Path, list[str]]:
    from agents.app.paths import config_dir as default_dir
    if isinstance(overrides, str):
        raise TypeError("overrides must be a list of strings, e.g. ['method=cbp', 'seed=1'], not one string")
    overrides = [o for o in overrides if o not in ("-m", "--multirun")]
    conf = Path(config_dir).resolve() if config_dir is not None else default_dir()
    try:
        check_cli([*(["-m"] if multirun else []), *overrides], conf)
    except ConfigError as err:
        if "several values make a sweep" not in str(err):
            raise
        raise ConfigError(err.key, err.value, "several values make a sweep: call sweep([...]) to run one job per "
                          "value (a list value is written [a,b])") from None
    return conf, overrides


def train(overrides: Sequence[str] = (), *, make_env: EnvFactory | None = None,
          config_dir: str | Path | None = None) -> TrainResult:
    """Train one run from command-line style overrides, exactly as ``plasticity-rl train <overrides>`` does.

    :param make_env: the curriculum factory ``(env_cfg, num_envs, seed, device) -> VectorEnv``; default: ``envs``'.
    :param config_dir: a config directory of your own (default: :func:`agents.app.paths.config_dir`).
    :raises ConfigError: a bad override (the command line's one-line message), before anything is written.
    """
    with _caller_hydra_set_aside():
        return _train(overrides, make_env, config_dir)


def _train(overrides: Sequence[str], make_env: EnvFactory | None, config_dir: str | Path | None) -> TrainResult:
    conf, overrides = _checked(overrides, config_dir, multirun=False)

    def task(cfg: DictConfig) -> Path:
        return run_config(cfg, make_env)[0]

    with _hydra(conf) as hydra:
        ret = hydra.run(config_name="config", task_function=task, overrides=[*overrides, "hydra.mode=RUN"])
    return load_run(ret.return_value)  # return_value re-raises what the run raised


def sweep(overrides: Sequence[str] = (), *, make_env: EnvFactory | None = None,
          config_dir: str | Path | None = None) -> SweepResult:
    """Run a multirun (``plasticity-rl train -m <overrides>``): a grid, a preset's arms, or an Optuna search
    (``hydra/sweeper=optuna_coef``); returns every run of the sweep directory."""
    with _caller_hydra_set_aside():
        return _sweep(overrides, make_env, config_dir)


def _sweep(overrides: Sequence[str], make_env: EnvFactory | None, config_dir: str | Path | None) -> SweepResult:
    conf, overrides = _checked(overrides, config_dir, multirun=True)
    if not any(o.startswith("hydra.sweep.dir=") for o in overrides):
        overrides = [*overrides, f"hydra.sweep.dir={_sweep_dir(conf, overrides)}"]
    sweep_dir = Path(next(o for o in overrides if o.startswith("hydra.sweep.dir=")).partition("=")[2])

    def task(cfg: DictConfig) -> float:
        return run_config(cfg, make_env)[1]

    with _hydra(conf) as hydra:
        returns = hydra.multirun(config_name="config", task_function=task,
                                 overrides=[*overrides, "hydra.mode=MULTIRUN"])
    for batch in returns or []:  # the grid sweeper returns its jobs: a failed one re-raises here
        for ret in batch:
            _ = ret.return_value
    return load_sweep(sweep_dir)


def load_sweep(sweep_dir: str | Path) -> SweepResult:
    """A :class:`SweepResult` for an existing sweep directory."""
    from agents.reporting.runs import find_runs
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ValueError(f"load_sweep: {sweep_dir} is {'a file' if sweep_dir.exists() else 'not there'}; give the "
                         "sweep directory (hydra.sweep.dir of the -m command)")
    best_file = sweep_dir / "optimization_results.yaml"
    best = OmegaConf.to_container(OmegaConf.load(best_file)) if best_file.exists() else None
    runs = sorted(find_runs([sweep_dir]), key=_job_number)
    return SweepResult(sweep_dir, [load_run(p) for p in runs], best)


def _job_number(path: Path) -> tuple[int, str]:
    head = path.name.partition("_")[0]
    return (int(head), path.name) if head.isdigit() else (sys.maxsize, path.name)

