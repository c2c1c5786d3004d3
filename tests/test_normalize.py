"""Observation and reward normalization (agents/algorithms/normalize.py) against SB3's VecNormalize, frozen in
evaluation, raw returns in the logs, and its statistics in the checkpoint."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.running_mean_std import RunningMeanStd as SB3RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from agents.algorithms.normalize import Normalizer, RunningMeanStd


def test_running_mean_std_equals_sb3s():
    rng = np.random.default_rng(0)
    ours, theirs = RunningMeanStd((3,)), SB3RunningMeanStd(shape=(3,))
    for n in (1, 7, 64, 2):
        batch = rng.normal(2.0, 3.0, (n, 3))
        ours.update(torch.as_tensor(batch))
        theirs.update(batch)
    np.testing.assert_allclose(ours.mean.numpy(), theirs.mean, rtol=1e-12)
    np.testing.assert_allclose(ours.var.numpy(), theirs.var, rtol=1e-12)
    assert ours.count == pytest.approx(theirs.count)


class Scripted(VecEnv):
    """A VecEnv replaying a fixed stream of observations, rewards and episode ends (SB3's side of the test)."""

    def __init__(self, stream, obs0):
        super().__init__(len(obs0), spaces.Box(-np.inf, np.inf, obs0.shape[1:], np.float32), spaces.Discrete(2))
        self.stream, self.obs0, self.t = stream, obs0, 0

    def reset(self):
        return self.obs0.copy()

    def step_async(self, actions):
        pass

    def step_wait(self):
        obs, rew, done, final = self.stream[self.t]
        self.t += 1
        infos = [{"terminal_observation": final[i]} if done[i] else {} for i in range(self.num_envs)]
        return obs.copy(), rew.copy(), done.copy(), infos

    def close(self):
        pass

    def get_attr(self, *a, **k):
        return [None] * self.num_envs

    def set_attr(self, *a, **k):
        pass

    def env_method(self, *a, **k):
        return [None] * self.num_envs

    def env_is_wrapped(self, *a, **k):
        return [False] * self.num_envs


def test_the_scaled_observations_rewards_and_final_observations_equal_vecnormalizes():
    rng = np.random.default_rng(1)
    n, dim = 4, 5
    obs0 = rng.normal(1, 2, (n, dim)).astype(np.float32)
    stream = [(rng.normal(1, 2, (n, dim)).astype(np.float32), rng.normal(0.5, 3, n).astype(np.float32),
               rng.random(n) < 0.2, rng.normal(1, 2, (n, dim)).astype(np.float32)) for _ in range(60)]
    stream[10][1][:] = 500.0  # rewards beyond the clip
    sb3 = VecNormalize(Scripted(stream, obs0), gamma=0.9, clip_obs=10.0, clip_reward=10.0)
    ours = Normalizer((dim,), n, gamma=0.9, clip=10.0)
    np.testing.assert_allclose(ours.observe(torch.as_tensor(obs0)).numpy(), sb3.reset(), rtol=1e-5, atol=1e-6)
    ours.reset()
    for obs, rew, done, final in stream:
        sb3.step_async(np.zeros(n))
        s_obs, s_rew, _, s_infos = sb3.step_wait()
        o_obs = ours.observe(torch.as_tensor(obs))
        o_rew = ours.reward(torch.as_tensor(rew), torch.as_tensor(done))
        np.testing.assert_allclose(o_obs.numpy(), s_obs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(o_rew.numpy(), s_rew, rtol=1e-5, atol=1e-6)
        for i in np.flatnonzero(done):
            np.testing.assert_allclose(ours.normalize_obs(torch.as_tensor(final[i])).numpy(),
                                       s_infos[i]["terminal_observation"], rtol=1e-5, atol=1e-6)
    assert np.abs(o_obs.numpy()).max() <= 10.0


def test_a_frozen_view_reads_the_live_statistics_and_never_updates_them():
    norm = Normalizer((2,), 1)
    view = norm.frozen()
    norm.observe(torch.tensor([[4.0, -2.0]]))
    mean = norm.obs_rms.mean.clone()
    x = torch.tensor([[1.0, 1.0]])
    torch.testing.assert_close(view.normalize_obs(x), norm.normalize_obs(x))  # sees the training update
    view.observe(torch.tensor([[100.0, 100.0]]))
    torch.testing.assert_close(norm.obs_rms.mean, mean)  # and changes nothing
    assert torch.equal(view.reward(torch.tensor([3.0]), torch.tensor([False])), torch.tensor([3.0]))
    norm.reward(torch.tensor([2.0]), torch.tensor([False]))
    returns = norm.returns.clone()
    view.reset()  # an evaluation env's reset leaves the training env's discounted returns alone
    torch.testing.assert_close(norm.returns, returns)
    assert float(returns[0]) == 2.0


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match=r"gamma=1\.5"):
        Normalizer((2,), 1, gamma=1.5)
    with pytest.raises(ValueError, match=r"clip=0"):
        Normalizer((2,), 1, clip=0)


def test_a_normalized_run_scales_the_agents_inputs_logs_raw_returns_and_checkpoints_its_statistics(tmp_path):
    import pandas as pd

    from agents import train
    from agents.run.checkpoint import checkpoint_paths
    run = train(["env=cartpole_dynamics", "env.steps_per_task=512", "env.cycles=1", "agent=ppo", "agent.n_envs=4",
                 "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=1", "agent.network.hidden=[16]",
                 "agent.normalize.observations=true", "agent.normalize.rewards=true", "eval.every=1024",
                 "eval.episodes=2", "eval.num_envs=2", "eval.max_steps=100", "metrics.enabled=false",
                 "checkpoint.every=1024", "progress=false", f"hydra.run.dir={tmp_path}"])
    assert run.status == "completed"
    episodes = pd.read_csv(tmp_path / "episodes.csv")
    # CartPole pays 1 per step: a logged return equals the episode's length (a scaled reward would not)
    assert len(episodes) > 20
    np.testing.assert_allclose(episodes["return"], episodes["length"])
    evals = pd.read_csv(tmp_path / "eval.csv")
    assert (evals["return_mean"] == evals["length_mean"]).all()
    state = torch.load(checkpoint_paths(tmp_path)[-1], weights_only=False)
    saved = state["env"]["normalizer"]
    assert saved["obs_rms"]["count"] > 1024  # every step's observations, reset ones included
    assert float(saved["ret_rms"]["var"]) > 0 and saved["returns"].shape == (4,)
    assert not torch.allclose(saved["obs_rms"]["mean"], torch.zeros(4, dtype=torch.float64))


def test_a_resumed_normalized_run_continues_with_its_statistics(tmp_path):
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from envs import make_curriculum
    spec = {"kind": "classic", "tasks": [{"game": "cartpole"}], "steps_per_task": 10**6}
    make = lambda: GymnasiumVecEnv(make_curriculum(spec, 3, seed=0), normalizer=Normalizer((4,), 3))  # noqa: E731
    env, twin = make(), make()
    env.seed(0)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(50):
        env.step(rng.integers(0, 2, 3))
    twin.load_state_dict(env.state_dict())
    for _ in range(30):
        actions = rng.integers(0, 2, 3)
        a, b = env.step(actions), twin.step(actions)
        torch.testing.assert_close(a[0], b[0])
        torch.testing.assert_close(a[1], b[1])
    torch.testing.assert_close(env.normalizer.obs_rms.var, twin.normalizer.obs_rms.var)


def test_normalized_observations_are_refused_on_ale_frames_before_anything_is_written(tmp_path):
    from agents import train
    from agents.errors import ConfigError
    with pytest.raises(ConfigError, match=r"agent\.normalize\.observations=True"):
        train(["env=ale_abbas", "agent.normalize.observations=true", f"hydra.run.dir={tmp_path / 'run'}"])
    assert not (tmp_path / "run").exists()
