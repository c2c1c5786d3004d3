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


class LogError(ValueError):
    """A damaged log, in one line naming the file and what is wrong."""


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a CSV log as dicts; a truncated last line (a killed writer) is dropped, not an error. A row with
    more or fewer cells than the header, or a file that is not text, is damage: :class:`LogError`."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise LogError(f"{path}: not a CSV log (its bytes are not text)") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    try:
        for row in reader:
            if None in row or None in row.values():
                extra = row.get(None) or []
                cells = sum(v is not None for k, v in row.items() if k is not None) + len(extra)
                raise LogError(f"{path}: line {reader.line_num} has {cells} cells where the header has "
                               f"{len(reader.fieldnames or [])}")
            rows.append(row)
    except csv.Error as err:
        raise LogError(f"{path}: line {reader.line_num}: {err}") from None
    return rows


def check_columns(path: str | os.PathLike, rows: list[dict[str, str]], ints: Sequence[str] = (),
                  floats: Sequence[str] = ()) -> list[dict[str, str]]:
    """``rows`` of the log at ``path``, after checking that the named columns exist and hold numbers;
    :class:`LogError` names the file, the line and the cell otherwise."""
    for column in (*ints, *floats):
        if rows and column not in rows[0]:
            raise LogError(f"{path}: has no {column!r} column (its columns: {', '.join(rows[0])})")
    for line, row in enumerate(rows, start=2):
        for column, convert in ((c, int) for c in ints):
            try:
                convert(row[column])
            except ValueError:
                raise LogError(f"{path}: line {line}: {column}={row[column]!r} is not an integer") from None
        for column in floats:
            try:
                float(row[column])
            except ValueError:
                raise LogError(f"{path}: line {line}: {column}={row[column]!r} is not a number") from None
    return rows
