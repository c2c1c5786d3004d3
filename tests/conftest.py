import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)

from agents.config.store import register  # noqa: E402  (after the path is set)

register()  # the schema nodes the conf/ files build on, before any test composes a config


def run_train(*overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``scripts/train.py`` with Hydra overrides in a subprocess, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), *overrides], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def lock_held_elsewhere(directory: Path) -> Iterator[int]:
    """``directory``'s run lock (agents.run.lock) held by another process for the block; yields its pid."""
    code = ("import time; from pathlib import Path; from agents.run.lock import run_dir_lock\n"
            f"with run_dir_lock(Path({str(directory)!r})):\n print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def cli_in_process(argv: list[str], capsys) -> tuple[int, str]:
    """``scripts/train.py <argv>`` through its entry point in this process: (exit status, stderr)."""
    from agents.app.train import main
    saved = list(sys.argv)
    try:
        main(argv, prog=str(ROOT / "scripts" / "train.py"))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
    return code, capsys.readouterr().err


SHARED_FIXTURES = ("tiny_run", "reference", "report", "sweep", "digits")  # module-scoped, each a run or a build


def pytest_collection_modifyitems(items):
    """The tests of a module that share an expensive module-scoped fixture go to one xdist worker (the Makefile's
    ``--dist loadgroup``), so the fixture is built once rather than once per worker."""
    for item in items:
        for name in SHARED_FIXTURES:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}:{name}"))


@pytest.fixture
def train():
    return run_train


@pytest.fixture(params=[pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                      reason="needs a CUDA GPU")),
                        pytest.param("cpu", id="cpu-sync-free")])
def gpu_device(request, monkeypatch):
    """The device of a GPU test: CUDA where there is one, and always the CPU with the GPU code paths forced
    (``PLASTICITY_SYNC_FREE=1``, plasticity/sync.py), so every GPU-only branch also runs here."""
    if request.param == "cpu":
        monkeypatch.setenv("PLASTICITY_SYNC_FREE", "1")
    return request.param
