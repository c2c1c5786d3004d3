"""The ``plasticity-rl`` command (installed by pyproject): ``plasticity-rl train …`` behaves as
``python scripts/train.py …`` and ``plasticity-rl report …`` as ``python scripts/report.py …``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: plasticity-rl {train,report} [args …]

  plasticity-rl train [-m] [key=value …]     train (a sweep with -m); Hydra overrides, e.g. method=cbp seed=1
  plasticity-rl report DIR [DIR …] [--out D]  the cross-run report of run or sweep directories
  plasticity-rl --version"""
COMMANDS = ("train", "report")


def _version() -> str:
    """The installed distribution's version, as ``plasticity.__version__`` gives it (read here without importing
    torch, so ``--version`` answers at once)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("plasticity-rl")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    if argv[0] == "--version":
        print(f"plasticity-rl {_version()}")
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; valid choices: {', '.join(COMMANDS)}", file=sys.stderr)
        sys.exit(2)
    if command == "train":
        from agents.app.train import main as train_main
        train_main(rest, prog="plasticity-rl train")
    else:
        from agents.app.report import main as report_main
        report_main(rest, prog="plasticity-rl report")


if __name__ == "__main__":
    main()
