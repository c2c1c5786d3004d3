"""The algorithms: SB3's PPO and DQN with device-resident buffers and a tensor rollout, how they are built from a
config, and the vector-env adapter they step. Exports are imported on first use (no import cycles, light imports).
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PPO": "agents.algorithms.factory", "DQN": "agents.algorithms.factory", "make_agent": "agents.algorithms.factory",
    "learning_rate": "agents.algorithms.factory", "PPO_KEYS": "agents.algorithms.factory",
    "DQN_KEYS": "agents.algorithms.factory", "_pick": "agents.algorithms.factory",
    "_optimizer_kwargs": "agents.algorithms.factory",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents.algorithms' has no attribute {name!r}")


__all__ = list(_EXPORTS)
