"""Per-task changes of an environment, applied to batched actions, observations and rewards of any vector env.

A task is a base env plus transforms (applied in list order to observations and rewards, in reverse order to
actions). Random transforms draw their parameters in :meth:`Transform.resample`, called at the start of every
visit of the task with a generator seeded from the curriculum seed and the visit index: "a new action
permutation every 500k steps" is one task with ``action_permutation`` visited every 500k steps for N cycles.

=========================  ====================================================================================
``type``                   effect
=========================  ====================================================================================
``reward_scale``           ``r ← scale·r`` (``scale: -1`` flips the sign)
``reward_shift``           ``r ← r + offset``
``reward_clip``            ``r ← clip(r, low, high)``
``reward_sign``            ``r ← sign(r)``
``action_permutation``     the agent's action ``a`` executes ``perm[a]`` (``permutation``: fixed, else drawn)
``channel_permutation``    observation channel ``c`` shows base channel ``perm[c]`` (last axis for HWC, the first
                           non-batch axis for CHW: ``channels_last``)
``pixel_permutation``      the spatial positions of every channel are permuted the same way
``sticky_actions``         with probability ``prob`` the previous executed action repeats (per sub-env)
=========================  ====================================================================================

Every transform takes numpy arrays or torch tensors (the torch MinAtar backend); on tensors the work stays on
their device (a permutation is kept there once per visit). A leading ``channel_permutation`` of an env that can
render its channels in any order (``set_channel_map``: the torch MinAtar games) is fused into its rendering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv

from envs.names import TRANSFORMS


class Transform:
    """Base class: identity on everything."""

    def resample(self, rng: np.random.Generator) -> None:
        """Draw this visit's random parameters (and reset any per-visit state)."""

    def action(self, actions: np.ndarray) -> np.ndarray:
        return actions

    def observation(self, obs: np.ndarray) -> np.ndarray:
        return obs

    def reward(self, rewards: np.ndarray) -> np.ndarray:
        return rewards


class RewardScale(Transform):
    def __init__(self, scale: float):
        self.scale = float(scale)

    def reward(self, rewards: np.ndarray) -> np.ndarray:
        return rewards * self.scale


class RewardShift(Transform):
    def __init__(self, offset: float):
        self.offset = float(offset)

    def reward(self, rewards: np.ndarray) -> np.ndarray:
        return rewards + self.offset


class RewardClip(Transform):
    def __init__(self, low: float = -1.0, high: float = 1.0):
        if low > high:
            raise ValueError(f"reward_clip: low={low!r} > high={high!r}")
        self.low, self.high = float(low), float(high)

    def reward(self, rewards: np.ndarray) -> np.ndarray:
        return rewards.clip(self.low, self.high)


class RewardSign(Transform):
    def reward(self, rewards: np.ndarray) -> np.ndarray:
        return rewards.sign() if isinstance(rewards, torch.Tensor) else np.sign(rewards)


def _permutation(size: int, fixed: Sequence[int] | None, what: str) -> np.ndarray | None:
    if fixed is None:
        return None
    perm = np.asarray(fixed, dtype=np.int64)
    if perm.shape != (size,) or sorted(perm.tolist()) != list(range(size)):
        raise ValueError(f"{what}: permutation {perm.tolist()} is not a permutation of 0..{size - 1} "
                         f"(the space has {size})")
    return perm


class _Permutation(Transform):
    """A permutation of ``size`` items: ``fixed`` if given, else a fresh random one at every visit."""

    def __init__(self, size: int, permutation: Sequence[int] | None, what: str):
        self.size = int(size)
        self.fixed = _permutation(self.size, permutation, what)
        self.perm = self.fixed if self.fixed is not None else np.arange(self.size)
        self._on_device: tuple[torch.device, torch.Tensor] | None = None

    def resample(self, rng: np.random.Generator) -> None:
        if self.fixed is None:
            self.perm = rng.permutation(self.size)
        self._on_device = None

    def index(self, like: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """The permutation as an index for ``like``: the numpy array, or a tensor on ``like``'s device."""
        if not isinstance(like, torch.Tensor):
            return self.perm
        if self._on_device is None or self._on_device[0] != like.device:
            self._on_device = (like.device, torch.as_tensor(self.perm, device=like.device))
        return self._on_device[1]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_on_device": None}


class ActionPermutation(_Permutation):
    """The agent's action ``a`` executes base action ``perm[a]``."""

    def __init__(self, n_actions: int, permutation: Sequence[int] | None = None):
        super().__init__(n_actions, permutation, "action_permutation")

    def action(self, actions: np.ndarray) -> np.ndarray:
        if isinstance(actions, torch.Tensor):
            return self.index(actions)[actions.long()]
        return self.perm[np.asarray(actions, dtype=np.int64)]


class ChannelPermutation(_Permutation):
    """Observation channel ``c`` shows base channel ``perm[c]``."""

    def __init__(self, n_channels: int, channels_last: bool = True, permutation: Sequence[int] | None = None):
        super().__init__(n_channels, permutation, "channel_permutation")
        self.channels_last = bool(channels_last)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        perm = self.index(obs)
        return obs[..., perm] if self.channels_last else obs[:, perm]


class PixelPermutation(_Permutation):
    """Every channel's spatial positions are permuted by the same ``perm`` over ``H·W``."""

    def __init__(self, height: int, width: int, channels_last: bool = True,
                 permutation: Sequence[int] | None = None):
        super().__init__(height * width, permutation, "pixel_permutation")
        self.channels_last = bool(channels_last)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        n, perm = obs.shape[0], self.index(obs)
        if self.channels_last:
            return obs.reshape(n, self.size, -1)[:, perm].reshape(obs.shape)
        return obs.reshape(n, obs.shape[1], self.size)[:, :, perm].reshape(obs.shape)


class StickyActions(Transform):
    """With probability ``prob`` a sub-env repeats its previous executed action (Machado et al. 2018).

    Use the base env's own sticky actions where it has them (MinAtar, ALE: reference-exact); this transform
    adds them to any env. On tensors the draws come from a generator on their device, seeded at every visit.
    """

    def __init__(self, prob: float):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"sticky_actions: prob={prob!r} must be in [0, 1]")
        self.prob = float(prob)
        self._seed = 0
        self._rng = np.random.default_rng(0)
        self._torch_rng: torch.Generator | None = None
        self._last: Any = None

    def resample(self, rng: np.random.Generator) -> None:
        self._seed = int(rng.integers(2**63))
        self._rng = np.random.default_rng(self._seed)
        self._torch_rng = None
        self._last = None

    def action(self, actions: np.ndarray) -> np.ndarray:
        if isinstance(actions, torch.Tensor):
            if self._torch_rng is None or self._torch_rng.device != actions.device:
                self._torch_rng = torch.Generator(device=actions.device).manual_seed(self._seed)
            if self._last is None or self._last.shape != actions.shape:
                self._last = torch.zeros_like(actions)
            draws = torch.rand(actions.shape[0], generator=self._torch_rng, device=actions.device)
            executed = torch.where(draws < self.prob, self._last, actions)
        else:
            actions = np.asarray(actions)
            if self._last is None or self._last.shape != actions.shape:
                self._last = np.zeros_like(actions)
            executed = np.where(self._rng.random(actions.shape[0]) < self.prob, self._last, actions)
        self._last = executed
        return executed

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        generator = state.pop("_torch_rng")
        state["_torch_rng_state"] = None if generator is None else (generator.device, generator.get_state())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_torch_rng_state", None)
        self.__dict__.update(state)
        self._torch_rng = None
        if saved is not None:
            from envs.minatar_torch.base import restore_generator
            self._torch_rng = restore_generator(saved[0], saved[1], "sticky_actions")


def build_transform(spec: Mapping[str, Any], obs_shape: tuple[int, ...], n_actions: int | None,
                    channels_last: bool) -> Transform:
    """A transform from its config mapping (``{type: ..., <arguments>}``) for the given spaces."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    try:
        if kind == "reward_scale":
            return RewardScale(**spec)
        if kind == "reward_shift":
            return RewardShift(**spec)
        if kind == "reward_clip":
            return RewardClip(**spec)
        if kind == "reward_sign":
            return RewardSign(**spec)
        if kind == "action_permutation":
            if n_actions is None:
                raise ValueError("action_permutation needs a discrete action space")
            return ActionPermutation(n_actions, **spec)
        if kind == "channel_permutation":
            return ChannelPermutation(obs_shape[-1] if channels_last else obs_shape[0], channels_last, **spec)
        if kind == "pixel_permutation":
            h, w = (obs_shape[0], obs_shape[1]) if channels_last else (obs_shape[-2], obs_shape[-1])
            return PixelPermutation(h, w, channels_last, **spec)
        if kind == "sticky_actions":
            return StickyActions(**spec)
        if kind == "dynamics":
            return DynamicsChange(**spec)
    except TypeError as err:  # an unknown or missing argument
        raise ValueError(f"transform {kind!r}: {err}") from None
    raise ValueError(f"unknown transform type {kind!r}; valid types: {', '.join(TRANSFORMS)}")


class DynamicsChange(Transform):
    """The task's physics (MuJoCo envs: :class:`envs.mujoco.Dynamics`): set on the env when a view of it is made,
    i.e. when a curriculum enters a visit of the task (several tasks can then share one env instance)."""

    def __init__(self, friction: float | None = None, mass_scale: float | None = None,
                 damping_scale: float | None = None, gravity_scale: float | None = None):
        from envs.mujoco import Dynamics
        for name, value, low_open in (("friction", friction, True), ("mass_scale", mass_scale, True),
                                      ("damping_scale", damping_scale, False),
                                      ("gravity_scale", gravity_scale, False)):
            if value is not None and not (value > 0 or (value == 0 and not low_open)):
                raise ValueError(f"dynamics: {name}={value!r} must be {'>' if low_open else '>='} 0")
        self.dynamics = Dynamics(friction, mass_scale, damping_scale, gravity_scale)


class TransformedVectorEnv(VectorEnv):
    """A vector env seen through a list of transforms (``final_obs`` included); :class:`TransformedEnv` is the
    single-env form.

    Leading channel permutations are handed to an env that renders its channels in any order
    (``set_channel_map``), which then costs nothing per step; the view sets the env's channel map when it is
    created (a curriculum creates a view at every visit, after drawing the visit's permutations). Likewise an env
    with changeable physics (``set_dynamics``) gets the view's :class:`DynamicsChange`, or its own physics back.
    """

    def __init__(self, env: VectorEnv, transforms: Sequence[Transform] = ()):
        self.env = env
        self.transforms = tuple(transforms)
        self.num_envs = env.num_envs
        self.metadata = env.metadata
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self._fused = 0
        if hasattr(env, "set_channel_map"):
            combined = np.arange(env.single_observation_space.shape[-1])
            for t in self.transforms:
                if not (isinstance(t, ChannelPermutation) and t.channels_last):
                    break
                combined = combined[t.perm]  # obs[..., p1][..., p2] = obs[..., p1[p2]]
                self._fused += 1
            env.set_channel_map(np.argsort(combined).tolist())  # base channel b is shown at argsort(combined)[b]
        if hasattr(env, "set_dynamics"):
            env.set_dynamics(next((t.dynamics for t in self.transforms if isinstance(t, DynamicsChange)), None))

    def observation(self, obs: np.ndarray) -> np.ndarray:
        for t in self.transforms[self._fused:]:
            obs = t.observation(obs)
        return obs

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self.observation(obs), infos

    def step(self, actions):
        for t in reversed(self.transforms):
            actions = t.action(actions)
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        for t in self.transforms:
            rewards = t.reward(rewards)
        final_obs = infos.get("final_obs")
        if final_obs is not None and len(self.transforms) > self._fused:
            if isinstance(final_obs, torch.Tensor):
                final_obs = self.observation(final_obs)
            else:
                final_obs = final_obs.copy()
                for i in np.flatnonzero(infos["_final_obs"]):
                    final_obs[i] = self.observation(final_obs[i][None])[0]
            infos = {**infos, "final_obs": final_obs}
        return self.observation(obs), rewards, terminated, truncated, infos

    def close(self, **kwargs: Any) -> None:
        self.env.close(**kwargs)


class TransformedEnv(gym.Wrapper):
    """The transforms on one gymnasium env (the single-env form of :class:`TransformedVectorEnv`), e.g. inside
    SB3's ``make_vec_env(..., wrapper_class=TransformedEnv, wrapper_kwargs=dict(transforms=[...]))``.

    :param transforms: :class:`Transform` objects, or their config mappings (``{"type": "action_permutation"}``,
        built for the env's spaces with :func:`build_transform`).
    :param seed: the draw of the random transforms (:meth:`resample` draws again, as a curriculum does at each
        visit). Give every sub-env of a vector env the same ``seed`` for the same permutation everywhere.
    :param channels_last: image observations are HWC (MinAtar, default) rather than CHW.

    Actions, observations and rewards go through the transforms as batches of one, so every transform behaves
    exactly as in the vector form (sticky actions per env)."""

    def __init__(self, env: gym.Env, transforms: Sequence[Transform | Mapping[str, Any]] = (), seed: int = 0,
                 channels_last: bool = True):
        super().__init__(env)
        n_actions = int(env.action_space.n) if isinstance(env.action_space, gym.spaces.Discrete) else None
        self.transforms = tuple(t if isinstance(t, Transform) else
                                build_transform(t, env.observation_space.shape, n_actions, channels_last)
                                for t in transforms)
        if any(isinstance(t, DynamicsChange) for t in self.transforms):
            raise ValueError("TransformedEnv: a dynamics transform needs the curriculum's MuJoCo env "
                             "(envs.make_curriculum); valid here: "
                             f"{', '.join(k for k in TRANSFORMS if k != 'dynamics')}")
        self.resample(seed)

    def resample(self, seed: int) -> None:
        """Draw the random transforms' parameters from ``seed``."""
        for k, t in enumerate(self.transforms):
            t.resample(np.random.default_rng([int(seed), k, 0x7F]))

    def _observation(self, obs: Any) -> Any:
        batch = np.asarray(obs)[None]
        for t in self.transforms:
            batch = t.observation(batch)
        return batch[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observation(obs), info

    def step(self, action: Any):
        actions = np.asarray(action)[None]
        for t in reversed(self.transforms):
            actions = t.action(actions)
        obs, reward, terminated, truncated, info = self.env.step(actions[0])
        rewards = np.asarray([reward], dtype=np.float64)
        for t in self.transforms:
            rewards = t.reward(rewards)
        return self._observation(obs), float(rewards[0]), terminated, truncated, info
