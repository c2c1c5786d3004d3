import numpy as np
import pytest
from minatar import Environment

from envs import CurriculumVectorEnv, MinAtarEnv, MinAtarVectorEnv, Schedule, make_curriculum, switch_step
from envs.curriculum import CurriculumEnv
from envs.minatar import GAME_CHANNELS


def spec(**kw):
    return {"kind": "minatar", "tasks": ["breakout", "space_invaders", "asterix"], "steps_per_task": 100,
            "cycles": 2, **kw}


@pytest.mark.parametrize("num_envs", [1, 7, 64])
@pytest.mark.parametrize("steps_per_task", [448, 1000])
def test_switch_at_configured_global_step_for_every_env(num_envs, steps_per_task):
    env = make_curriculum(spec(steps_per_task=steps_per_task), num_envs=num_envs, seed=3)
    _, infos = env.reset()
    rng = np.random.default_rng(0)
    seen = {0: 0}  # visit -> global step at which its first observation was returned
    step = 0
    while len(seen) < 6:
        _, _, term, trunc, infos = env.step(rng.integers(0, 6, num_envs))
        step += num_envs
        visits = infos["task_visit"]
        assert (visits == visits[0]).all(), "sub-envs disagree on the task"
        if visits[0] not in seen:
            seen[int(visits[0])] = step
            assert (term | trunc).all(), "an episode survived a task switch"
    for v in range(1, 6):
        nominal = v * steps_per_task
        assert seen[v] == switch_step(nominal, num_envs)
        if nominal % num_envs == 0:
            assert seen[v] == nominal
        assert seen[v] - nominal < num_envs


def test_switch_truncates_with_final_observation_of_old_task():
    env = make_curriculum(spec(tasks=["breakout", "space_invaders"], steps_per_task=40), num_envs=4, seed=0)
    obs, _ = env.reset()
    for _ in range(9):
        obs, _, term, trunc, infos = env.step(np.zeros(4, dtype=int))
    assert infos["task_name"][0] == "breakout"
    obs, _, term, trunc, infos = env.step(np.zeros(4, dtype=int))
    assert infos["task_name"][0] == "space_invaders"
    assert (trunc | term).all() and infos["_final_obs"].all()
    for i in range(4):
        final = infos["final_obs"][i]
        assert final[..., 4:].sum() == 0 and final[..., 3].sum() > 0  # breakout: bricks in channel 3 only
        assert obs[i, ..., 4:].sum() == 0  # space invaders' first frame: aliens in channel 1
        assert obs[i, ..., 1].sum() == 24


def test_order_random_is_seeded_and_a_permutation():
    a = Schedule(10, cycles=5, order="random", seed=1).visits(4)
    b = Schedule(10, cycles=5, order="random", seed=1).visits(4)
    c = Schedule(10, cycles=5, order="random", seed=2).visits(4)
    assert a == b and a != c
    for cycle in range(5):
        assert sorted(v.task_id for v in a if v.cycle == cycle) == [0, 1, 2, 3]
    assert [v.start for v in a] == list(range(0, 200, 10))


@pytest.mark.parametrize("bad, message", [
    (dict(tasks=[]), "env.tasks=[]: the curriculum needs at least one task"),
    (dict(tasks=["pong"]), "env.tasks[0].game='pong': unknown minatar game; valid games: asterix, breakout"),
    (dict(steps_per_task=0), "env.steps_per_task=0: must be >= 1"),
    (dict(cycles=0), "env.cycles=0: must be >= 1"),
    (dict(order="shuffled"), "env.order='shuffled': valid choices: fixed, random"),
    (dict(kind="procgen"), "env.kind='procgen': valid choices: minatar, ale, classic"),
    (dict(vectorization="ray"), "env.vectorization='ray': valid choices: batched, subproc"),
    (dict(colour="red"), "env.colour='red': unknown key"),
])
def test_bad_curriculum_specs_fail_clearly(bad, message):
    with pytest.raises(ValueError) as err:
        make_curriculum(spec(**bad), num_envs=2)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("game", ["breakout", "space_invaders", "seaquest"])
def test_padded_env_reproduces_reference_minatar(game):
    env, ref = MinAtarEnv(game), Environment(game)
    obs, _ = env.reset(seed=5)
    ref.seed(5)
    ref.reset()
    c = GAME_CHANNELS[game]
    rng = np.random.default_rng(0)
    for _ in range(2000):
        assert (obs[..., :c] == ref.state()).all() and not obs[..., c:].any()
        a = int(rng.integers(6))
        obs, r, term, _, _ = env.step(a)
        r_ref, term_ref = ref.act(a)
        assert (r, term) == (r_ref, term_ref)
        if term:
            obs, _ = env.reset()
            ref.reset()


@pytest.mark.parametrize("game", ["asterix", "breakout", "freeway", "seaquest", "space_invaders"])
@pytest.mark.parametrize("vectorized", [True, False])
def test_batched_env_matches_single_envs_step_for_step(game, vectorized):
    n = 5
    venv = MinAtarVectorEnv(game, n, vectorized=vectorized)
    singles = [MinAtarEnv(game) for _ in range(n)]
    obs, _ = venv.reset(seed=10)
    single_obs = [e.reset(seed=10 + i)[0] for i, e in enumerate(singles)]
    rng = np.random.default_rng(1)
    for _ in range(1500):
        assert all((obs[i] == single_obs[i]).all() for i in range(n))
        actions = rng.integers(0, 6, n)
        obs, rewards, term, _trunc, infos = venv.step(actions)
        for i, e in enumerate(singles):
            o, r, t, _, _ = e.step(actions[i])
            assert (r, t) == (rewards[i], term[i])
            if t:
                assert (infos["final_obs"][i] == o).all()
                o, _ = e.reset()
            single_obs[i] = o


def test_subprocess_workers_reproduce_the_batched_curriculum():
    s = spec(tasks=["breakout", "space_invaders"], steps_per_task=60, backend="minatar")
    batched = make_curriculum(s, num_envs=3, seed=4)
    subproc = make_curriculum({**s, "vectorization": "subproc"}, num_envs=3, seed=4)
    try:
        a, _ = batched.reset(seed=4)
        b, _ = subproc.reset(seed=4)
        rng = np.random.default_rng(2)
        for _ in range(60):
            assert (a == b).all()
            actions = rng.integers(0, 6, 3)
            a, ra, ta, tra, ia = batched.step(actions)
            b, rb, tb, trb, ib = subproc.step(actions)
            assert (ra == rb).all() and (ta == tb).all() and (tra == trb).all()
            assert (ia["task_visit"] == ib["task_visit"]).all()
        assert ia["task_visit"][0] == 3  # 60 vector steps × 3 envs = 180 global steps
    finally:
        subproc.close()


def test_single_env_view_follows_gymnasium_contract():
    from gymnasium.utils.env_checker import check_env

    from envs.factory import schedule_from_spec, tasks_from_spec
    s = spec(tasks=["breakout", "freeway"], steps_per_task=30, backend="minatar")  # a single env hands numpy
    env = CurriculumEnv(tasks_from_spec(s), schedule_from_spec(s, 0))
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    for _step in range(1, 31):
        _, _, term, trunc, info = env.step(0)
        if term:
            env.reset()
    assert trunc and info["task_name"] == "breakout"
    _, info = env.reset()
    assert info["task_name"] == "freeway"


def test_tasks_sharing_a_game_share_one_env_instance():
    env = make_curriculum(spec(tasks=["breakout", "breakout"]), num_envs=2)
    assert isinstance(env, CurriculumVectorEnv) and len(env._envs) == 1
