"""``status.json`` in a run directory: ``running`` | ``completed`` | ``failed`` | ``preempted`` | ``interrupted``,
with a reason.

Written atomically (temp file + rename), so a reader never sees half a file. A run directory is complete only
when its status says ``completed``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"


def write_status(run_dir: str | os.PathLike, status: str, **info: Any) -> None:
    path = Path(run_dir) / STATUS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"status": status, **info, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
    os.replace(tmp, path)


def read_status(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(run_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class RunStateError(Exception):
    """A run directory that cannot be used as it is (in use, damaged logs, no intact checkpoint): one line, exit 2."""
