"""``status.json`` in a run directory: ``running`` | ``completed`` | ``failed`` | ``preempted`` | ``interrupted``,
with a reason.

Written atomically (temp file + rename), so a reader never sees half a file. A run directory is complete only
when its status says ``completed``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from agents.run.layout import STATUS as STATUS_FILE


@functools.cache
def code_version() -> str:
    """The code that writes the run: ``<git commit>`` (``+dirty`` with uncommitted changes to tracked files) of the
    checkout this package runs from, else ``plasticity-rl <version>`` (an install from a wheel)."""
    root = Path(__file__).resolve().parents[2]
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        commit = git("rev-parse", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version
        try:
            return f"plasticity-rl {version('plasticity-rl')}"
        except PackageNotFoundError:
            return "unknown"


def write_status(run_dir: str | os.PathLike, status: str, **info: Any) -> None:
    """Write ``status.json`` atomically, with the code version that wrote it (:func:`code_version`)."""
    path = Path(run_dir) / STATUS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"status": status, **info, "code": code_version(),
                               "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
    os.replace(tmp, path)


def read_status(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(run_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class RunStateError(Exception):
    """A run directory that cannot be used as it is (in use, damaged logs, no intact checkpoint): one line, exit 2."""
