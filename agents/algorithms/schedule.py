"""DQN's replay ratio as SB3's training schedule (light: the config validation uses it too)."""

from __future__ import annotations


def replay_schedule(replay_ratio: float, n_envs: int) -> tuple[int, int]:
    """``(train_freq in vector steps, gradient_steps)`` giving ``replay_ratio`` gradient updates per env step with
    ``n_envs`` envs: ``u = replay_ratio · n_envs`` updates per vector step, as ``u`` updates every vector step when
    ``u ≥ 1`` and one update every ``1/u`` vector steps otherwise. A one-line ``ValueError`` when neither is whole."""
    if not replay_ratio > 0:
        raise ValueError(f"agent.replay_ratio={replay_ratio!r} must be > 0")
    updates = replay_ratio * n_envs  # per vector step
    if updates >= 1 and abs(updates - round(updates)) < 1e-9:
        return 1, round(updates)
    if updates < 1 and abs(1 / updates - round(1 / updates)) < 1e-9:
        return round(1 / updates), 1
    raise ValueError(f"agent.replay_ratio={replay_ratio!r} × n_envs={n_envs} = {updates:g} gradient updates per "
                     "vector step; it must be a whole number or 1/k (e.g. replay_ratio = 1/n_envs)")
