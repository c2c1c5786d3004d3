"""Run-directory logs: append-only CSV files, flushed as rows are produced.

* ``metrics.csv`` — one row every ``log_every`` env steps and at every task switch (rows never mix tasks),
  written by :class:`agents.run.metrics_writer.MetricsCSV` (an SB3 ``KVWriter``, kept apart so that reading
  logs — the report — never imports SB3 and torch).
* ``episodes.csv`` — one row per finished episode (step, task, return, length).
* ``tasks.csv`` — one row per task visit (the step it began at).

A row is written with one ``write`` call and flushed, so a killed run leaves at most a partial last line;
:func:`read_csv` skips such a line.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

# CSV column → SB3 logger key. The same columns for every agent; a value an agent does not have is empty.
METRIC_COLUMNS: dict[str, str] = {
    "step": "time/total_timesteps",
    "time_s": "time/elapsed_s",
    "sps": "time/sps",
    "task_visit": "task/visit",
    "task_id": "task/id",
    "task_name": "task/name",
    "task_cycle": "task/cycle",
    "episodes": "rollout/episodes",
    "ep_return_mean": "rollout/ep_return_mean",
    "ep_return_std": "rollout/ep_return_std",
    "ep_return_min": "rollout/ep_return_min",
    "ep_return_max": "rollout/ep_return_max",
    "ep_length_mean": "rollout/ep_length_mean",
    "learning_rate": "train/learning_rate",
    "n_updates": "train/n_updates",
    "loss": "train/loss",
    "policy_loss": "train/policy_gradient_loss",
    "value_loss": "train/value_loss",
    "entropy_loss": "train/entropy_loss",
    "approx_kl": "train/approx_kl",
    "clip_fraction": "train/clip_fraction",
    "explained_variance": "train/explained_variance",
    "exploration_rate": "rollout/exploration_rate",
}
EPISODE_COLUMNS = ("step", "task_visit", "task_id", "task_name", "task_cycle", "return", "length")
TASK_COLUMNS = ("task_visit", "task_id", "task_name", "task_cycle", "start_step")


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


RowSink = Callable[[str, dict[str, Any]], None]  # (log name, e.g. "metrics", row) → mirrored elsewhere (W&B)
_SINKS: dict[Path, list[RowSink]] = {}


def add_sink(run_dir: str | os.PathLike, sink: RowSink) -> None:
    """Hand every row written to a CSV log of ``run_dir`` (from now on) to ``sink`` as well."""
    _SINKS.setdefault(Path(run_dir).resolve(), []).append(sink)


def remove_sink(run_dir: str | os.PathLike, sink: RowSink) -> None:
    sinks = _SINKS.get(Path(run_dir).resolve(), [])
    if sink in sinks:
        sinks.remove(sink)


class CSVLog:
    """An append-only CSV file with a fixed header; each row is written whole and flushed, then handed to the
    sinks of its directory (:func:`add_sink`) as ``sink(log name, row)`` — the file's stem and the row's values."""

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = tuple(columns)
        self._dir = self.path.parent.resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", newline="")  # noqa: SIM115 - lives as long as the run
        if new:
            self._write(self.columns)

    def _write(self, values: Iterable[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf).writerow([_format(v) for v in values])
        self._file.write(buf.getvalue())
        self._file.flush()

    def append(self, row: dict[str, Any]) -> None:
        self._write(row.get(c) for c in self.columns)
        for sink in _SINKS.get(self._dir, ()):
            sink(self.path.stem, {c: row.get(c) for c in self.columns})

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a CSV log as dicts; a truncated last line (a killed writer) is dropped, not an error."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.DictReader(io.StringIO(text)))
    return [r for r in rows if None not in r and None not in r.values()]
