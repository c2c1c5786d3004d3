"""Plasticity in plain Stable-Baselines3 code (agents.sb3): exact save/load of unit methods, metrics on SB3
policies, curricula in SB3's vectorization, and the misuse refused in one line."""

from __future__ import annotations

import inspect
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env

import plasticity
from agents.sb3 import MetricsCallback, PlasticActorCriticPolicy, PlasticityCallback, attach, make_curriculum_vec_env

UNIT_KWARGS = {"cbp": dict(replacement_rate=0.05, maturity_threshold=5),
               "redo": dict(threshold=0.5, interval=3, score_batch=64)}


def _env(algo):
    return make_vec_env("CartPole-v1", n_envs=2 if algo is PPO else 1, seed=0)


def _model(algo, optimizer: str):
    opt = {} if optimizer == "adam" else dict(optimizer_class=plasticity.AdamO, optimizer_kwargs=dict(coef=1e-3))
    kw = (dict(n_steps=32, batch_size=32, n_epochs=2) if algo is PPO else
          dict(learning_starts=20, train_freq=1, batch_size=16, buffer_size=500, target_update_interval=20))
    return algo("MlpPolicy", _env(algo), seed=0, policy_kwargs=dict(net_arch=[16, 16], **opt), **kw)


def _params(model):
    return [p.detach().clone() for p in model.policy.parameters()]


def _save_and_continue(model, tmp_path):
    """Save, then continue 128 steps in process on a fresh env; returns the parameters after."""
    model.save(tmp_path / "model")
    if isinstance(model, DQN):
        model.save_replay_buffer(tmp_path / "replay")
    model.set_env(_env(type(model)))
    model.set_random_seed(7)
    model.learn(128, reset_num_timesteps=False)
    return _params(model)


def _load(algo, tmp_path):
    model = algo.load(tmp_path / "model", env=_env(algo))
    if algo is DQN:
        model.load_replay_buffer(tmp_path / "replay")
    model.set_random_seed(7)
    return model


@pytest.mark.parametrize("method", ["cbp", "redo"])
@pytest.mark.parametrize("optimizer", ["adam", "adamo"])
@pytest.mark.parametrize("algo", [PPO, DQN])
def test_a_loaded_model_continues_exactly_as_the_uninterrupted_one(algo, optimizer, method, tmp_path):
    model = _model(algo, optimizer)
    unit = attach(model, method, **UNIT_KWARGS[method])
    model.learn(128)
    expected = _save_and_continue(model, tmp_path)
    counts = dict(getattr(unit, "replaced", getattr(unit, "recycled", {})))
    loaded = _load(algo, tmp_path)
    again = attach(loaded)  # the saved method, its state and the optimizer's per-entry records
    assert type(again) is type(unit) and again is not unit
    loaded.learn(128, reset_num_timesteps=False)
    assert sum(counts.values()) > 0  # units were replaced: the per-entry records matter
    assert dict(getattr(again, "replaced", getattr(again, "recycled", {}))) == counts
    for a, b in zip(expected, _params(loaded), strict=True):
        assert torch.equal(a, b)


def test_without_the_helper_torch_adam_loses_the_entry_records_and_says_so(tmp_path):
    model = _model(PPO, "adam")
    attach(model, "cbp", **UNIT_KWARGS["cbp"])
    model.learn(128)
    expected = _save_and_continue(model, tmp_path)
    loaded = _load(PPO, tmp_path)
    with pytest.warns(UserWarning, match="already has state but no per-entry step record") as record:
        plasticity.CBP(loaded.policy, loaded.policy.optimizer, **UNIT_KWARGS["cbp"])
    assert "\n" not in str(record[0].message)
    loaded.learn(128, reset_num_timesteps=False)
    assert max(float((a - b).abs().max()) for a, b in zip(expected, _params(loaded), strict=True)) > 1e-3


def test_the_callback_attaches_and_reattaches_after_a_load_and_refuses_another_method(tmp_path):
    model = _model(PPO, "adamo")
    callback = PlasticityCallback(plasticity.CBP, **UNIT_KWARGS["cbp"])
    model.learn(64, callback=callback)
    first = callback.method
    model.learn(64, callback=PlasticityCallback(plasticity.CBP, **UNIT_KWARGS["cbp"]), reset_num_timesteps=False)
    assert model.plasticity.method is first  # the same live method, not a second one
    with pytest.raises(ValueError, match="carries Attachment") as err:
        attach(model, "redo")
    assert "\n" not in str(err.value)
    model.save(tmp_path / "model")
    loaded = PPO.load(tmp_path / "model", env=_env(PPO))
    assert loaded.plasticity.method is None and loaded.plasticity.saved["method"]["num_steps"] == first.num_steps
    callback = PlasticityCallback(plasticity.CBP, **UNIT_KWARGS["cbp"])
    loaded.learn(64, callback=callback, reset_num_timesteps=False)
    assert callback.method.num_steps > first.num_steps


@pytest.mark.parametrize("bad, match", [(dict(method="bogus"), "valid choices: cbp, redo"),
                                        (dict(method=torch.optim.Adam), "is not a unit method"),
                                        (dict(method="redo", score_with=lambda: None), "is a callable")])
def test_attach_refuses_bad_input_in_one_line(bad, match):
    model = _model(PPO, "adam")
    with pytest.raises((ValueError, TypeError), match=match) as err:
        attach(model, **bad)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="carries no unit method"):
        attach(model)


# -- heads through SB3's policy_kwargs --------------------------------------------------------------------------
def test_the_documented_policy_keeps_the_heads_out_of_the_isometry_step():
    model = PPO(PlasticActorCriticPolicy, "CartPole-v1", n_steps=32, batch_size=32, policy_kwargs=dict(
        net_arch=[16], optimizer_class=plasticity.AdamO, optimizer_kwargs=dict(coef=1e-3)))
    names = {id(p): n for n, p in model.policy.named_parameters()}
    off = [names[id(p)] for g in model.policy.optimizer.param_groups if not g["regularize"] for p in g["params"]]
    assert sorted(off) == ["action_net.bias", "action_net.weight", "value_net.bias", "value_net.weight"]
    from agents.policies import PlasticActorCriticPolicy as documented
    assert documented is PlasticActorCriticPolicy


# -- metrics on SB3 policies ------------------------------------------------------------------------------------
@pytest.mark.parametrize("algo, env", [(PPO, "CartPole-v1"), (PPO, "Pendulum-v1"), (DQN, "CartPole-v1")])
def test_metric_suite_measures_an_sb3_policy_without_touching_the_global_rng(algo, env):
    model = algo("MlpPolicy", env, policy_kwargs=dict(net_arch=[16, 16]), seed=0)
    suite = plasticity.MetricSuite(model.policy)
    x = torch.as_tensor(np.stack([model.observation_space.sample() for _ in range(32)])).float()
    state = torch.get_rng_state()
    row = suite.compute(x, expensive=True)
    assert torch.equal(state, torch.get_rng_state())
    assert np.isfinite(row["entk_erank"]) and np.isfinite(row["feature_erank"])
    if algo is PPO:  # the action head's outputs then the value, deterministic
        n = model.action_space.n if env == "CartPole-v1" else 1
        policy = model.policy
        latent_pi, latent_vf = policy.mlp_extractor(policy.extract_features(x))
        expected = torch.cat([policy.action_net(latent_pi), policy.value_net(latent_vf)], dim=1)
        assert torch.equal(suite.outputs(x), expected) and expected.shape[1] == n + 1
        assert suite.graph.outputs == ["action_net", "value_net"]
        assert "feature_erank" in row and "dormant_tau0.1/mlp_extractor.policy_net.0" in row
    else:
        assert suite.graph.outputs == ["q_net.4"]


def test_metric_suite_takes_a_module_returning_a_tuple_and_a_chosen_feature_layer():
    class Agent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.actor = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
            self.critic = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))

        def forward(self, x):  # a sampled action (int), the logits and the value
            logits = self.actor(x)
            return torch.distributions.Categorical(logits=logits).sample(), logits, self.critic(x)

    x, agent = torch.randn(64, 4), Agent()
    state = torch.get_rng_state()
    actor = plasticity.MetricSuite(agent, feature_layer="actor.0").compute(x)
    assert torch.equal(state, torch.get_rng_state())
    default = plasticity.MetricSuite(agent).compute(x)
    assert actor["feature_norm"] != default["feature_norm"]  # the critic's layer by default: the last reached
    with pytest.raises(ValueError, match=r"valid choices: actor\.0, critic\.0"):
        plasticity.MetricSuite(Agent(), feature_layer="actor").compute(x)


@pytest.mark.parametrize("algo", [PPO, DQN])
def test_the_metrics_callback_writes_to_sb3s_logger_and_changes_nothing_in_training(algo, tmp_path):
    from stable_baselines3.common.logger import configure
    plain = _model(algo, "adam")
    plain.learn(192)
    logged = _model(algo, "adam")
    logged.set_logger(configure(str(tmp_path), ["csv", "tensorboard"]))
    callback = MetricsCallback(every=64, probe_size=32, expensive_every=128)
    logged.learn(192, callback=callback)
    for a, b in zip(_params(plain), _params(logged), strict=True):
        assert torch.equal(a, b)
    assert "dormant_tau0.1" in callback.last
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert "plasticity/dormant_tau0.1" in header and "plasticity/feature_erank" in header
    assert list(tmp_path.glob("events.out.tfevents.*"))
    with pytest.raises(ValueError, match="every=0 must be >= 1"):
        MetricsCallback(every=0)


# -- curricula in SB3's vectorization ---------------------------------------------------------------------------
def test_make_vec_env_on_a_curriculum_id_counts_global_steps_and_draws_one_permutation():
    env_id = "PlasticityRL/BreakoutActionPermutation-v0"
    with pytest.raises(ValueError, match=r"env_kwargs=dict\(num_envs=<n_envs>\)") as err:
        make_vec_env(env_id, n_envs=4, env_kwargs=dict(steps_per_task=200))
    assert "\n" not in str(err.value)
    venv = make_vec_env(env_id, n_envs=4, seed=3, env_kwargs=dict(steps_per_task=200, num_envs=4))
    venv.reset()
    curricula = [e.unwrapped.curriculum for e in venv.envs]
    cut = None
    for t in range(60):
        _, _, dones, _infos = venv.step(np.zeros(4, dtype=np.int64))
        assert len({c.visit.index for c in curricula}) == 1  # lockstep
        if cut is None and curricula[0].visit.index == 1:
            cut = (t + 1) * 4
            assert dones.all()  # every episode in flight ends at the switch (cut, or ended by the game)
            perms = [c.tasks[c.visit.task_id].transforms[0].perm.tolist() for c in curricula]
            assert perms.count(perms[0]) == 4  # the same task variant in every sub-env
    assert cut == 200
    assert [c.env_index_offset for c in curricula] == [3, 4, 5, 6]  # the games: SB3's seed + rank; one curriculum


@pytest.mark.parametrize("build", ["sb3_lambda", "gymnasium_sync"])
def test_single_env_curricula_stepped_side_by_side_without_num_envs_are_refused(build):
    env_id = "PlasticityRL/CartPoleDynamics-v0"
    if build == "sb3_lambda":  # the case: the switch came at 4 x 2000 global steps
        venv = make_vec_env(lambda: gym.make(env_id, steps_per_task=2000), n_envs=4)
        venv.reset()
        step = lambda: venv.step(np.zeros(4, dtype=np.int64))  # noqa: E731
    else:
        venv = gym.make_vec(env_id, num_envs=4, vectorization_mode="sync", steps_per_task=2000)
        venv.reset(seed=0)
        step = lambda: venv.step(np.zeros(4, dtype=np.int64))  # noqa: E731
    with pytest.raises(ValueError, match="4 single-env curricula with the same arguments") as err:
        step()
    assert "\n" not in str(err.value) and "num_envs=" in str(err.value)
    venv.close()
    alone = gym.make(env_id, steps_per_task=2000)  # one env alone (the others closed): fine
    alone.reset(seed=0)
    alone.step(0)
    alone.close()


def test_the_curriculum_adapter_is_an_sb3_vec_env_with_a_synchronized_switch():
    venv = make_curriculum_vec_env("PlasticityRL/MinAtarAdamO-v0", n_envs=4, seed=0, steps_per_task=400, cycles=1)
    obs = venv.reset()
    assert obs.shape == (4, 10, 10, 10) and isinstance(obs, np.ndarray)
    for t in range(100):
        obs, rewards, dones, infos = venv.step(np.zeros(4, dtype=np.int64))
        if t == 99:
            assert dones.all() and all(i["TimeLimit.truncated"] and i["terminal_observation"].shape == (10, 10, 10)
                                       for i in infos)
        else:
            assert {i["task_visit"] for i in infos} == {0}
    assert isinstance(rewards, np.ndarray) and rewards.dtype == np.float32
    model = PPO("MlpPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0)
    model.learn(128)
    with pytest.raises(ValueError, match="valid choices: PlasticityRL/"):
        make_curriculum_vec_env("PlasticityRL/Nope-v0")


def test_the_single_env_transforms_do_what_the_vector_form_does():
    from envs.transforms import TransformedEnv, TransformedVectorEnv, build_transform
    specs = [{"type": "action_permutation"}, {"type": "reward_scale", "scale": -2}]
    single = TransformedEnv(gym.make("CartPole-v1"), specs, seed=5)
    vector = gym.make_vec("CartPole-v1", num_envs=1, vectorization_mode="sync")
    transforms = [build_transform(s, (4,), 2, True) for s in specs]
    for k, t in enumerate(transforms):
        t.resample(np.random.default_rng([5, k, 0x7F]))
    vector = TransformedVectorEnv(vector, transforms)
    a, _ = single.reset(seed=1)
    b, _ = vector.reset(seed=1)
    np.testing.assert_array_equal(a, b[0])
    for action in (0, 1, 1, 0, 1):
        a, ra, *_ = single.step(action)
        b, rb, *_ = vector.step(np.array([action]))
        np.testing.assert_array_equal(a, b[0])
        assert ra == rb[0] == -2.0
    with pytest.raises(ValueError, match="unknown transform type 'bogus'"):
        TransformedEnv(gym.make("CartPole-v1"), [{"type": "bogus"}])


# -- misuse and docstrings --------------------------------------------------------------------------------------
def _net():
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


@pytest.mark.parametrize("make, match", [
    (lambda net, opt: (plasticity.CBP(net, opt), plasticity.CBP(net, opt)), "already runs CBP"),
    (lambda net, opt: (plasticity.CBP(net, opt), plasticity.ReDo(net, opt)), "already runs CBP"),
    (lambda net, opt: plasticity.ReDo(net, opt, threshold=2), r"threshold \(tau\)=2 must be in \[0, 1\)"),
    (lambda net, opt: plasticity.AdamO(net), "is a module; pass its parameters"),
    (lambda net, opt: plasticity.with_regularizers(torch.optim.SGD, plasticity.L2(1e-3))(net, lr=0.1),
     "is a module; pass its parameters"),
])
def test_misuse_is_refused_in_one_line(make, match):
    net = _net()
    with pytest.raises((ValueError, TypeError), match=match) as err:
        make(net, torch.optim.Adam(net.parameters()))
    assert "\n" not in str(err.value)


def test_a_removed_unit_method_frees_its_optimizer_for_another():
    net = _net()
    opt = torch.optim.Adam(net.parameters())
    plasticity.CBP(net, opt).remove()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plasticity.ReDo(net, opt)


@pytest.mark.parametrize("cls", [plasticity.CBP, plasticity.ReDo])
def test_cbp_and_redo_document_every_argument(cls):
    doc = inspect.getdoc(cls)
    for name in inspect.signature(cls.__init__).parameters:
        if name != "self":
            assert f":param {name}:" in doc, f"{cls.__name__} does not document {name}"
    assert "default" in doc and ("Dohare" if cls is plasticity.CBP else "Sokar") in doc


# -- docs/library.md's SB3 section --------------------------------------------------------------------------------
def _sb3_section() -> list[str]:
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[1] / "docs" / "library.md").read_text()
    section = doc[doc.index("## Stable-Baselines3"):]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_every_sb3_snippet_of_the_library_doc_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    snippets = [code for code in _sb3_section() if not code.startswith("# sb3_plasticity.py")]
    assert len(snippets) == 4
    for code in snippets:
        exec(compile(code, "library.md", "exec"), {})
    assert (tmp_path / "ppo_cbp.zip").exists() and list((tmp_path / "runs").glob("PPO_*/events.out.tfevents.*"))


def test_the_complete_sb3_script_trains_logs_and_continues_bit_identically_after_a_load(tmp_path, monkeypatch,
                                                                                         capsys):
    (code,) = [code for code in _sb3_section() if code.startswith("# sb3_plasticity.py")]
    code = re.sub(r"^steps = .*$", "steps = 1_024", code, count=1, flags=re.M)
    code = code.replace("replacement_rate=1e-4, maturity_threshold=1_000",
                        "replacement_rate=1e-2, maturity_threshold=10")  # replacements within 1k steps
    code = code.replace("n_steps=128", "n_steps=32")  # PPO: 256 steps per rollout
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "sb3_plasticity.py", "exec"), {"__name__": "__main__"})
    rows = [line for line in capsys.readouterr().out.splitlines() if "continued after load" in line]
    assert len(rows) == 2 and all(r.endswith("uninterrupted: True") for r in rows), rows
    assert all(int(re.search(r"units replaced (\d+)", r).group(1)) > 0 for r in rows)
    assert all("task visit 4" in r for r in rows), rows  # a switch every 256 steps: four in 1,024
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / "runs" / "ppo")).Reload()
    assert "plasticity/dormant_tau0.1" in events.Tags()["scalars"]
