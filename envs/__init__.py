"""Non-stationary environment curricula (gymnasium-native; no Stable-Baselines3 import)."""

from envs.classic import CartPoleVectorEnv
from envs.curriculum import CurriculumEnv, CurriculumVectorEnv, Schedule, Task, Visit, switch_step
from envs.factory import curriculum_length, make_curriculum
from envs.minatar import GAMES, MinAtarEnv
from envs.minatar_vector import MinAtarVectorEnv
from envs.presets import PRESETS, preset
from envs.registration import register_envs
from envs.transforms import Transform, TransformedVectorEnv, build_transform

register_envs()

__all__ = [
    "GAMES",
    "PRESETS",
    "CartPoleVectorEnv",
    "CurriculumEnv",
    "CurriculumVectorEnv",
    "MinAtarEnv",
    "MinAtarVectorEnv",
    "Schedule",
    "Task",
    "Transform",
    "TransformedVectorEnv",
    "Visit",
    "build_transform",
    "curriculum_length",
    "make_curriculum",
    "preset",
    "register_envs",
    "switch_step",
]
