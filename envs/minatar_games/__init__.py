"""Batched MinAtar games: numpy kernels stepping all sub-envs at once, bit-identical to ``minatar``.

Breakout and SpaceInvaders have vectorized kernels; the other games use the reference game objects in a loop
(:class:`LoopGame`), still without per-env wrapper layers. A numpy kernel has a fixed cost per step, so it is
used from the batch size where it overtakes the loop (measured on a 2-core CPU: Breakout from 16 envs,
SpaceInvaders from 4).
"""

from __future__ import annotations

from envs.minatar_games.base import BatchedGame
from envs.minatar_games.breakout import BreakoutBatch
from envs.minatar_games.loop import LoopGame
from envs.minatar_games.space_invaders import SpaceInvadersBatch

# game → (kernel, smallest batch for which it beats the loop)
VECTORIZED: dict[str, tuple[type[BatchedGame], int]] = {
    "breakout": (BreakoutBatch, 16),
    "space_invaders": (SpaceInvadersBatch, 4),
}


def make_batched_game(game: str, num_envs: int, ramping: bool, vectorized: bool | None = None) -> BatchedGame:
    """The fastest kernel for ``num_envs`` (``vectorized=True``/``False`` forces the choice)."""
    kernel, min_envs = VECTORIZED.get(game, (None, 0))
    use_kernel = kernel is not None and (num_envs >= min_envs if vectorized is None else vectorized)
    return kernel(num_envs, ramping) if use_kernel else LoopGame(game, num_envs, ramping)


__all__ = ["VECTORIZED", "BatchedGame", "LoopGame", "make_batched_game"]
