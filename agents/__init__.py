"""Stable-Baselines3 PPO and DQN with plasticity methods as plugins, and the run loop they share.

Submodules are imported on first use, so ``import agents.config.validation`` stays light. ``train``, ``sweep``,
``load_run`` and ``report`` are the Python API of the command line (agents/app: ``train(["method=cbp"])``,
``report(runs, out)``); the report itself is built by :mod:`agents.reporting`.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DQN": "agents.algorithms.factory",
    "PPO": "agents.algorithms.factory",
    "make_agent": "agents.algorithms.factory",
    "Method": "agents.methods",
    "build_method": "agents.methods",
    "train": "agents.app.train",
    "sweep": "agents.app.train",
    "load_run": "agents.app.train",
    "load_sweep": "agents.app.train",
    "report": "agents.app.report",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")


__all__ = list(_EXPORTS)
