"""Stable-Baselines3 PPO and DQN with plasticity methods as plugins, and the run loop they share."""

from agents.algorithms import DQN, PPO, make_agent
from agents.methods import Method, build_method
from agents.runner import train

__all__ = ["DQN", "PPO", "Method", "build_method", "make_agent", "train"]
