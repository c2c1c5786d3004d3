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


def make_env(preset_name: str, seed: int = 0, render_mode: str | None = None, num_envs: int | None = None,
             **overrides: Any):
    """One sub-env of the curriculum ``preset_name`` (``gym.make(id)``), numpy arrays in and out.

    :param seed: the curriculum's seed: its task order and every sub-env's transform draws (channel or action
        permutations) come from it, so sub-envs made with the same ``seed`` switch to the same task variants.
        ``reset(seed=s)`` seeds the games only (s shifts the game seeds): vectorizers seed sub-env ``i`` with
        ``s + i``.
    :param num_envs: how many such sub-envs run side by side (SB3's ``make_vec_env``, gymnasium's sync/async
        vectorization): each step advances the global step by ``num_envs``, so ``steps_per_task`` counts env steps
        summed over the sub-envs, as in the batched curriculum; they step in lockstep, so they switch together.
        ``None`` (default) for one env alone. A vectorizer that passes ``render_mode`` (SB3's ``make_vec_env``)
        must state it: ``env_kwargs=dict(num_envs=N)`` (N = ``n_envs``, or 1 for a per-env count).
    :param render_mode: accepted for vectorizers that pass it; nothing is rendered.
    """
    from envs.curriculum import AloneCurriculumEnv, CurriculumEnv
    from envs.factory import schedule_from_spec, tasks_from_spec
    from envs.presets import preset
    if num_envs is None and render_mode is not None:
        raise ValueError(f"{preset_name}: made by a vectorizer (render_mode={render_mode!r}, e.g. SB3's make_vec_env) "
                         "without num_envs: steps_per_task would count each sub-env's own steps; pass "
                         "env_kwargs=dict(num_envs=<n_envs>) (or num_envs=1 for a per-env count), or use "
                         "agents.sb3.make_curriculum_vec_env")
    if num_envs is not None and (isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1):
        raise ValueError(f"{preset_name}: num_envs={num_envs!r} must be an int >= 1")
    spec = preset(preset_name, **overrides)
    if spec.get("kind", "minatar") == "minatar":
        spec["backend"] = "minatar"  # a single gymnasium env hands numpy arrays
    schedule = schedule_from_spec(spec, seed)
    if (num_envs or 1) > 1 and schedule.switch == "episode_end":
        raise ValueError(f"{preset_name}: switch=episode_end with num_envs={num_envs}: separate sub-envs cannot wait "
                         "for each other's episode end; use the batched curriculum (gym.make_vec(..., "
                         "vectorization_mode='vector_entry_point') or agents.sb3.make_curriculum_vec_env)")
    if num_envs is None:  # one env alone; refused at its first step if it turns out to have live siblings
        return AloneCurriculumEnv(tasks_from_spec(spec), schedule, seed, reset_seeds_games=True,
                                  key=(preset_name, seed, repr(sorted(overrides.items()))))
    return CurriculumEnv(tasks_from_spec(spec), schedule, seed, global_num_envs=num_envs, reset_seeds_games=True)


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
