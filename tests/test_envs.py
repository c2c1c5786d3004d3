"""Transforms, CartPole and ALE curricula, the Seaquest guard, evaluation envs, presets and gym ids."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from envs import PRESETS, CartPoleVectorEnv, MinAtarVectorEnv, make_curriculum
from envs.transforms import TransformedVectorEnv, build_transform

CONF = Path(__file__).resolve().parents[1] / "conf"
MINATAR = ((10, 10, 10), 6, True)


def transform(spec, space=MINATAR, seed=0):
    t = build_transform(spec, *space)
    t.resample(np.random.default_rng(seed))
    return t


def test_permuted_actions_reproduce_the_original_env_under_the_inverse_permutation():
    t = transform({"type": "action_permutation"}, seed=3)
    assert sorted(t.perm.tolist()) == list(range(6)) and (t.perm != np.arange(6)).any()
    inverse = np.argsort(t.perm)
    a = MinAtarVectorEnv("breakout", 4, sticky_action_prob=0.0)
    b = TransformedVectorEnv(MinAtarVectorEnv("breakout", 4, sticky_action_prob=0.0), [t])
    oa, _ = a.reset(seed=1)
    ob, _ = b.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(300):
        act = rng.integers(0, 6, 4)
        oa, ra, ta, _, _ = a.step(act)
        ob, rb, tb, _, _ = b.step(inverse[act])  # the agent picks inverse[a] → executes perm[inverse[a]] = a
        assert (oa == ob).all() and (ra == rb).all() and (ta == tb).all()


def test_observation_permutations_are_bijections():
    obs = np.random.default_rng(0).random((3, 10, 10, 10))
    for spec in ({"type": "channel_permutation"}, {"type": "pixel_permutation"}):
        t = transform(spec, seed=5)
        out = t.observation(obs)
        assert out.shape == obs.shape and not np.array_equal(out, obs)
        assert np.array_equal(np.sort(out.ravel()), np.sort(obs.ravel()))
    ch = transform({"type": "channel_permutation"}, seed=5)
    assert np.array_equal(ch.observation(obs)[..., np.argsort(ch.perm)], obs)
    px = transform({"type": "pixel_permutation"}, seed=5)
    back = px.observation(obs).reshape(3, 100, 10)[:, np.argsort(px.perm)].reshape(obs.shape)
    assert np.array_equal(back, obs)
    first = px.observation(obs)[..., 0].reshape(3, 100)
    assert all(np.array_equal(px.observation(obs)[..., c].reshape(3, 100),
                              obs[..., c].reshape(3, 100)[:, px.perm]) for c in range(10)) and first.shape
    chw = build_transform({"type": "channel_permutation", "permutation": [1, 0, 2, 3]}, (4, 84, 84), 18, False)
    frames = np.arange(2 * 4 * 84 * 84).reshape(2, 4, 84, 84)
    assert np.array_equal(chw.observation(frames)[:, 0], frames[:, 1])


def test_reward_transforms():
    r = np.array([-2.0, 0.0, 3.0])
    assert np.array_equal(transform({"type": "reward_scale", "scale": -1}).reward(r), -r)
    assert np.array_equal(transform({"type": "reward_scale", "scale": 0.5}).reward(r), 0.5 * r)
    assert np.array_equal(transform({"type": "reward_shift", "offset": 1}).reward(r), r + 1)
    assert np.array_equal(transform({"type": "reward_clip", "low": -1, "high": 1}).reward(r), [-1, 0, 1])
    assert np.array_equal(transform({"type": "reward_sign"}).reward(r), [-1, 0, 1])


def test_sticky_actions_transform_repeats_with_its_probability():
    t = transform({"type": "sticky_actions", "prob": 0.25})
    t.action(np.zeros(1000, dtype=int))
    repeated = np.mean(t.action(np.ones(1000, dtype=int)) == 0)
    assert abs(repeated - 0.25) < 0.05


def test_a_new_action_permutation_every_visit_deterministic_from_the_seed():
    spec = {**PRESETS["breakout_action_perm"], "steps_per_task": 8, "cycles": 4}

    def perms(seed):
        env = make_curriculum(spec, num_envs=2, seed=seed)
        env.reset()
        out = []
        for _ in range(16):
            env.step(np.zeros(2, dtype=int))
            out.append(tuple(env.tasks[0].transforms[0].perm))
        return out[0::4]  # the permutation in force during each visit (4 vector steps per visit)

    a, b, c = perms(0), perms(0), perms(1)
    assert a == b and a != c and len(set(a)) == 4


def _unpermuted(env) -> np.ndarray:
    """The active game's own observation, channels in the game's order."""
    base = env._env_for(env.visit.task_id)
    if hasattr(base, "set_channel_map"):  # torch backend: the permutation is fused into rendering; render without it
        mapping, base.game._channel_map = base.game._channel_map, None
        obs = base.game.render().numpy()
        base.game._channel_map = mapping
        return obs
    return base._obs


@pytest.mark.parametrize("backend", ["torch", "minatar"])
def test_the_adamo_protocol_permutes_channels_per_visit_and_orders_games_randomly(backend):
    env = make_curriculum({**PRESETS["minatar_adamo"], "steps_per_task": 8, "cycles": 3, "backend": backend},
                          num_envs=2, seed=7)
    orders = [tuple(v.task_id for v in env.visits[c * 4:(c + 1) * 4]) for c in range(3)]
    assert all(sorted(o) == [0, 1, 2, 3] for o in orders) and len(set(orders)) > 1
    env.reset()
    perms = []
    for _ in range(12 * 4):
        obs, *_ = env.step(np.zeros(2, dtype=int))
        perm = env.task.transforms[0].perm
        assert np.array_equal(np.asarray(obs), _unpermuted(env)[..., perm])
        perms.append(tuple(perm))
    assert len(set(perms)) == 12  # a fresh permutation at every one of the 12 visits


@pytest.mark.parametrize("bad, message", [
    ({"transforms": [{"type": "blur"}]}, "env.transforms[0].type='blur': valid choices: reward_scale"),
    ({"transforms": [{"type": "action_permutation", "permutation": [0, 1, 2]}]},
     "env.transforms[0].permutation=[0, 1, 2]: must be a permutation of 0..5 (6 items)"),
    ({"transforms": [{"type": "channel_permutation", "permutation": [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]}]},
     "env.transforms[0].permutation=[0, 0, 1, 2, 3, 4, 5, 6, 7, 8]: must be a permutation of 0..9"),
    ({"transforms": [{"type": "reward_scale", "factor": 2}]}, "env.transforms[0].scale=None: is required"),
    ({"kind": "ale", "tasks": ["pacmann"]}, "env.tasks[0].game='pacmann': unknown ale game"),
    ({"kind": "classic", "tasks": ["acrobot"]}, "env.tasks[0].game='acrobot': unknown classic game; valid games: "
                                                "cartpole"),
    ({"kind": "classic", "tasks": [{"game": "cartpole", "gravity": -1.0}]}, "env.tasks[0].gravity=-1.0: must be > 0"),
    ({"tasks": [{"game": "breakout", "gravity": 2.0}]}, "env.tasks[0].gravity=2.0: unknown key"),
    ({"stall_steps": 0}, "env.stall_steps=0: must be >= 1"),
])
def test_bad_curriculum_configs_fail_clearly(bad, message):
    spec = {"kind": "minatar", "tasks": ["breakout"], "steps_per_task": 10, **bad}
    with pytest.raises(ValueError) as err:
        make_curriculum(spec, num_envs=2)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_cartpole_matches_gymnasium_and_physics_change_the_dynamics():
    ours = CartPoleVectorEnv(3)
    refs = [gym.make("CartPole-v1") for _ in range(3)]
    obs, _ = ours.reset(seed=4)
    ref_obs = [e.reset(seed=4 + i)[0] for i, e in enumerate(refs)]
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert np.allclose(obs, np.stack(ref_obs), atol=1e-5)
        act = rng.integers(0, 2, 3)
        obs, r, te, tr, infos = ours.step(act)
        for i, e in enumerate(refs):
            o, rr, t, trr, _ = e.step(int(act[i]))
            assert (rr, t, trr) == (r[i], te[i], tr[i])
            if t or trr:
                assert np.allclose(infos["final_obs"][i], o, atol=1e-5)
                o, _ = e.reset()
            ref_obs[i] = o
    heavy = CartPoleVectorEnv(1, gravity=30.0)
    light = CartPoleVectorEnv(1)
    a, _ = heavy.reset(seed=0)
    b, _ = light.reset(seed=0)
    for _ in range(5):
        a = heavy.step([1])[0]
        b = light.step([1])[0]
    assert not np.allclose(a, b)


def test_cartpole_curriculum_switches_physics():
    env = make_curriculum({**PRESETS["cartpole_dynamics"], "steps_per_task": 20}, num_envs=2)
    env.reset(seed=0)
    names = set()
    for _ in range(40):
        names.add(env.step(np.ones(2, dtype=int))[4]["task_name"][0])
    assert names == {"cartpole", "cartpole_long_pole", "cartpole_heavy_gravity", "cartpole_weak_motor"}
    assert env._env_for(1).length == 1.5 and env._env_for(2).gravity == 20.0


def test_ale_curriculum_steps_with_standard_preprocessing():
    env = make_curriculum({**PRESETS["ale_abbas"], "steps_per_task": 40, "max_num_frames_per_episode": 200},
                          num_envs=2, seed=0)
    obs, infos = env.reset()
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8 and env.single_action_space.n == 18
    ended = 0
    for _ in range(30):  # 20 vector steps per visit: visit 1 (Atlantis) at the end
        obs, _r, te, tr, infos = env.step(np.full(2, 1))
        if (te | tr).any():
            ended += 1
            i = int(np.flatnonzero(te | tr)[0])
            assert infos["final_obs"][i].shape == (4, 84, 84)
    assert ended and infos["task_name"][0] == "atlantis"


def test_seaquest_guard_ends_stalled_episodes_at_the_limit():
    guarded = MinAtarVectorEnv("seaquest", 4, stall_steps=30, stall_min_return=0.1)
    guarded.reset(seed=0)
    for step in range(1, 31):
        _, _, te, tr, _ = guarded.step(np.zeros(4, dtype=int))  # no-ops: Seaquest scores nothing
        assert tr.all() == (step == 30) and not te.any()
    unguarded = MinAtarVectorEnv("seaquest", 4)
    unguarded.reset(seed=0)
    assert not any(unguarded.step(np.zeros(4, dtype=int))[3].any() for _ in range(60))


def test_eval_envs_cover_every_task_with_its_transforms():
    env = make_curriculum({**PRESETS["breakout_reward_flip"], "steps_per_task": 10}, num_envs=2, seed=0)
    env.reset()
    evals = env.make_eval_envs(3)
    assert [(i, name) for i, name, _ in evals] == [(0, "breakout"), (1, "breakout_negated")]
    negated = evals[1][2]
    assert negated.num_envs == 3 and negated.transforms[0].scale == -1.0


def _yaml(name):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=[f"env={name}", "run_dir=/tmp/x"]))["env"]


def _normal(spec):
    from envs.spec import parse_spec  # the typed spec: a default spelled out equals one left out
    return parse_spec({k: v for k, v in spec.items() if k != "name"}).model_dump()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_hydra_env_options_equal_the_library_presets(name):
    assert _normal(_yaml(name)) == _normal(PRESETS[name])


@pytest.mark.parametrize("env_id", ["PlasticityRL/MinAtarAdamO-v0", "PlasticityRL/MinAtarCChain-v0",
                                    "PlasticityRL/CartPoleDynamics-v0", "PlasticityRL/BreakoutActionPermutation-v0",
                                    "PlasticityRL/SlipperyAnt-v0"])
def test_registered_ids_pass_the_gymnasium_env_checker(env_id):
    from gymnasium.utils.env_checker import check_env
    env = gym.make(env_id, steps_per_task=50)
    check_env(env.unwrapped, skip_render_check=True)
    venv = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", steps_per_task=50)
    obs, infos = venv.reset(seed=0)
    assert obs.shape[0] == 4 and "task_name" in infos


# -- the transforms on tensors (torch MinAtar backend) ------------------------------------------------------------
@pytest.mark.parametrize("spec", [{"type": "action_permutation"}, {"type": "channel_permutation"},
                                  {"type": "pixel_permutation"}, {"type": "reward_scale", "scale": -0.5},
                                  {"type": "reward_shift", "offset": 2}, {"type": "reward_clip", "low": -1, "high": 1},
                                  {"type": "reward_sign"}])
def test_every_transform_does_the_same_on_tensors_as_on_arrays(spec):
    import torch
    t = transform(spec, seed=4)
    rng = np.random.default_rng(0)
    obs, actions, rewards = rng.random((3, 10, 10, 10)), rng.integers(0, 6, 7), rng.normal(size=5) * 3
    for method, x in (("observation", obs), ("action", actions), ("reward", rewards)):
        expected = getattr(t, method)(x)
        got = getattr(t, method)(torch.as_tensor(x))
        assert isinstance(got, torch.Tensor) and np.array_equal(got.numpy(), expected), method


def test_sticky_actions_transform_on_tensors_repeats_with_its_probability_and_follows_its_seed():
    import torch
    t, u = transform({"type": "sticky_actions", "prob": 0.25}, seed=2), transform({"type": "sticky_actions",
                                                                                   "prob": 0.25}, seed=2)
    t.action(torch.zeros(1000, dtype=torch.long)), u.action(torch.zeros(1000, dtype=torch.long))
    a, b = t.action(torch.ones(1000, dtype=torch.long)), u.action(torch.ones(1000, dtype=torch.long))
    assert torch.equal(a, b) and abs(float((a == 0).float().mean()) - 0.25) < 0.05


def test_a_torch_curriculum_applies_its_transforms_like_the_wrapped_game_alone():
    """Breakout with a negated reward and permuted actions and pixels, through the curriculum (which fuses nothing
    here: the pixel permutation comes first), against the transforms applied by hand to a bare torch env."""
    import torch

    from envs.minatar_torch import TorchMinAtarVectorEnv
    spec = {"kind": "minatar", "steps_per_task": 10**6, "tasks": [{"game": "breakout", "transforms": [
        {"type": "pixel_permutation"}, {"type": "channel_permutation"}, {"type": "action_permutation"},
        {"type": "reward_scale", "scale": -1}]}]}
    env = make_curriculum(spec, num_envs=4, seed=3)
    obs, _ = env.reset()
    pixel, channel, action, _ = env.task.transforms
    bare = TorchMinAtarVectorEnv("breakout", 4)
    seed = int(np.random.SeedSequence([3, 0]).generate_state(1)[0] >> 1)  # the curriculum's seed for visit 0
    base, _ = bare.reset(seed=seed)
    assert torch.equal(obs, channel.observation(pixel.observation(base)))
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = torch.as_tensor(rng.integers(0, 6, 4))
        obs, r, *_ = env.step(a)
        base, r_base, *_ = bare.step(torch.as_tensor(action.perm)[a])
        assert torch.equal(obs, channel.observation(pixel.observation(base))) and torch.equal(r, -r_base)


def test_torch_seaquest_guard_and_the_gymnax_preset_cap_episodes():
    import torch

    from envs.minatar_torch import TorchMinAtarVectorEnv
    guarded = TorchMinAtarVectorEnv("seaquest", 4, stall_steps=30, stall_min_return=0.1)
    guarded.reset(seed=0)
    for step in range(1, 31):
        _, _, te, tr, _ = guarded.step(torch.zeros(4, dtype=torch.long))
        assert bool(tr.all()) == (step == 30) and not te.any()
    env = make_curriculum({**PRESETS["minatar_adamo_gymnax"], "steps_per_task": 10**6}, num_envs=2, seed=0)
    caps = {t.name: env._env_for(i).max_episode_steps for i, t in enumerate(env.tasks)}
    assert caps == {"breakout": 1000, "asterix": 1000, "space_invaders": 1000, "freeway": None}
    assert all(env._env_for(i).sticky_action_prob == 0.0 for i in range(4))
