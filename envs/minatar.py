"""MinAtar games with one observation and action space for all five games.

Conventions (documented choices; see ``docs/envs.md``):

* **Observations** are ``bool`` arrays of shape ``(10, 10, 10)`` (HWC), MinAtar's own layout. A game with
  ``C < 10`` channels puts its channel ``c`` at channel ``c`` and leaves channels ``C..9`` zero ("pad at the
  end", as C-CHAIN does), so the first channels of every game keep MinAtar's channel order.
* **Actions** are MinAtar's full 6-action set ``[n, l, u, r, d, f]`` (its default, used by the published
  results); actions a game does not use act as no-ops inside the game itself.
* **Sticky actions** (p = 0.1) and **difficulty ramping** default to MinAtar's defaults.
* **Seeding** follows MinAtar: ``reset(seed=s)`` calls ``Environment.seed(s)``, so one ``RandomState(s)``
  drives sticky actions and the game, exactly as the reference ``minatar`` package does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

if TYPE_CHECKING:
    from minatar import Environment

from envs.names import MINATAR_GAMES as GAMES

N_CHANNELS = 10
N_ACTIONS = 6
OBS_SHAPE = (10, 10, N_CHANNELS)

# Channels per game (verified against minatar 1.0.15).
GAME_CHANNELS: dict[str, int] = {
    "asterix": 4,
    "breakout": 4,
    "freeway": 7,
    "seaquest": 10,
    "space_invaders": 6,
}


def check_game(game: str) -> str:
    """Return ``game`` if it is a MinAtar game name, else raise a one-line ``ValueError``."""
    if game not in GAMES:
        raise ValueError(f"unknown MinAtar game {game!r}; valid games: {', '.join(GAMES)}")
    return game


def check_vector_options(game: str, num_envs: int, sticky_action_prob: float, max_episode_steps: int | None,
                         stall_steps: int | None) -> None:
    """The arguments every MinAtar vector env takes (numpy and torch backends), or a one-line ``ValueError``."""
    check_game(game)
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs!r} must be >= 1")
    if not 0.0 <= sticky_action_prob <= 1.0:
        raise ValueError(f"sticky_action_prob={sticky_action_prob!r} must be in [0, 1]")
    if max_episode_steps is not None and max_episode_steps < 1:
        raise ValueError(f"max_episode_steps={max_episode_steps!r} must be >= 1 or None")
    if stall_steps is not None and stall_steps < 1:
        raise ValueError(f"stall_steps={stall_steps!r} must be >= 1 or None")


def observation_space() -> gym.spaces.Box:
    return gym.spaces.Box(low=0, high=1, shape=OBS_SHAPE, dtype=bool)


def action_space() -> gym.spaces.Discrete:
    return gym.spaces.Discrete(N_ACTIONS)


def make_game(game: str, sticky_action_prob: float = 0.1, difficulty_ramping: bool = True) -> Environment:
    """The reference ``minatar.Environment`` for ``game``, with validated arguments."""
    check_game(game)
    if not 0.0 <= sticky_action_prob <= 1.0:
        raise ValueError(f"sticky_action_prob={sticky_action_prob!r} must be in [0, 1]")
    # imported here: the package loads seaborn and scipy.stats for its renderer (~2 s), which runs on the torch
    # backend (the default) never use
    from minatar import Environment

    return Environment(game, sticky_action_prob=sticky_action_prob, difficulty_ramping=difficulty_ramping)


class MinAtarEnv(gym.Env):
    """One MinAtar game as a gymnasium env with the shared 10-channel, 6-action interface.

    Steps are bit-identical to ``minatar.Environment`` (same seed → same observations in channels
    ``0..C-1`` and same rewards); episodes never truncate (MinAtar has no time limit, Freeway ends itself).
    """

    metadata = {"render_modes": []}

    def __init__(self, game: str, sticky_action_prob: float = 0.1, difficulty_ramping: bool = True):
        self.game = check_game(game)
        self._env = make_game(game, sticky_action_prob, difficulty_ramping)
        self._channels = GAME_CHANNELS[game]
        self._obs = np.zeros(OBS_SHAPE, dtype=bool)
        self.observation_space = observation_space()
        self.action_space = action_space()

    def _observe(self) -> np.ndarray:
        self._obs[..., : self._channels] = self._env.state()
        return self._obs.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.seed(int(seed))
        self._env.reset()
        return self._observe(), {}

    def step(self, action):
        reward, terminal = self._env.act(int(action))
        return self._observe(), float(reward), bool(terminal), False, {}
