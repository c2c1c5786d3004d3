"""One process per run directory: an advisory ``flock`` on ``<run_dir>/.lock``, released when the process ends.

A second process on the same directory (two launches of one command, a requeued job whose first copy still
runs) would interleave rows into the same logs and race on checkpoints; it gets :class:`RunStateError` (one
line, exit 2) naming the holder's pid. The lock dies with its process — ``kill -9`` included — so a stale lock
file never blocks a resume. Where ``fcntl`` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from agents.run.status import RunStateError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from agents.run.layout import LOCK as LOCK_FILE


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock for the ``with`` block."""
    if fcntl is None:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RunStateError(f"{run_dir} is in use by another process (pid {holder}): wait for it to end, or "
                                "use another run directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
