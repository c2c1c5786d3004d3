"""Plasticity in plain Stable-Baselines3 code (docs/library.md, "Stable-Baselines3").

* :func:`attach` / :class:`PlasticityCallback` — CBP or ReDo on any SB3 model, carried by ``model.save()`` and
  ``PPO.load``/``DQN.load`` (with the optimizer's per-entry records): continuing after a load is exact.
* :class:`MetricsCallback` — plasticity metrics of the policy written to SB3's logger (TensorBoard, CSV).
* :func:`make_curriculum_vec_env` / :class:`CurriculumVecEnv` — a curriculum as SB3's ``VecEnv`` (the task switch
  synchronized across sub-envs, ``steps_per_task`` counted over all of them).
* ``PlasticActorCriticPolicy`` / ``PlasticDQNPolicy`` — SB3 policies whose optimizer leaves the output heads
  unregularized, through SB3's own ``policy_kwargs=dict(optimizer_class=plasticity.AdamO, ...)``.

Everything is imported on first use.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Attachment": "agents.sb3.attachment",
    "PlasticityCallback": "agents.sb3.attachment",
    "attach": "agents.sb3.attachment",
    "detach": "agents.sb3.attachment",
    "MetricsCallback": "agents.sb3.metrics",
    "CurriculumVecEnv": "agents.sb3.curriculum",
    "make_curriculum_vec_env": "agents.sb3.curriculum",
    "PlasticActorCriticPolicy": "agents.policies.plastic",
    "PlasticDQNPolicy": "agents.policies.plastic",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents.sb3' has no attribute {name!r}")


__all__ = list(_EXPORTS)
