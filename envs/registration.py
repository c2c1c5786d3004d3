"""Gymnasium ids for the main curricula: ``gym.make("PlasticityRL/MinAtarAdamO-v0")`` (one env) and
``gym.make_vec("PlasticityRL/MinAtarAdamO-v0", num_envs=64, vectorization_mode="vector_entry_point")`` (the
batched curriculum). Keyword arguments override the preset (``steps_per_task=...``, ``seed=...``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

IDS = {
    "PlasticityRL/MinAtarSwitch-v0": "minatar_switch",
    "PlasticityRL/MinAtarAdamO-v0": "minatar_adamo",
    "PlasticityRL/MinAtarCChain-v0": "minatar_cchain",
    "PlasticityRL/BreakoutActionPermutation-v0": "breakout_action_perm",
    "PlasticityRL/CartPoleDynamics-v0": "cartpole_dynamics",
    "PlasticityRL/ALESwitch-v0": "ale_abbas",
    "PlasticityRL/SlipperyAnt-v0": "slippery_ant",
}


def make_env(preset_name: str, seed: int = 0, **overrides: Any):
    from envs.curriculum import CurriculumEnv
    from envs.factory import schedule_from_spec, tasks_from_spec
    from envs.presets import preset
    spec = preset(preset_name, **overrides)
    if spec.get("kind", "minatar") == "minatar":
        spec["backend"] = "minatar"  # a single gymnasium env hands numpy arrays
    return CurriculumEnv(tasks_from_spec(spec), schedule_from_spec(spec, seed), seed)


def make_vector_env(preset_name: str, num_envs: int = 1, seed: int = 0, **overrides: Any):
    from envs.factory import make_curriculum
    from envs.presets import preset
    return make_curriculum(preset(preset_name, **overrides), num_envs, seed)


def register_envs() -> None:
    """Register the ids (string entry points: nothing heavy is imported until an env is made)."""
    for env_id, name in IDS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="envs.registration:make_env",
                         vector_entry_point="envs.registration:make_vector_env", kwargs={"preset_name": name})
