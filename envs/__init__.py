"""Non-stationary environment curricula (gymnasium-native; no Stable-Baselines3 import).

Importing the package registers the gymnasium ids (``PlasticityRL/*-v0``); everything else is imported on
first use, so ``import envs.names`` stays light (the config validation imports it before any env is built).
"""

from importlib import import_module
from typing import Any

from envs.registration import register_envs

_EXPORTS = {
    "CartPoleVectorEnv": "envs.classic",
    "CurriculumEnv": "envs.curriculum",
    "CurriculumVectorEnv": "envs.curriculum",
    "Schedule": "envs.curriculum",
    "Task": "envs.curriculum",
    "Visit": "envs.curriculum",
    "switch_step": "envs.curriculum",
    "curriculum_length": "envs.factory",
    "make_curriculum": "envs.factory",
    "GAMES": "envs.minatar",
    "MinAtarEnv": "envs.minatar",
    "MinAtarVectorEnv": "envs.minatar_vector",
    "PRESETS": "envs.presets",
    "preset": "envs.presets",
    "Transform": "envs.transforms",
    "TransformedEnv": "envs.transforms",
    "TransformedVectorEnv": "envs.transforms",
    "build_transform": "envs.transforms",
}

register_envs()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'envs' has no attribute {name!r}")


__all__ = [*_EXPORTS, "register_envs"]
