"""Non-stationary environment curricula (gymnasium-native; no Stable-Baselines3 import)."""

from envs.curriculum import CurriculumVectorEnv, Schedule, Task, Transform, Visit, switch_step
from envs.factory import curriculum_length, make_curriculum
from envs.minatar import GAMES, MinAtarEnv
from envs.minatar_vector import MinAtarVectorEnv

__all__ = [
    "GAMES",
    "CurriculumVectorEnv",
    "MinAtarEnv",
    "MinAtarVectorEnv",
    "Schedule",
    "Task",
    "Transform",
    "Visit",
    "curriculum_length",
    "make_curriculum",
    "switch_step",
]
