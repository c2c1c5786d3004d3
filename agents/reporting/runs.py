"""Loading run directories and the per-visit table with plasticity ratios.

A run directory is any directory holding ``config.yaml`` and ``tasks.csv`` (what ``scripts/train.py`` writes, or
its compact copy: :mod:`agents.reporting.compact`); a Hydra multirun directory is searched recursively. Runs are
grouped into **curricula** by ``(agent, env)`` and compared by ``method`` over seeds.

**Plasticity ratio** of visit ``k`` (Dohare et al. 2024; Abbas et al. 2023): ``AUC(return on visit k) / AUC(return
of a fresh agent on visit k)``, the reference being runs of the same curriculum with ``method=reset_all`` (the
network and the optimizer re-initialized at every switch: a fresh agent per task), matched by seed where the
reference has that seed, else averaged over the reference seeds. The ratio assumes positive returns.
``final_ratio`` does the same with the visits' final returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from agents.run.layout import CONFIG, RunDir
from agents.run.logs import LogError, read_csv
from agents.run.status import read_status
from agents.run.summary import VisitSummary, summarize


@dataclass
class RunData:
    path: Path
    agent: str
    env: str
    method: str
    seed: int
    visits: list[VisitSummary]
    episodes: list[dict[str, str]]  # step, return, task_visit (and count: episodes a row stands for; default 1)
    plasticity: list[dict[str, str]] = field(default_factory=list)
    evals: list[dict[str, str]] = field(default_factory=list)
    status: str | None = None  # status.json: completed | running | failed | preempted | interrupted (None: none)
    setting: dict = field(default_factory=dict, repr=False)  # what runs compared with each other must share
    label: str = ""  # report(mixed=True): which of several settings of one curriculum this run has

    @property
    def curriculum(self) -> str:
        return f"{self.agent}/{self.env}{self.label}"


def comparable_setting(cfg: dict) -> dict:
    """What runs of one curriculum must share to be compared method against method: the curriculum (``env``), the
    run's length and the agent's hyper-parameters (its network aside: a method may bring its own activation)."""
    agent = {k: v for k, v in (cfg.get("agent") or {}).items() if k != "network"}
    return {"env": cfg.get("env"), "total_timesteps": cfg.get("total_timesteps"), "agent": agent}


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _differences(x, y, f"{prefix}{k}.")
        elif x != y:
            out.append(f"{prefix}{k}")
    return out


def check_comparable(runs: list[RunData], mixed: bool = False) -> None:
    """Refuse, in one line, runs of one curriculum that differ in anything but method and seed (another number of
    steps per task, other agent settings …) or that repeat a method and seed; with ``mixed``, label each setting
    instead (``ppo/minatar_switch #2``), so that only runs of one setting are compared."""
    for curriculum in sorted({r.curriculum for r in runs}):
        mine = [r for r in runs if r.curriculum == curriculum]
        settings: list[dict] = []
        for run in mine:
            if run.setting not in settings:
                settings.append(run.setting)
        if len(settings) > 1 and not mixed:
            first, other = (next(r for r in mine if r.setting == s) for s in settings[:2])
            raise ValueError(f"{other.path} and {first.path} are runs of {curriculum} with different settings "
                             f"(differ in: {', '.join(_differences(settings[0], settings[1])[:5])}); report them "
                             "separately, or pass --mixed (mixed=True) to label each setting")
        if len(settings) > 1:
            for run in mine:
                run.label = f" #{settings.index(run.setting) + 1}"
        seen: dict[tuple[str, str, int], Path] = {}
        for run in mine:
            key = (run.curriculum, run.method, run.seed)
            if key in seen:
                raise ValueError(f"{run.path} and {seen[key]} are both {run.method} seed {run.seed} of "
                                 f"{run.curriculum}: the same run twice would weigh it double; report one of them")
            seen[key] = run.path


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for root in map(Path, paths):
        if not root.exists():
            raise ValueError(f"no such run directory: {root}")
        candidates = [root] if RunDir(root).config.exists() else sorted(p.parent for p in root.rglob(CONFIG))
        found.extend(c for c in candidates if RunDir(c).log("tasks").exists() and c not in found)
    return found


def read_config(path: Path) -> dict:
    """A run's ``config.yaml`` as data, with what the report and the API need of it (agent, env and method names,
    the seed); :class:`~agents.run.logs.LogError` in one line naming the file otherwise (empty, cut, not YAML)."""
    from agents.errors import first_line
    file = RunDir(path).config
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(file))
    except Exception as err:  # yaml's scanner and parser errors, a directory, bytes that are not text
        raise LogError(f"{file}: cannot be read ({type(err).__name__}: {first_line(err)})") from None
    if not isinstance(cfg, dict) or not cfg:
        raise LogError(f"{file}: holds no config (the file is empty or not a mapping)")
    for key in ("agent", "env", "method"):
        if not isinstance(cfg.get(key), dict) or "name" not in cfg[key]:
            raise LogError(f"{file}: has no {key}.name (a cut or foreign config)")
    if not isinstance(cfg.get("seed"), int) or isinstance(cfg.get("seed"), bool):
        raise LogError(f"{file}: seed={cfg.get('seed')!r} is not an integer (a cut or foreign config)")
    return cfg


def load_run(path: Path) -> RunData:
    """A full run directory, or a compact copy (its visits from ``visit_summary.csv``, its episodes the weighted
    windows of ``returns.csv``)."""
    from agents.reporting.compact import is_compact, read_returns, read_visit_summary
    cfg = read_config(path)
    compact = is_compact(path)
    return RunData(path=path, agent=str(cfg["agent"]["name"]), env=str(cfg["env"]["name"]),
                   method=str(cfg["method"]["name"]), seed=int(cfg["seed"]),
                   visits=read_visit_summary(path) if compact else summarize(path),
                   episodes=read_returns(path) if compact else read_csv(RunDir(path).log("episodes")),
                   plasticity=read_csv(RunDir(path).log("plasticity")), evals=read_csv(RunDir(path).log("eval")),
                   status=(read_status(path) or {}).get("status"), setting=comparable_setting(cfg))


VISIT_COLUMNS = ("curriculum", "method", "seed", "visit", "task", "cycle", "steps", "episodes", "mean_return",
                 "final_return", "auc", "reference_auc", "plasticity_ratio", "final_ratio")


def _ratio(value: float | None, ref: float | None) -> float | None:
    return value / ref if value is not None and ref not in (None, 0) else None


def _reference(refs: list[RunData], seed: int, visit: int, attr: str) -> float | None:
    same = [r for r in refs if r.seed == seed] or refs
    values = [getattr(r.visits[visit], attr) for r in same if visit < len(r.visits)]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def visit_table(runs: list[RunData], reference: str = "reset_all") -> list[dict[str, object]]:
    rows = []
    for run in runs:
        refs = [r for r in runs if r.curriculum == run.curriculum and r.method == reference]
        for v in run.visits:
            ref_auc = _reference(refs, run.seed, v.visit, "auc") if refs else None
            ref_final = _reference(refs, run.seed, v.visit, "final_return") if refs else None
            rows.append({"curriculum": run.curriculum, "method": run.method, "seed": run.seed, "visit": v.visit,
                         "task": v.task, "cycle": v.cycle, "steps": v.steps, "episodes": v.episodes,
                         "mean_return": v.mean_return, "final_return": v.final_return, "auc": v.auc,
                         "reference_auc": ref_auc, "plasticity_ratio": _ratio(v.auc, ref_auc),
                         "final_ratio": _ratio(v.final_return, ref_final)})
    return rows
