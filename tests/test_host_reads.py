"""No host reads on the sync-free (GPU) path (issue 32 item 2): with ``PLASTICITY_SYNC_FREE=1`` the env step, rollout
collection with its buffer writes, the optimizer step with CBP and AdamO, and the deferred guard run without an
operation that makes the host wait for the device (``item``/``float``, ``nonzero``, a boolean index, ``equal``,
``masked_select``, ``unique``). A ``TorchDispatchMode`` sees every aten operation, so a new read anywhere in those
paths fails here with the project line that made it. Reads of tensors that live on the host by design (torch
Adam's scalar step counts, which stay on the CPU for a CUDA parameter) are allowed by identity.

One-time reads (the first update's count of CBP's mature units, the first reset's conversion of AdamO's one step
count to per-entry counts, per-entry step counts after a load) fall outside the windows watched.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import plasticity
from envs.minatar_torch import TorchMinAtarVectorEnv
from envs.names import MINATAR_GAMES

ROOT = Path(__file__).resolve().parents[1]
aten = torch.ops.aten
READS = {aten._local_scalar_dense, aten.nonzero, aten.is_nonzero, aten.equal, aten.masked_select, aten._unique2,
         aten.unique_dim, aten.unique_consecutive}
INDEXING = {aten.index, aten.index_put, aten.index_put_, aten._index_put_impl_}
PROJECT = tuple(str(ROOT / d) for d in ("agents", "envs", "plasticity"))


def _where() -> str:
    """The innermost project line on the stack (else the innermost line outside torch)."""
    frames = traceback.extract_stack()[:-3]
    for frame in reversed(frames):
        if frame.filename.startswith(PROJECT):
            return f"{Path(frame.filename).relative_to(ROOT)}:{frame.lineno}"
    return next((f"{f.filename}:{f.lineno}" for f in reversed(frames) if "/torch/" not in f.filename), "?")


class HostReads(TorchDispatchMode):
    """Records every aten operation that reads a tensor's values on the host, by the project line that asked."""

    def __init__(self, host_resident: Callable[[], list[torch.Tensor]] = list):
        super().__init__()
        self.host_resident = host_resident
        self.reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = func.overloadpacket
        read = packet in READS or (packet in INDEXING and any(
            i is not None and i.dtype == torch.bool for i in args[1]))
        if read and not (packet is aten._local_scalar_dense and any(
                args[0].data_ptr() == t.data_ptr() for t in self.host_resident())):
            self.reads.append(f"{packet.__name__} at {_where()}")
        return func(*args, **(kwargs or {}))


def adam_steps(*optimizers: torch.optim.Optimizer) -> Callable[[], list[torch.Tensor]]:
    """torch Adam's scalar step counts: CPU tensors whatever the parameter's device (unless capturable/fused)."""
    return lambda: [s["step"] for o in optimizers for s in o.state.values()
                    if torch.is_tensor(s.get("step")) and s["step"].ndim == 0 and s["step"].device.type == "cpu"]


@pytest.fixture(autouse=True)
def forced(monkeypatch):
    monkeypatch.setenv("PLASTICITY_SYNC_FREE", "1")


@pytest.mark.parametrize("game", MINATAR_GAMES)
def test_the_env_step_reads_nothing_back(game):
    env = TorchMinAtarVectorEnv(game, 16, max_episode_steps=30)
    env.reset(seed=0)
    with HostReads() as mode:
        for _ in range(60):  # through episode ends, cut episodes and resets
            env.step(torch.randint(0, 6, (16,)))
    assert mode.reads == []


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    for _ in range(steps):
        x = torch.randn(16, 8)
        loss = model(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("optimizer", ["adam", "adamo"])
def test_cbp_chooses_and_replaces_units_without_a_read(optimizer):
    """Units replaced at every step (a low maturity, a high rate), per-entry Adam corrections on torch Adam, AdamO's
    per-entry step counts and their settle check (every 64 steps), the deferred guard's record: no read in 70
    steps."""
    from agents.run.guard import NonFiniteGuard
    model = _mlp()
    opt = (torch.optim.Adam if optimizer == "adam" else plasticity.AdamO)(model.parameters(), lr=1e-3)
    cbp = plasticity.CBP(model, opt, replacement_rate=0.05, maturity_threshold=2)
    guard = NonFiniteGuard(model, opt, step=lambda: 0)
    assert guard.deferred  # the sync-free default
    _train(model, opt, 3)  # the first update counts the units' ages once
    with HostReads(adam_steps(opt)) as mode:
        _train(model, opt, 70)
    assert sum(cbp.replaced.values()) > 70  # units were replaced along the way
    assert mode.reads == []  # AdamO's settle check at the 64th step included: its counts are kept on the host
    guard.check()  # one read, at a rollout start or a log row


def test_cbp_counts_mature_units_as_the_ages_say():
    """The host-side count (cohorts by the update they were replaced at) equals ``#(age > maturity)``, after a
    load too, and the chosen units are the mature ones with the lowest utilities."""
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    cbp = plasticity.CBP(model, opt, replacement_rate=0.1, maturity_threshold=3)
    for step in range(40):
        _train(model, opt, 1)
        for name, age in cbp.age.items():
            assert cbp._mature[name] == int((age > 3).sum()), (step, name)
        if step == 20:  # a round trip through the state: the count is rebuilt from the ages
            state = cbp.state_dict()
            cbp.load_state_dict(state)
    for name, units in cbp.last_replaced.items():
        assert units.numel() == 0 or bool((cbp.age[name][units] == 0).all())


@pytest.mark.parametrize("optimizer", ["adam", "adamo"])
def test_redo_chooses_and_recycles_units_without_a_read(optimizer):
    """τ = 0.5 every 10 steps recycles units at each scoring step: masks over fixed shapes, counts on the device."""
    model = _mlp()
    opt = (torch.optim.Adam if optimizer == "adam" else plasticity.AdamO)(model.parameters(), lr=1e-3)
    redo = plasticity.ReDo(model, opt, threshold=0.5, interval=10)
    assert redo.sync_free
    _train(model, opt, 10)  # the first scoring step: AdamO's one step count becomes per entry (one read, once)
    with HostReads(adam_steps(opt)) as mode:
        _train(model, opt, 70)
    assert mode.reads == []
    assert sum(redo.recycled.values()) > 7  # units were recycled along the way (read here, as a logger would)


def _prepared(tmp_path, agent: str):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from agents.training.runner import prepare
    from envs import make_curriculum
    tiny = {"ppo": ["agent.n_envs=8", "agent.n_steps=16", "agent.batch_size=64", "agent.n_epochs=1"],
            "dqn": ["agent=dqn", "agent.n_envs=4", "agent.learning_starts=0", "agent.buffer_size=500"]}[agent]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*tiny, "method=adamo", "env.steps_per_task=100000", "eval.enabled=false",
                                           "metrics.enabled=false", "progress=false", f"run_dir={tmp_path}"])
    r = prepare(OmegaConf.to_container(cfg, resolve=True), make_curriculum)
    r.model.learn(256, callback=r.callback, log_interval=None)  # warm: buffers, optimizer state, first switch
    return r


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_rollout_collection_and_buffer_writes_read_nothing_back(tmp_path, agent):
    """The algorithm's own collection loop (env steps, actions, the buffer writes; callbacks left out: the run's
    logger reads finished episodes by design, once per log row)."""
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
    r = _prepared(tmp_path, agent)
    model, quiet = r.model, CallbackList([])
    quiet.init_callback(model)
    assert model._sync_free
    with HostReads() as mode:
        if agent == "ppo":
            model.collect_rollouts(model.env, quiet, model.rollout_buffer, n_rollout_steps=model.n_steps)
        else:
            model.collect_rollouts(model.env, quiet, TrainFreq(64, TrainFrequencyUnit.STEP), model.replay_buffer)
    assert mode.reads == []
