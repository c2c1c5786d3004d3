"""Continuous control with changing dynamics: gymnasium's MuJoCo envs (Ant, Hopper, Walker2d, HalfCheetah) batched
as one same-step vector env, each task with its own dynamics set at run time.

**Dynamics** (:class:`Dynamics`, the pattern meta-RL benchmarks use; a curriculum task sets them with the
``dynamics`` transform, envs/transforms.py): ``friction`` sets the sliding friction of
**every geom** (``model.geom_friction[:, 0]``, floor and robot) — MuJoCo takes the element-wise maximum of the two
geoms in contact, so a floor-only friction below the robot's (1) would change nothing; this is what Dohare et al.'s
Slippery Ant does (their XML sets the ``<default>`` geom's friction, which every geom inherits: bit-identical to
setting it here at run time). ``mass_scale``, ``damping_scale`` and ``gravity_scale`` multiply the model's body
masses, joint damping and gravity. Unset fields keep the model's own values.

**Slippery Ant** (Dohare et al., Nature 2024; shibhansh/loss-of-plasticity ``lop/envs/slippery_ant.py``,
``lop/rl/run_ppo.py``): ``Ant-v5`` with ``include_cfrc_ext_in_observation=False, contact_cost_weight=0`` (27-d
observations, 1000-step episodes: their effective Ant-v3, whose contact forces were zeros under mujoco-py 2), the
friction drawn log-uniformly in [0.02, 2] and changed at the first episode end more than 2M steps after the previous
change (the curriculum's ``switch: episode_end``). :func:`dohare_frictions` gives the frictions of a seed: row
``seed`` of their table (``envs/data/dohare_sant_frictions.txt``, 100 × 50), seeded log-uniform draws beyond it.

Episodes are capped at ``max_episode_steps`` (gymnasium's 1000) by this env itself (the envs are used unwrapped,
without gymnasium's wrapper stack: a third faster); a capped episode is ``truncated``, an unhealthy robot
``terminated``. Observations are float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

GAMES = {"ant": "Ant-v5", "hopper": "Hopper-v5", "walker2d": "Walker2d-v5", "half_cheetah": "HalfCheetah-v5",
         "swimmer": "Swimmer-v5", "inverted_pendulum": "InvertedPendulum-v5"}
FRICTIONS_FILE = Path(__file__).resolve().parent / "data" / "dohare_sant_frictions.txt"
FRICTION_RANGE = (0.02, 2.0)  # Dohare's log-uniform range


def check_game(game: str) -> str:
    """The gymnasium id of ``game`` (``ant`` or ``Ant-v5``); a one-line ``ValueError`` otherwise."""
    if game in GAMES:
        return GAMES[game]
    if game in GAMES.values():
        return game
    raise ValueError(f"unknown mujoco game {game!r}; valid games: {', '.join(GAMES)}")


@dataclass(frozen=True)
class Dynamics:
    """A task's physics: ``friction`` (sliding, of every geom), and scales of body masses, joint damping, gravity."""

    friction: float | None = None
    mass_scale: float | None = None
    damping_scale: float | None = None
    gravity_scale: float | None = None

    def apply(self, model: Any, defaults: dict[str, np.ndarray]) -> None:
        """Set ``model``'s physics from ``defaults`` (the model's values as built) and these changes."""
        model.geom_friction[:] = defaults["geom_friction"]
        if self.friction is not None:
            model.geom_friction[:, 0] = self.friction
        model.body_mass[:] = defaults["body_mass"] * (self.mass_scale if self.mass_scale is not None else 1.0)
        model.dof_damping[:] = defaults["dof_damping"] * (self.damping_scale if self.damping_scale is not None
                                                          else 1.0)
        model.opt.gravity[:] = defaults["gravity"] * (self.gravity_scale if self.gravity_scale is not None else 1.0)


def model_defaults(model: Any) -> dict[str, np.ndarray]:
    return {"geom_friction": model.geom_friction.copy(), "body_mass": model.body_mass.copy(),
            "dof_damping": model.dof_damping.copy(), "gravity": model.opt.gravity.copy()}


@cache
def _table() -> np.ndarray:
    return np.loadtxt(FRICTIONS_FILE, comments="#")


def dohare_frictions(seed: int, count: int) -> list[float]:
    """The first ``count`` frictions of a Slippery Ant run with ``seed``: row ``seed`` of Dohare's table (his runs
    used seeds 0–99; column 0 is the initial friction), then log-uniform draws in [0.02, 2] from a generator seeded
    by ``seed`` for columns past 50 or seeds past 99."""
    table = _table()
    row = list(table[seed]) if 0 <= seed < table.shape[0] else []
    if count > len(row):
        rng = np.random.default_rng([seed, 0x5A17])
        low, high = np.log(FRICTION_RANGE[0]), np.log(FRICTION_RANGE[1])
        row += list(np.exp(rng.uniform(low, high, size=count - len(row))))
    return [float(x) for x in row[:count]]


class MuJoCoVectorEnv(VectorEnv):
    """``num_envs`` copies of one MuJoCo env with the given dynamics, same-step autoreset."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, game: str, num_envs: int, *, dynamics: Dynamics | None = None,
                 max_episode_steps: int | None = None, env_kwargs: dict[str, Any] | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be >= 1")
        self.game = check_game(game)
        spec = gym.spec(self.game)
        self.max_episode_steps = int(max_episode_steps or spec.max_episode_steps or 1000)
        self.env_kwargs = dict(env_kwargs or {})
        self.envs = [gym.make(self.game, **self.env_kwargs).unwrapped for _ in range(num_envs)]
        self._defaults = model_defaults(self.envs[0].model)
        self.set_dynamics(dynamics)
        self.num_envs = num_envs
        single = self.envs[0].observation_space
        self.single_observation_space = gym.spaces.Box(single.low.astype(np.float32), single.high.astype(np.float32),
                                                       dtype=np.float32)
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        seeds = seed if isinstance(seed, list) else [None if seed is None else seed + i for i in range(self.num_envs)]
        obs = [env.reset(seed=s)[0] for env, s in zip(self.envs, seeds, strict=True)]
        self._lengths[:] = 0
        return np.asarray(obs, dtype=np.float32), {}

    def step(self, actions: np.ndarray):
        n = self.num_envs
        obs = np.empty((n, *self.single_observation_space.shape), dtype=np.float32)
        rewards = np.empty(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        self._lengths += 1
        truncated = self._lengths >= self.max_episode_steps
        final = None
        for i, env in enumerate(self.envs):
            o, r, term, _, _ = env.step(actions[i])
            rewards[i], terminated[i] = r, term
            if term or truncated[i]:
                if final is None:
                    final = np.full(n, None, dtype=object)
                final[i] = np.asarray(o, dtype=np.float32)
                o, _ = env.reset()
                self._lengths[i] = 0
            obs[i] = o
        truncated &= ~terminated
        infos: dict[str, Any] = {}
        if final is not None:
            infos = {"final_obs": final, "_final_obs": np.array([f is not None for f in final])}
        return obs, rewards, terminated, truncated, infos

    # Pickling (a checkpoint holds the curriculum whole): gymnasium's MuJoCo envs pickle as their constructor
    # arguments (a fresh model: the dynamics and the simulation state would be lost), so the state is saved here —
    # MuJoCo's full integration state (positions, velocities, warm start, time, …: mj_getState), each env's random
    # generator and episode length — and a resumed env continues bit for bit.
    def __getstate__(self) -> dict[str, Any]:
        import mujoco
        what = mujoco.mjtState.mjSTATE_INTEGRATION
        states = []
        for env in self.envs:
            state = np.empty(mujoco.mj_stateSize(env.model, what))
            mujoco.mj_getState(env.model, env.data, state, what)
            states.append((state, env.np_random.bit_generator.state))
        return {"game": self.game, "num_envs": self.num_envs, "max_episode_steps": self.max_episode_steps,
                "env_kwargs": self.env_kwargs, "dynamics": self.dynamics, "lengths": self._lengths.copy(),
                "states": states}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import mujoco
        self.__init__(state["game"], state["num_envs"], dynamics=state["dynamics"],  # type: ignore[misc]
                      max_episode_steps=state["max_episode_steps"], env_kwargs=state["env_kwargs"])
        self._lengths = state["lengths"].copy()
        for env, (sim, rng) in zip(self.envs, state["states"], strict=True):
            env.reset(seed=0)  # creates the env's generator, then both are overwritten
            mujoco.mj_setState(env.model, env.data, sim, mujoco.mjtState.mjSTATE_INTEGRATION)
            mujoco.mj_forward(env.model, env.data)
            env.np_random.bit_generator.state = rng

    def set_dynamics(self, dynamics: Dynamics | None) -> None:
        """Give every env ``dynamics`` (``None``: the model's own physics); takes effect at the next step."""
        self.dynamics = dynamics or Dynamics()
        for env in self.envs:
            self.dynamics.apply(env.model, self._defaults)

    def geom_friction(self) -> np.ndarray:
        """The sliding friction of every geom of the first env (what its contacts use)."""
        return self.envs[0].model.geom_friction[:, 0].copy()

    def close(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
