"""Continuous control with changing dynamics (issue 30): Slippery Ant's friction, its schedule and resume, a Gaussian
policy under CBP, and a short PPO run of every arm of Dohare et al.'s protocol."""

import copy
import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco")

from envs import make_curriculum
from envs.mujoco import Dynamics, MuJoCoVectorEnv, dohare_frictions

ANT = {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.0}
SANT = {"kind": "mujoco", "tasks": [{"game": "ant", "env_kwargs": ANT}], "frictions": {"changes": 4},
        "steps_per_task": 150, "switch": "episode_end"}


def rollout(dynamics=None, floor_only=None, steps=300):
    """Torso x over a fixed random-action rollout of one Ant that is never reset (no unhealthy end)."""
    env = MuJoCoVectorEnv("ant", 1, dynamics=dynamics, env_kwargs={**ANT, "terminate_when_unhealthy": False})
    if floor_only is not None:
        env.envs[0].model.geom_friction[0, 0] = floor_only  # geom 0 is the floor
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    xs = []
    for _ in range(steps):
        env.step(rng.uniform(-1, 1, (1, 8)))
        xs.append(env.envs[0].data.qpos[0])
    return np.array(xs)


def test_friction_acts_on_every_geom_and_a_floor_only_change_below_one_does_nothing():
    default = rollout()
    assert np.array_equal(rollout(floor_only=0.02), default)  # MuJoCo takes the larger friction of the two geoms
    assert np.array_equal(rollout(Dynamics(friction=1.0)), default)  # the model's own sliding friction is 1
    slippery = rollout(Dynamics(friction=0.02))
    assert np.abs(slippery - default).max() > 0.1


def test_after_a_change_the_contacts_report_the_new_friction():
    env = MuJoCoVectorEnv("ant", 1, env_kwargs=ANT)
    env.set_dynamics(Dynamics(friction=0.37))
    env.reset(seed=0)
    for _ in range(20):  # the ant falls onto the floor: contacts appear
        env.step(np.zeros((1, 8)))
    data = env.envs[0].data
    assert data.ncon > 0
    np.testing.assert_allclose(data.contact.friction[:data.ncon, 0], 0.37)
    env.set_dynamics(None)
    env.step(np.zeros((1, 8)))
    np.testing.assert_allclose(env.envs[0].data.contact.friction[:env.envs[0].data.ncon, 0], 1.0)


def test_mass_damping_and_gravity_scale_the_models_own_values():
    env = MuJoCoVectorEnv("hopper", 1)
    model = env.envs[0].model
    mass, damping, gravity = model.body_mass.copy(), model.dof_damping.copy(), model.opt.gravity.copy()
    env.set_dynamics(Dynamics(mass_scale=1.5, damping_scale=3.0, gravity_scale=0.5))
    np.testing.assert_allclose(model.body_mass, 1.5 * mass)
    np.testing.assert_allclose(model.dof_damping, 3.0 * damping)
    np.testing.assert_allclose(model.opt.gravity, 0.5 * gravity)
    env.set_dynamics(None)
    np.testing.assert_allclose(model.body_mass, mass)


def _run(env, steps, seed=0):
    rng = np.random.default_rng(seed)
    log = []
    for _ in range(steps):
        obs, _, terminated, truncated, infos = env.step(rng.uniform(-1, 1, (env.num_envs, 8)).astype(np.float32))
        log.append((env.global_step, int(infos["task_visit"][0]), bool((terminated | truncated).any()),
                    float(env._active.env.geom_friction()[0]), obs.copy()))
    return log


@pytest.mark.parametrize("seed", [3, 250])
def test_frictions_follow_the_seeds_row_and_change_only_at_an_episode_end(seed):
    spec = {**SANT, "tasks": [{"game": "ant", "env_kwargs": ANT, "max_episode_steps": 40}]}
    env = make_curriculum(spec, 1, seed=seed)
    env.reset(seed=seed)
    expected = dohare_frictions(seed, 4)
    if seed < 100:  # Dohare's table: row <seed>, column 0 first
        table = np.loadtxt("envs/data/dohare_sant_frictions.txt")
        np.testing.assert_allclose(expected, table[seed, :4])
    log = _run(env, 700)
    visits = [v for _, v, _, _, _ in log]
    frictions = {v: mu for _, v, _, mu, _ in log}
    assert sorted(frictions) == [0, 1, 2, 3] and [frictions[v] for v in range(4)] == pytest.approx(expected)
    previous_change = 0
    for k in range(1, len(log)):
        if visits[k] != visits[k - 1]:
            step, _, ended, _, _ = log[k]
            assert ended, "a friction change only at an episode end"
            assert step - previous_change >= 150  # more than the segment after the previous change
            assert not any(e for s, _, e, _, _ in log if previous_change + 150 <= s < step)  # the first such end
            previous_change = step


def test_resume_keeps_the_friction_index_and_continues_exactly():
    env = make_curriculum(SANT, 1, seed=5)
    env.reset(seed=5)
    _run(env, 400)
    saved = pickle.dumps(env)
    twin = pickle.loads(saved)
    assert twin.visit.index == env.visit.index >= 1 and twin.visits == env.visits
    a, b = _run(env, 300, seed=7), _run(twin, 300, seed=7)
    assert [x[:4] for x in a] == [x[:4] for x in b]
    assert all(np.array_equal(x[4], y[4]) for x, y in zip(a, b, strict=True))
    # an env that cannot be pickled continues from its position: the same friction, boundaries drifted alike
    fresh = make_curriculum(SANT, 1, seed=5)
    fresh.reset(seed=5)
    fresh.restore_position(env.position())
    assert fresh.visit == env.visit and fresh._active.env.geom_friction()[0] == env._active.env.geom_friction()[0]


def test_a_cbp_replacement_in_a_gaussian_policy_keeps_its_outputs_but_for_the_removed_units():
    from agents.algorithms.factory import make_agent
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.methods import build_method
    env = GymnasiumVecEnv(make_curriculum({**SANT, "steps_per_task": 10**6}, 1, seed=0))
    cfg = {"name": "ppo", "n_envs": 1, "n_steps": 64, "batch_size": 64, "n_epochs": 1,
           "network": {"type": "mlp", "hidden": [32, 32], "separate": True, "init": "lecun"}}
    method = build_method({"name": "cbp", "optimizer": "adam",
                           "units": {"name": "cbp", "replacement_rate": 0.3, "maturity_threshold": 0}})
    model = make_agent(cfg, env, method, 10**6, seed=0, device="cpu")
    model.lr_schedule = lambda _: 0.0  # Adam moves nothing: only the replacement changes the network
    policy = model.policy
    before = policy.fresh_policy()  # the same network, with the parameters from before the update
    before.load_state_dict(copy.deepcopy(policy.state_dict()))
    model.learn(64)
    cbp = method.unit_method
    replaced = {k: v for k, v in cbp.last_replaced.items() if v.numel()}
    assert replaced and {k.split(".")[1] for k in replaced} == {"policy_net", "value_net"}  # both networks
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(16, 27)), dtype=torch.float32)
    with torch.no_grad():
        expected = policy.fresh_policy()
        expected.load_state_dict(before.state_dict())
        for name, units in replaced.items():
            for consumer in cbp.graph[name].consumers:
                expected.get_submodule(consumer.name).weight[consumer.outgoing(units)] = 0.0
        torch.testing.assert_close(policy.outputs(obs), expected.outputs(obs), rtol=0, atol=1e-6)
        torch.testing.assert_close(policy.log_std, before.log_std)
        for name, units in replaced.items():  # the new incoming weights have no influence yet
            policy.get_submodule(name).weight[units] += 1.0
        torch.testing.assert_close(policy.outputs(obs), expected.outputs(obs), rtol=0, atol=1e-6)


def test_every_arm_of_the_slippery_ant_protocol_trains(tmp_path):
    from agents import sweep
    result = sweep(["experiment=dohare_sant_smoke", "progress=false", f"hydra.sweep.dir={tmp_path}",
                    "hydra.sweep.subdir=${method.name}"])
    assert [r.status for r in result.runs] == ["completed"] * 5
    from agents.run.logs import read_csv
    for arm in ("adam", "adam_equal_betas", "l2_sant", "cbp_dohare_ppo", "adamo"):
        tasks = read_csv(tmp_path / arm / "tasks.csv")
        assert [t["task_name"] for t in tasks] == [f"ant_mu{mu:.4g}" for mu in dohare_frictions(0, 3)], arm
        metrics = read_csv(tmp_path / arm / "plasticity.csv")
        assert any(r["metric"] == "dormant_tau0" for r in metrics), arm


def test_the_mujoco_benchmark_builds_both_sides_at_dohares_settings(tmp_path):
    """scripts/bench_mujoco.py's pieces: the env-only ceiling runs, and SB3's and our PPO get the same settings."""
    from agents.bench import mujoco as bench
    assert bench.time_env(2, 64) > 0
    sb3, ours = bench.sb3_model(2), bench.ours_run(2, 2048, str(tmp_path)).model
    for model in (sb3, ours):
        assert (model.n_steps, model.batch_size, model.n_epochs, model.learning_rate) == (1024, 128, 10, 1e-4)
        assert model.ent_coef == 0.0 and model.vf_coef == 1.0
    assert ours.env.num_envs == sb3.env.num_envs == 2
