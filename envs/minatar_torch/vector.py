"""N copies of one MinAtar game stepped together as torch tensors on any device (CPU or CUDA).

:class:`TorchMinAtarVectorEnv` has the interface of :class:`envs.minatar_vector.MinAtarVectorEnv` — the shared
10-channel HWC ``bool`` observation, MinAtar's full 6-action set, sticky actions and difficulty ramping (on by
default, as ``minatar``), the optional episode cap (``max_episode_steps``, ``truncated=True``) and C-CHAIN's stall
guard, gymnasium's same-step autoreset — but takes and returns tensors on ``device``: observations
``(N, 10, 10, 10)`` bool, rewards ``(N,)`` float32, ``terminated``/``truncated`` ``(N,)`` bool, and
``infos["final_obs"]`` as one ``(N, 10, 10, 10)`` tensor whose rows are meaningful where
``infos["_final_obs"]`` (an ``(N,)`` bool tensor) is true. Nothing in a step synchronizes with the host.

**Randomness.** One ``torch.Generator`` on the device, seeded by ``reset(seed=s)``, draws an ``(N, D)`` block of
uniforms per step: column 0 decides the sticky repeat (``u < sticky_action_prob``, as ``minatar.Environment``'s
first ``rand()`` of every step), then the game's step draws, then its reset draws (used by the envs that end in
this step). Trajectories are therefore reproducible for a given seed and N (and device type), and the
generator's state travels with the env when it is pickled (checkpoints). They are not the trajectories of the
``minatar`` package for the same seed — its ``RandomState`` streams differ — but the same dynamics: fed the very
draws the reference makes (``draw_hook``), every transition equals the reference's (``tests/test_minatar_torch.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from torch import Tensor

from envs.minatar import action_space, check_vector_options, observation_space
from envs.minatar_torch.asterix import Asterix
from envs.minatar_torch.base import TorchGame, restore_generator, sync_free
from envs.minatar_torch.breakout import Breakout
from envs.minatar_torch.freeway import Freeway
from envs.minatar_torch.seaquest import Seaquest
from envs.minatar_torch.space_invaders import SpaceInvaders

GAMES: dict[str, type[TorchGame]] = {"asterix": Asterix, "breakout": Breakout, "freeway": Freeway,
                                     "seaquest": Seaquest, "space_invaders": SpaceInvaders}


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, or a one-line ``ValueError`` if it is not there."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r}; valid choices: cpu, cuda, cuda:<index>") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but no CUDA GPU is available; valid choices here: cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} but only {torch.cuda.device_count()} GPU(s) are here")
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r}; valid choices: cpu, cuda, cuda:<index>")
    return dev


class TorchMinAtarVectorEnv(VectorEnv):
    """``num_envs`` copies of one MinAtar game as tensors on ``device`` (see the module docstring).

    :param draw_hook: tests only — ``draw_hook(num_envs, columns)`` returns the uniforms of a step (or of the
        first reset) instead of the generator, so a harness can feed the reference's own draws.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, game: str, num_envs: int, sticky_action_prob: float = 0.1, difficulty_ramping: bool = True,
                 max_episode_steps: int | None = None, stall_steps: int | None = None,
                 stall_min_return: float = 0.1, device: str | torch.device = "cpu",
                 draw_hook: Callable[[int, int], Tensor] | None = None):
        check_vector_options(game, num_envs, sticky_action_prob, max_episode_steps, stall_steps)
        self.device = check_device(device)
        self.game_name = game
        self.num_envs = int(num_envs)
        self.sticky_action_prob = float(sticky_action_prob)
        self.max_episode_steps = max_episode_steps
        self.stall_steps, self.stall_min_return = stall_steps, float(stall_min_return)
        self.draw_hook = draw_hook
        self.game = GAMES[game](self.num_envs, difficulty_ramping, self.device)
        self.sync_free = sync_free(self.device)  # reset and render by masks every step (no host read)
        self._n_step = self.game.step_draw_count
        self._n_reset = self.game.reset_draw_count
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(0)
        self._last_action = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self._lengths = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self._returns = torch.zeros(self.num_envs, dtype=torch.float32, device=self.device)
        self._all = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self.single_observation_space = observation_space()
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    @property
    def truncates(self) -> bool:
        """Whether a step can cut an episode (an episode cap or the stall guard)."""
        return self.max_episode_steps is not None or self.stall_steps is not None

    def _uniforms(self, columns: int) -> Tensor:
        if self.draw_hook is not None:
            return self.draw_hook(self.num_envs, columns).to(self.device, torch.float32)
        return torch.rand(self.num_envs, columns, generator=self.generator, device=self.device)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            if not isinstance(seed, int | np.integer):
                raise ValueError(f"seed={seed!r}: the torch MinAtar env takes one int seed for the whole batch")
            self.generator.manual_seed(int(seed))
        self.game.reset(self._all, self._uniforms(max(1, self._n_reset)))
        self._lengths.zero_()
        self._returns.zero_()
        return self.game.render(), {}

    def step(self, actions: Tensor | np.ndarray):
        actions = torch.as_tensor(actions, device=self.device).long().reshape(self.num_envs)
        u = self._uniforms(1 + self._n_step + self._n_reset)
        executed = torch.where(u[:, 0] < self.sticky_action_prob, self._last_action, actions)
        self._last_action = executed
        reward, terminated = self.game.act(executed, u[:, 1:1 + self._n_step])
        final_obs = self.game.render()
        truncated = torch.zeros_like(terminated)
        if self.max_episode_steps is not None or self.stall_steps is not None:  # episode counters only if needed
            self._lengths += 1
            self._returns += reward
            if self.max_episode_steps is not None:
                truncated = ~terminated & (self._lengths >= self.max_episode_steps)
            if self.stall_steps is not None:
                truncated |= ~terminated & (self._lengths >= self.stall_steps) & (self._returns < self.stall_min_return)
        ended = terminated | truncated
        # On CUDA every step resets the ended envs by masks and renders again, so that nothing waits for the host.
        # On the CPU a step where no episode ended (one cheap host read) skips both, and the envs that ended get
        # their game's cached first observation instead of a rendering of every env.
        if self.sync_free:
            self.game.reset(ended, u[:, 1 + self._n_step:])
            obs = self.game.render()
        elif bool(ended.any()):
            self.game.reset(ended, u[:, 1 + self._n_step:])
            obs = self.game.render_after_reset(final_obs, ended, u[:, 1 + self._n_step:])
        else:
            obs = final_obs
        if self.max_episode_steps is not None or self.stall_steps is not None:
            self._lengths.masked_fill_(ended, 0)
            self._returns.masked_fill_(ended, 0.0)
        return obs, reward, terminated, truncated, {"final_obs": final_obs, "_final_obs": ended}

    def set_channel_map(self, mapping: list[int] | None) -> None:
        """Show game channel ``c`` at observation channel ``mapping[c]`` (see :class:`ChannelPermutation`)."""
        self.game.set_channel_map(mapping)

    # checkpoints: the generator's state travels as a tensor
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["generator"] = self.generator.get_state()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        generator_state = state.pop("generator")
        self.__dict__.update(state)
        self.generator = restore_generator(self.device, generator_state, f"MinAtar {self.game_name}")
