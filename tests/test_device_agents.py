"""The agents' device path: tensor rollouts and buffers keep SB3's arithmetic; DQN's vectorized envs and replay
ratio; episode counting; the deferred non-finite guard; bad input before any work."""

import copy

import numpy as np
import pytest
import stable_baselines3 as sb3
import torch
from conftest import cli_in_process
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer

from agents.algorithms.buffers import DeviceReplayBuffer, DeviceRolloutBuffer
from agents.algorithms.schedule import replay_schedule
from agents.algorithms.vec_env import EpisodeTracker
from agents.tasks import TaskInfo

OBS = spaces.Box(0, 1, (10, 10, 10), dtype=bool)
ACTIONS = spaces.Discrete(6)


def filled_buffers(steps: int = 16, envs: int = 4, seed: int = 0):
    """SB3's RolloutBuffer and ours with the same transitions (episode starts included)."""
    rng = np.random.default_rng(seed)
    ref = RolloutBuffer(steps, OBS, ACTIONS, device="cpu", gamma=0.99, gae_lambda=0.95, n_envs=envs)
    ours = DeviceRolloutBuffer(steps, OBS, ACTIONS, device="cpu", gamma=0.99, gae_lambda=0.95, n_envs=envs)
    for _ in range(steps):
        obs = rng.random((envs, 10, 10, 10)) < 0.1
        action, reward = rng.integers(0, 6, (envs, 1)), rng.normal(size=envs).astype(np.float32)
        start = rng.random(envs) < 0.2
        value, log_prob = torch.randn(envs, 1), torch.randn(envs)
        ref.add(obs, action, reward, start, value, log_prob)
        ours.add(torch.as_tensor(obs), torch.as_tensor(action), torch.as_tensor(reward), torch.as_tensor(start),
                 value, log_prob)
    last, dones = torch.randn(envs, 1), rng.random(envs) < 0.3
    ref.compute_returns_and_advantage(last, dones)
    ours.compute_returns_and_advantage(last, torch.as_tensor(dones))
    return ref, ours


def test_gae_and_minibatches_are_sb3s():
    ref, ours = filled_buffers()
    assert np.array_equal(ref.advantages, ours.advantages.numpy())
    assert np.array_equal(ref.returns, ours.returns.numpy())
    np.random.seed(3)
    ref_batches = list(ref.get(24))
    np.random.seed(3)
    our_batches = list(ours.get(24))
    assert len(ref_batches) == len(our_batches) == 3
    for a, b in zip(ref_batches, our_batches, strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)


def test_our_ppo_update_is_sb3s_bit_for_bit():
    """The same rollout in our buffer and in SB3's: our ``PPO.train`` (statistics kept on the device) and SB3's
    own leave the same parameters and log the same losses."""
    from agents.algorithms.factory import make_agent
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.methods import build_method
    from envs import make_curriculum
    env = GymnasiumVecEnv(make_curriculum({"tasks": ["breakout"], "steps_per_task": 10**6}, 4, 0))
    cfg = {"name": "ppo", "n_envs": 4, "learning_rate": 1e-3, "batch_size": 16, "n_steps": 16, "n_epochs": 2,
           "fused_optimizer": False}
    ours = make_agent(cfg, env, build_method({"name": "adam", "optimizer": "adam"}), 10**6, seed=0, device="cpu")
    ref = copy.deepcopy(ours)
    ref.rollout_buffer, ours.rollout_buffer = filled_buffers(16, 4)
    from stable_baselines3.common.logger import configure
    for model in (ours, ref):
        model.set_logger(configure(None, [""]))
    for model, train in ((ours, ours.train), (ref, lambda: sb3.PPO.train(ref))):
        np.random.seed(5)
        model._current_progress_remaining = 1.0
        train()
    for a, b in zip(ours.policy.parameters(), ref.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    logged = {k: v for k, v in ours.logger.name_to_value.items() if k.startswith("train/")}
    assert logged["train/policy_gradient_loss"] == pytest.approx(ref.logger.name_to_value[
        "train/policy_gradient_loss"], rel=1e-6)
    assert logged["train/n_updates"] == ref.logger.name_to_value["train/n_updates"]


def test_the_replay_buffer_stores_final_observations_of_ended_episodes_and_samples_what_it_holds():
    buf = DeviceReplayBuffer(8, OBS, ACTIONS, device="cpu", n_envs=2)
    obs = torch.zeros(2, 10, 10, 10, dtype=torch.bool)
    nxt, final = obs.clone(), obs.clone()
    nxt[:, 0, 0, 0] = True
    final[:, 5, 5, 5] = True
    buf.add(obs, nxt, torch.tensor([1, 2]), torch.tensor([0.5, -1.0]), torch.tensor([0.0, 1.0]),
            ended=torch.tensor([False, True]), final_obs=final)
    assert torch.equal(buf.next_observations[0, 0], nxt[0]) and torch.equal(buf.next_observations[0, 1], final[1])
    sample = buf.sample(64)
    assert sample.observations.shape == (64, 10, 10, 10) and sample.dones.shape == (64, 1)
    assert set(sample.actions.flatten().tolist()) == {1, 2}  # only the stored step (both envs)
    state = buf.state_dict()
    copy_ = DeviceReplayBuffer(8, OBS, ACTIONS, device="cpu", n_envs=2)
    copy_.load_state_dict(state)
    assert all(torch.equal(getattr(buf, k)[:1], getattr(copy_, k)[:1]) for k in DeviceReplayBuffer.ARRAYS)


def test_episode_returns_and_lengths_are_counted_across_reads():
    rng = np.random.default_rng(0)
    tracker, task = EpisodeTracker(3, torch.device("cpu")), TaskInfo(0, 0, "t", 0)
    rewards, dones = rng.integers(0, 3, (40, 3)).astype(np.float32), rng.random((40, 3)) < 0.2
    got = []
    for t in range(40):
        tracker.step(torch.as_tensor(rewards[t]), torch.as_tensor(dones[t]), t, task)
        if t % 7 == 6:
            got += tracker.flush()
    got += tracker.flush()
    expected, ret, length = [], np.zeros(3), np.zeros(3, dtype=int)
    for t in range(40):
        ret, length = ret + rewards[t], length + 1
        expected += [(t, float(ret[i]), int(length[i])) for i in np.flatnonzero(dones[t])]
        ret[dones[t]], length[dones[t]] = 0, 0
    assert [(e.step, e.ret, e.length) for e in got] == expected


@pytest.mark.parametrize("ratio, envs, expected", [(1.0, 1, (1, 1)), (1.0, 64, (1, 64)), (0.125, 64, (1, 8)),
                                                   (1 / 128, 64, (2, 1)), (0.25, 2, (2, 1))])
def test_replay_ratio_becomes_sb3s_schedule(ratio, envs, expected):
    assert replay_schedule(ratio, envs) == expected


def test_a_replay_ratio_without_a_whole_schedule_is_refused():
    with pytest.raises(ValueError, match=r"agent.replay_ratio=0.3 × n_envs=64 = 19.2"):
        replay_schedule(0.3, 64)


def test_dqn_explores_per_env_and_acts_greedily_when_deterministic():
    from agents.algorithms.factory import make_agent
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.methods import build_method
    from envs import make_curriculum
    env = GymnasiumVecEnv(make_curriculum({"tasks": ["breakout"], "steps_per_task": 10**6}, 512, 0))
    cfg = {"name": "dqn", "n_envs": 512, "learning_rate": 1e-3, "batch_size": 16, "buffer_size": 1024,
           "learning_starts": 0}
    model = make_agent(cfg, env, build_method({"name": "adam", "optimizer": "adam"}), 10**6, seed=0, device="cpu")
    obs = env.reset()
    with torch.no_grad():
        greedy = model.q_net(obs).argmax(dim=1)
    assert torch.equal(model.act(obs, deterministic=True), greedy)
    model.exploration_rate = 0.5
    differs = (model.act(obs) != greedy).float().mean().item()  # random half of the time, right 1/6 of those
    assert 0.3 < differs < 0.53


@pytest.mark.parametrize("forced", [False, True])
def test_dqn_one_env_step_draws_acts_and_skips_the_forward_only_when_every_env_explores(forced, monkeypatch):
    """The per-step semantics of ε-greedy: a uniform action draw, then the coin ``u < ε`` per env, then the greedy
    action where the coin says so — the same actions as an always-computed forward, draw for draw; the forward is
    left out only when every env explores (on the CPU path: the sync-free path never reads the coin)."""
    from agents.algorithms.factory import make_agent
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.methods import build_method
    from envs import make_curriculum
    if forced:
        monkeypatch.setenv("PLASTICITY_SYNC_FREE", "1")
    env = GymnasiumVecEnv(make_curriculum({"tasks": ["breakout"], "steps_per_task": 10**6}, 1, 0))
    cfg = {"name": "dqn", "n_envs": 1, "learning_rate": 1e-3, "batch_size": 16, "buffer_size": 1024,
           "learning_starts": 0}
    model = make_agent(cfg, env, build_method({"name": "adam", "optimizer": "adam"}), 10**6, seed=0, device="cpu")
    model._setup_learn(10**6)  # where the agent takes its device's path
    assert model._sync_free is forced
    forwards = []
    model.q_net.register_forward_hook(lambda *args: forwards.append(1))
    obs = model._last_obs
    for epsilon in (1.0, 0.5, 0.1):
        torch.manual_seed(3)
        got = [int(model._epsilon_greedy(obs, epsilon)) for _ in range(200)]
        calls, forwards[:] = len(forwards), []
        torch.manual_seed(3)
        expected, explored = [], 0
        for _ in range(200):  # the rule written out, the forward always computed
            random = torch.randint(0, 6, (1,))
            explore = torch.rand(1) < epsilon
            with torch.no_grad():
                greedy = model.q_net.forward(obs).argmax(dim=1)
            expected.append(int(torch.where(explore, random, greedy)))
            explored += int(explore)
        forwards[:] = []
        assert got == expected, epsilon
        assert calls == (200 if forced else 200 - explored), epsilon


def test_vectorized_dqn_trains_at_the_replay_ratio_through_hydra(train, tmp_path):
    result = train("agent=dqn", "agent.n_envs=16", "agent.replay_ratio=0.125", "agent.learning_starts=64",
                   "agent.buffer_size=2048", "agent.batch_size=64", "env=breakout", "total_timesteps=2048",
                   "eval.enabled=false", "metrics.enabled=false", "progress=false", "log_every=512",
                   f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-2000:]
    from agents.run.logs import read_csv
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    # 2 updates every vector step of 16 envs once past step 64: (2048 - 64) / 16 vector steps × 2
    assert int(rows[-1]["n_updates"]) == pytest.approx((2048 - 64) // 16 * 2, abs=2)


def test_a_planted_nan_is_caught_by_the_deferred_guard_with_its_update():
    from torch import nn

    from agents.run.guard import NonFiniteError, NonFiniteGuard
    net = nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    guard = NonFiniteGuard(net, opt, lambda: 123, deferred=True)
    for update in range(1, 6):
        opt.zero_grad()
        net(torch.ones(1, 3)).sum().backward()
        if update == 3:
            net.weight.grad[0, 0] = float("inf")
        opt.step()  # no host read here
    # the bad gradient is gone by the time of the read, but its record names it, with its update and step
    with pytest.raises(NonFiniteError, match=r"non-finite gradient of weight at env step 123 \(update 3\)"):
        guard.check()


def test_the_deferred_guard_raises_no_alarm_on_large_finite_values():
    from torch import nn

    from agents.run.guard import NonFiniteGuard
    net = nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=1e-30)
    guard = NonFiniteGuard(net, opt, lambda: 5, deferred=True)
    net.weight.data.fill_(1e30)  # finite, though the 2-norms of weight and gradient overflow float32
    for p in net.parameters():
        p.grad = torch.full_like(p, 1e30)
    opt.step()
    guard.check()  # nothing non-finite: no alarm


@pytest.mark.parametrize("overrides, message", [
    (["env.backend=jax"], "env.backend='jax': valid choices: torch, minatar"),
    (["env.vectorization=subproc"], "env.vectorization='subproc': runs numpy envs in worker processes"),
    (["env=cartpole_dynamics", "+env.backend=torch"], "env.backend='torch': unknown key; valid keys of env: name"),
    (["agent=dqn", "agent.buffer_size=20000000000"], "agent.buffer_size=20000000000: the replay buffer needs"),
    (["agent.n_envs=200000", "agent.n_steps=4096", "agent.batch_size=64"], "agent.n_envs=200000: the rollout buffer"),
    (["agent=dqn", "agent.n_envs=64", "agent.replay_ratio=0.3"], "agent.replay_ratio=0.3: "),
    (["agent=dqn", "agent.optimize_memory_usage=true"], "agent.optimize_memory_usage=True: valid choices: False"),
])
def test_bad_device_path_input_is_one_line_before_anything_is_written(tmp_path, capsys, overrides, message):
    run_dir = tmp_path / "run"
    code, err = cli_in_process([*overrides, f"hydra.run.dir={run_dir}"], capsys)  # scripts/train.py's entry point
    assert code == 2 and message in err, err[-1500:]
    assert len(err.strip().splitlines()) == 1 and not run_dir.exists()
