"""The GPU (sync-free) code paths, forced on the CPU with ``PLASTICITY_SYNC_FREE=1`` (plasticity/sync.py), do what
the CPU paths do: every MinAtar game, the replay buffer's writes, PPO's bootstrap, and whole short runs."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from gymnasium import spaces

from envs.minatar_torch import GAMES, TorchMinAtarVectorEnv
from plasticity.sync import ENV_VAR, sync_free


def _forced(monkeypatch, on: bool) -> None:
    if on:
        monkeypatch.setenv(ENV_VAR, "1")
    else:
        monkeypatch.delenv(ENV_VAR, raising=False)


def test_the_switch_is_read_by_constructors(monkeypatch):
    _forced(monkeypatch, False)
    assert not sync_free("cpu") and sync_free("cuda") and sync_free(torch.device("cuda", 1))
    default = TorchMinAtarVectorEnv("seaquest", 2)
    _forced(monkeypatch, True)
    assert sync_free("cpu")
    forced = TorchMinAtarVectorEnv("seaquest", 2)
    assert (default.sync_free, forced.sync_free) == (False, True)
    assert (default.game.fixed_width, forced.game.fixed_width) == (False, True)
    monkeypatch.setenv(ENV_VAR, "0")
    assert not sync_free("cpu")


@pytest.mark.parametrize("game", sorted(GAMES))
def test_every_game_steps_the_same_on_the_forced_path(game, monkeypatch):
    envs = {}
    for on in (False, True):
        _forced(monkeypatch, on)
        envs[on] = TorchMinAtarVectorEnv(game, 16, sticky_action_prob=0.1, max_episode_steps=40)
        envs[on].reset(seed=3)
    actions = np.random.default_rng(1).integers(0, 6, (150, 16))
    ended = 0
    for t, a in enumerate(actions):
        (o0, r0, te0, tr0, i0), (o1, r1, te1, tr1, i1) = envs[False].step(a), envs[True].step(a)
        for x, y, what in ((o0, o1, "obs"), (r0, r1, "reward"), (te0, te1, "terminated"), (tr0, tr1, "truncated"),
                           (i0["final_obs"], i1["final_obs"], "final_obs")):
            assert torch.equal(x, y), f"{game}: {what} differs at step {t}"
        ended += int((te0 | tr0).sum())
    assert ended > 0  # episodes ended, so the masked resets ran


def test_the_replay_buffer_writes_the_same_on_the_forced_path(monkeypatch):
    from agents.algorithms.buffers import DeviceReplayBuffer
    space = spaces.Box(0, 1, (3, 2), dtype=np.float32)
    buffers = {}
    for on in (False, True):
        _forced(monkeypatch, on)
        buffers[on] = DeviceReplayBuffer(50, space, spaces.Discrete(4), device="cpu", n_envs=4)
    assert (buffers[False].sync_free, buffers[True].sync_free) == (False, True)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        obs, nxt, final = (torch.rand((4, 3, 2), generator=g) for _ in range(3))
        ended = torch.rand(4, generator=g) < 0.3
        action, reward = torch.randint(0, 4, (4,), generator=g), torch.randn(4, generator=g)
        for buffer in buffers.values():
            buffer.add(obs, nxt, action, reward, ended.float(), ended=ended, final_obs=final)
    for name in ("observations", "next_observations", "actions", "rewards", "dones"):
        assert torch.equal(getattr(buffers[False], name), getattr(buffers[True], name)), name


def test_ppos_bootstrap_agrees_on_the_forced_path():
    from stable_baselines3.common.env_util import make_vec_env

    from agents.algorithms.ppo import PPO
    from agents.algorithms.vec_env import StepInfo
    from agents.app.train import train  # noqa: F401 - the agents' registrations
    model = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8), n_steps=16, batch_size=32, seed=0)
    rewards, final = torch.randn(8), torch.randn(8, 4)
    truncated = torch.tensor([True, False, True, False, False, False, True, False])
    info = StepInfo(terminated=torch.zeros(8, dtype=torch.bool), truncated=truncated, final_obs=final,
                    may_truncate=True)
    out = {}
    for on in (False, True):
        model._sync_free = on
        out[on] = model._bootstrap(rewards, info)
    torch.testing.assert_close(out[True], out[False], rtol=0, atol=1e-6)
    assert torch.equal(out[True][~truncated], rewards[~truncated]) and not torch.equal(out[True], rewards)


def _final_parameters(run_dir) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(run_dir / "checkpoints" / "final.zip") as z:
        return torch.load(io.BytesIO(z.read("policy.pth")), weights_only=True)


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_a_whole_short_run_is_the_same_on_the_forced_path(agent, tmp_path, monkeypatch):
    from agents import train
    extra = (["agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=1", "method=cbp"]
             if agent == "ppo" else ["agent.learning_starts=32", "agent.buffer_size=500", "method=redo",
                                     "method.units.interval=16"])
    runs = {}
    for on in (False, True):
        _forced(monkeypatch, on)
        steps = 512 if agent == "ppo" else 256
        runs[on] = train([f"agent={agent}", f"total_timesteps={steps}", f"env.steps_per_task={steps // 2}",
                          "progress=false", "metrics.enabled=false", "eval.every=0", *extra,
                          f"hydra.run.dir={tmp_path / str(on)}"])
        assert runs[on].status == "completed"
    assert (runs[False].run_dir / "episodes.csv").read_text() == (runs[True].run_dir / "episodes.csv").read_text()
    a, b = _final_parameters(runs[False].run_dir), _final_parameters(runs[True].run_dir)
    assert a.keys() == b.keys()
    for key in a:  # PPO's bootstrap differs by float rounding (one batched value pass instead of the cut rows)
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-5 if agent == "ppo" else 0)


def _convnet() -> torch.nn.Module:
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(2, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 32), nn.LayerNorm(32),
                         nn.ReLU(), nn.Linear(32, 3))


@pytest.mark.parametrize("optimizer", ["adam", "adamo", "l2_init"])
def test_redo_recycles_the_same_units_the_same_way_on_the_forced_path(optimizer, monkeypatch):
    """The masked writes (fixed shapes: conv filters, flatten groups of H·W inputs, a LayerNorm, optimizer moments,
    per-entry step counts, L2-Init's anchor) give the network, optimizer state and counts of the indexed path."""
    import plasticity
    make = {"adam": lambda ps: torch.optim.Adam(ps, lr=1e-2), "adamo": lambda ps: plasticity.AdamO(ps, lr=1e-2),
            "l2_init": lambda ps: plasticity.L2InitAdam(ps, lr=1e-2)}[optimizer]
    runs = {}
    for on in (False, True):
        _forced(monkeypatch, on)
        model = _convnet()
        opt = make(model.parameters())
        redo = plasticity.ReDo(model, opt, threshold=0.6, interval=5, seed=1)
        assert redo.sync_free is on
        data = torch.Generator().manual_seed(2)
        masks = []
        for _ in range(30):
            x = torch.randn(16, 2, 6, 6, generator=data)
            loss = (model(x) - 1).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if redo.num_steps % 5 == 0:
                masks.append({k: m.clone() for k, m in redo.last_mask.items()})
        runs[on] = model, opt, redo, masks
    (m0, o0, r0, k0), (m1, o1, r1, k1) = runs[False], runs[True]
    assert r0.recycled == r1.recycled and min(r0.recycled.values()) > 0
    for a, b in zip(k0, k1, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # AdamO: the masked path cannot know that a scoring step recycled nothing in a tensor, so that tensor keeps the
    # per-entry bias correction (the same numbers, rounded differently: ≤ 5e-7 here) where the indexed path settles
    for (name, p), q in zip(m0.named_parameters(), m1.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")
        for key, value in o0.state[p].items():
            other = o1.state[q][key]
            if torch.is_tensor(value):
                what = f"{name} {key}"
                torch.testing.assert_close(value, other, rtol=1e-5, atol=1e-6, msg=lambda m, w=what: f"{w}: {m}")
