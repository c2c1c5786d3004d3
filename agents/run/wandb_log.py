"""Weights & Biases as an optional mirror of a run's logs (``wandb.enabled=true``; ``pip install
'plasticity-rl[wandb]'``). The CSV files and TensorBoard stay the source of truth: W&B gets a copy of each row as
it is written.

What a W&B run holds (x-axis ``env_step`` for every chart):

* ``config`` — the run's resolved config (so W&B can group by ``method.name``, ``seed``, any key);
* ``train/<column>`` — every ``metrics.csv`` row (returns, losses, sps …);
* ``task/visit``, ``task/id``, ``task/cycle`` — one point per task switch (``tasks.csv``), step-aligned markers;
* ``eval/<task>/<column>`` — ``eval.csv`` (each task of the curriculum at every evaluation);
* ``plasticity/<metric>`` — ``plasticity.csv`` (dormant fraction, ranks, isometry gap … per layer).

Naming: ``group`` = the sweep directory's name for a multirun job (else ``<agent>-<env>``), ``name`` =
``<method>-s<seed>``, ``job_type`` = the method, so W&B's grouping by ``job_type`` (or ``config.method.name``)
reproduces the report's per-method curves. ``<run_dir>/wandb.json`` keeps the W&B run id: a resumed run continues
the same W&B run. No row is lost or sent twice across a kill: the resumed run reads how many rows of each log W&B
saved from W&B's own record of the run (:mod:`agents.run.wandb_record`; a row handed to W&B is saved later, by its
service process, which a kill of the process group takes down too), sends the CSV rows after those before training
goes on, and skips the rows it writes again that W&B already has. Where W&B left no record (``mode=disabled``, a
deleted ``wandb/`` folder) the count of rows handed over, kept in ``wandb.json``, stands in for it.
``WANDB_MODE=offline`` (or ``wandb.mode=offline``) writes the W&B files under
``<run_dir>/wandb/`` with no network; ``wandb sync`` uploads them later.
"""

from __future__ import annotations

import json
import math
import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.errors import first_line
from agents.run.layout import WANDB_STATE as STATE_FILE
from agents.run.logs import read_csv
from agents.run.wandb_record import UnreadableRecord, saved_rows

MODES = ("online", "offline", "disabled")
EXTRA_HINT = "pip install 'plasticity-rl[wandb]'"
STEP_COLUMN = {"metrics": "step", "tasks": "start_step", "eval": "step", "plasticity": "step"}


def wandb_missing() -> bool:
    """True when the ``wandb`` package is not importable."""
    import importlib.util
    return importlib.util.find_spec("wandb") is None


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def run_names(cfg: Mapping[str, Any], run_dir: Path) -> dict[str, str]:
    """W&B ``group``, ``name`` and ``job_type`` of a run (config values win over the defaults)."""
    options = dict(cfg.get("wandb") or {})
    method, seed = str(cfg["method"]["name"]), cfg["seed"]
    in_sweep = (run_dir.parent / "multirun.yaml").exists()  # Hydra writes it into the sweep directory
    curriculum = f"{cfg['agent']['name']}-{cfg['env']['name']}"
    group = options.get("group") or (run_dir.parent.name if in_sweep else curriculum)
    return {"group": str(group), "name": str(options.get("name") or f"{method}-s{seed}"), "job_type": method}


def row_data(log: str, row: Mapping[str, Any]) -> dict[str, float]:
    """The W&B values of one CSV row (numbers only; the x-axis ``env_step`` included)."""
    step = _number(row.get(STEP_COLUMN[log]))
    data: dict[str, float] = {}
    if log == "metrics":
        data = {f"train/{k}": v for k, v in ((k, _number(x)) for k, x in row.items() if k != "step") if v is not None}
    elif log == "tasks":
        data = {f"task/{k.removeprefix('task_')}": v for k in ("task_visit", "task_id", "task_cycle")
                if (v := _number(row.get(k))) is not None}
    elif log == "eval":
        task = row.get("eval_task_name")
        data = {f"eval/{task}/{k}": v for k in ("return_mean", "return_std", "length_mean", "episodes")
                if (v := _number(row.get(k))) is not None}
    elif log == "plasticity" and (v := _number(row.get("value"))) is not None:
        data = {f"plasticity/{row.get('metric')}": v}
    if data and step is not None:
        data["env_step"] = step
    return data


class WandbLog:
    """Sends the rows of a run's CSV logs to a W&B run (a :data:`agents.run.logs.RowSink`)."""

    def __init__(self, cfg: Mapping[str, Any], run_dir: Path):
        if wandb_missing():
            raise ImportError(f"wandb.enabled=true needs the wandb package: {EXTRA_HINT}")
        import wandb
        self.run_dir = Path(run_dir)
        self._state_path = self.run_dir / STATE_FILE
        state = json.loads(self._state_path.read_text()) if self._state_path.exists() else {}
        self._state = {"id": state.get("id") or uuid.uuid4().hex[:8], "handed": dict(state.get("handed") or {})}
        self._saved = self._saved_rows(self._state["handed"])  # rows W&B has from earlier processes, per log
        self._seen: dict[str, int] = {}  # rows of each log met so far, the CSV's rows of a resumed run included
        self._save_state()  # the id first: a process killed inside wandb.init leaves it for the next one
        options = dict(cfg.get("wandb") or {})
        self.run = wandb.init(id=self._state["id"], resume="allow", dir=str(self.run_dir),
                              project=options.get("project") or "plasticity-rl", entity=options.get("entity"),
                              tags=list(options.get("tags") or []), mode=options.get("mode") or None,
                              config=dict(cfg), **run_names(cfg, self.run_dir))
        self.run.define_metric("env_step")
        self.run.define_metric("*", step_metric="env_step")
        self.broken = False  # set after the first failure: nothing more is sent (one warning line)
        self._send_unsaved_rows()

    def _saved_rows(self, handed: dict[str, int]) -> dict[str, int]:
        """Per log, how many rows W&B saved in earlier sessions of this run (module docstring)."""
        try:
            saved = saved_rows(self.run_dir / "wandb", self._state["id"])
        except UnreadableRecord as err:
            print(f"warning: W&B's record of this run could not be read ({first_line(err)}); rows are sent after "
                  "the last row handed to W&B, so rows W&B had not saved when the last process died stay missing",
                  file=sys.stderr, flush=True)
            saved = None
        return dict(handed) if saved is None else saved

    def _send_unsaved_rows(self) -> None:
        """The rows already in the CSV logs (a resumed run's, up to its checkpoint) that W&B has not saved."""
        for log in STEP_COLUMN:
            for row in read_csv(self.run_dir / f"{log}.csv"):
                self(log, row)

    def _save_state(self) -> None:
        tmp = self._state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._state) + "\n")
        os.replace(tmp, self._state_path)

    def __call__(self, log: str, row: Mapping[str, Any]) -> None:
        if log not in STEP_COLUMN or self.broken:
            return  # episodes.csv is summarized in the metrics rows; a broken mirror sends nothing more
        data = row_data(log, row)
        if "env_step" not in data:
            return
        index = self._seen[log] = self._seen.get(log, 0) + 1
        if index <= self._saved.get(log, 0):
            return  # W&B saved this row from an earlier process of the run
        try:
            self.run.log(data)
        except Exception as err:  # the mirror stops; training and its CSV logs do not
            self._stop(err, "stopped sending")
            return
        self._state["handed"][log] = index
        self._save_state()

    def finish(self) -> None:
        try:
            self.run.finish()
        except Exception as err:
            self._stop(err, "did not finish")

    def _stop(self, err: Exception, what: str) -> None:
        if self.broken:
            return  # one warning per run
        self.broken = True
        print(f"warning: W&B {what} ({type(err).__name__}: {first_line(err)}); training goes on, the logs are in "
              f"{self.run_dir}", file=sys.stderr, flush=True)


class WandbUploadError(RuntimeError):
    """The report is written but W&B refused it (one line: the cause's first line)."""


def log_report(out_dir: Path, group: str, project: str = "plasticity-rl", mode: str | None = None) -> str:
    """Upload a report's PNG plots and tables as one W&B run (``job_type=report``) in ``group``; returns its id.

    :raises WandbUploadError: W&B did not start or refused a file (no API key, no network …), one line.
    """
    if wandb_missing():
        raise ImportError(f"--wandb needs the wandb package: {EXTRA_HINT}")
    import wandb
    try:
        run = wandb.init(project=project, group=group, job_type="report", name=f"report-{group}", dir=str(out_dir),
                         mode=mode or None)
        for png in sorted(Path(out_dir).glob("*.png")):
            run.log({f"report/{png.stem}": wandb.Image(str(png))})
        for table in ("visits", "aggregate"):
            path = Path(out_dir) / f"{table}.csv"
            if path.exists():
                import pandas as pd
                run.log({f"report/{table}": wandb.Table(dataframe=pd.read_csv(path))})
        run_id = run.id
        run.finish()
    except Exception as err:
        raise WandbUploadError(f"the report is written to {out_dir}, but the W&B upload failed "
                               f"({type(err).__name__}: {first_line(err)})") from err
    return run_id
