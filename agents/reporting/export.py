"""Export the compact copies (:mod:`agents.reporting.compact`) of every finished run of a sweep."""

from __future__ import annotations

from pathlib import Path

from agents.reporting.compact import SUMMARY_FILE, compact_run
from agents.reporting.runs import find_runs
from agents.run.status import read_status


def compact_runs(sweep: str | Path, dest: str | Path, bins: int = 40) -> list[Path]:
    """Export every *completed* run under ``sweep`` to ``dest/<its directory name>``, skipping runs whose compact
    copy already says completed; returns the directories written now. Unfinished runs are never exported (a
    half-written run must not look complete)."""
    written = []
    for run in find_runs([sweep]):
        if (read_status(run) or {}).get("status") != "completed":
            continue
        target = Path(dest) / run.name
        if (read_status(target) or {}).get("status") == "completed" and (target / SUMMARY_FILE).exists():
            continue
        written.append(compact_run(run, target, bins))
    return written
