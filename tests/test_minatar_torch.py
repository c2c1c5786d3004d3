"""The torch MinAtar games against the reference ``minatar`` package (tests/minatar_oracle.py is the harness)."""

import pickle

import numpy as np
import pytest
import torch
from minatar_oracle import Lockstep, scramble
from scipy import stats

from envs.minatar_torch import GAMES, TorchMinAtarVectorEnv
from envs.minatar_vector import MinAtarVectorEnv

# game → (envs, steps): at least 10,000 transitions each; Freeway's episodes last 2,500 steps
LOCKSTEP = {"breakout": (8, 1300), "space_invaders": (8, 1300), "asterix": (8, 1300), "freeway": (4, 2600),
            "seaquest": (8, 1300)}
UP = 2


@pytest.mark.slow
@pytest.mark.parametrize("game", sorted(GAMES))
def test_transitions_equal_the_references_when_fed_its_draws(game):
    """Sticky actions and ramping on; at ~70 % of episode starts both sides are moved to the same random late-game
    state (ramped difficulty, few bricks or aliens, divers on board, …), so the rare branches are exercised too.
    Observations, rewards and terminals are compared at every step, the hidden states every second step."""
    n, steps = LOCKSTEP[game]
    lockstep = Lockstep(game, n, seed=3)
    lockstep.reset()
    rng = np.random.default_rng(11)
    episodes = reward = 0
    for t in range(steps):
        actions = rng.integers(0, 6, n)
        if game == "freeway":  # mostly up: crossings (and their car draws) happen
            actions = np.where(rng.random(n) < 0.6, UP, actions)
        out = lockstep.step(actions)
        for key in ("reward", "terminal", "final_obs", "obs"):
            assert np.array_equal(out["ref"][key], out["ours"][key]), f"{game}: {key} differs at step {t}"
        assert not out["ours"]["truncated"].any()
        if t % 2:
            lockstep.assert_same_states()
        ended = out["ref"]["terminal"]
        episodes, reward = episodes + int(ended.sum()), reward + float(out["ref"]["reward"].sum())
        if ended.any():
            for i in np.flatnonzero(ended):
                if rng.random() < 0.7:
                    scramble(game, lockstep.refs[i].env, rng)
            lockstep.load_reference_states()
    assert episodes >= 4 and reward > 0, (episodes, reward)
    assert int(getattr(lockstep.torch.game, "overflow", torch.zeros(1)).sum()) == 0


def random_episodes(env, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the random-policy episodes finished within ``steps`` vector steps."""
    n = env.num_envs
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    ret, length = np.zeros(n), np.zeros(n, dtype=int)
    returns, lengths = [], []
    for _ in range(steps):
        _, r, term, trunc, _ = env.step(rng.integers(0, 6, n))
        r, done = np.asarray(r), np.asarray(term) | np.asarray(trunc)
        ret, length = ret + r, length + 1
        returns += ret[done].tolist()
        lengths += length[done].tolist()
        ret[done], length[done] = 0, 0
    return np.array(returns), np.array(lengths)


@pytest.mark.slow
@pytest.mark.parametrize("game", sorted(GAMES))
def test_random_policy_episodes_match_the_reference_in_distribution(game):
    """Own random streams on both sides: mean return and length of random-policy episodes agree (Welch's t-test,
    p > 0.001)."""
    n, steps = (64, 2600) if game == "freeway" else (64, 1000)
    ours = random_episodes(TorchMinAtarVectorEnv(game, n), steps, seed=1)
    theirs = random_episodes(MinAtarVectorEnv(game, n, vectorized=False), steps, seed=1)
    for what, a, b in zip(("return", "length"), ours, theirs, strict=True):
        assert len(a) >= 60 and len(b) >= 60, (what, len(a), len(b))
        if a.std() == 0 and b.std() == 0:
            assert a.mean() == b.mean(), what
            continue
        p = stats.ttest_ind(a, b, equal_var=False).pvalue
        assert p > 1e-3, f"{game}: random-policy {what} {a.mean():.3f} vs reference {b.mean():.3f} (p = {p:.2g})"


def rollout(env: TorchMinAtarVectorEnv, steps: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        obs, reward, term, _trunc, _ = env.step(torch.randint(0, 6, (env.num_envs,), generator=g))
        out += [obs.clone(), reward.clone(), term.clone()]
    return out


@pytest.mark.parametrize("game", sorted(GAMES))
def test_trajectories_follow_the_seed_and_survive_pickling(game):
    a, b, c = (TorchMinAtarVectorEnv(game, 16) for _ in range(3))
    a.reset(seed=5), b.reset(seed=5), c.reset(seed=6)
    first = rollout(a, 30)
    assert all(torch.equal(x, y) for x, y in zip(first, rollout(b, 30), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(first, rollout(c, 30), strict=True))
    copy = pickle.loads(pickle.dumps(a))  # what a checkpoint keeps: game state, generator, sticky action
    assert all(torch.equal(x, y) for x, y in zip(rollout(a, 40, 1), rollout(copy, 40, 1), strict=True))


def test_episode_cap_truncates_with_the_last_observation():
    env = TorchMinAtarVectorEnv("space_invaders", 4, max_episode_steps=5)
    env.reset(seed=0)
    for t in range(1, 6):
        obs, _, term, trunc, infos = env.step(torch.ones(4, dtype=torch.long))  # left: the cannon moves
        assert not term.any()
        assert bool(trunc.all()) == (t == 5) and torch.equal(infos["_final_obs"], trunc)
    assert not torch.equal(infos["final_obs"], obs)  # the last frame of the old episode, then the first of a new one
    first, _ = TorchMinAtarVectorEnv("space_invaders", 4).reset(seed=0)
    assert torch.equal(obs, first)


def test_observations_handed_out_are_never_overwritten():
    env = TorchMinAtarVectorEnv("breakout", 8)
    env.reset(seed=0)
    kept = []
    for _ in range(12):  # more steps than the env keeps buffers
        obs, *_ = env.step(torch.randint(0, 6, (8,)))
        kept.append((obs, obs.clone()))
    assert all(torch.equal(a, b) for a, b in kept)


@pytest.mark.parametrize("kwargs, message", [
    ({"game": "pong"}, "unknown MinAtar game 'pong'"),
    ({"device": "tpu"}, "device='tpu'"),
    ({"num_envs": 0}, "num_envs=0"),
    ({"sticky_action_prob": 1.5}, "sticky_action_prob=1.5"),
])
def test_bad_arguments_fail_clearly(kwargs, message):
    args = {"game": "breakout", "num_envs": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        TorchMinAtarVectorEnv(**args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_one_line_error():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        TorchMinAtarVectorEnv("breakout", 4, device="cuda")


@pytest.mark.parametrize("game", sorted(GAMES))
def test_cuda_transitions_equal_the_reference(game, gpu_device):
    lockstep = Lockstep(game, 8, seed=4, device=gpu_device)
    lockstep.reset()
    rng = np.random.default_rng(2)
    for t in range(300):
        out = lockstep.step(rng.integers(0, 6, 8))
        for key in ("reward", "terminal", "final_obs", "obs"):
            assert np.array_equal(out["ref"][key], out["ours"][key]), f"{game}: {key} differs at step {t}"


def scenario(game: str, setup, actions: list[int], sticky: float = 0.0) -> Lockstep:
    """One env on both sides, moved by ``setup(reference_game)`` into a hand-made state, stepped with ``actions``."""
    lockstep = Lockstep(game, 1, seed=9, sticky_action_prob=sticky)
    lockstep.reset()
    setup(lockstep.refs[0].env)
    lockstep.load_reference_states()
    for t, action in enumerate(actions):
        out = lockstep.step(np.array([action]))
        for key in ("reward", "terminal", "final_obs", "obs"):
            assert np.array_equal(out["ref"][key], out["ours"][key]), f"{game}: {key} differs at step {t}"
        lockstep.assert_same_states()
    return lockstep


def test_seaquest_a_sub_hit_in_its_own_move_still_fires():
    def setup(env):
        env.e_subs = [[3, 4, True, 0, 0]]  # moves right onto (4, 4) and its shot is due
        env.f_bullets = [[5, 4, False]]    # flies left onto (4, 4)
    lockstep = scenario("seaquest", setup, [0])
    assert lockstep.refs[0].env.e_subs == [] and len(lockstep.refs[0].env.e_bullets) == 1


def test_seaquest_surfacing_with_six_divers_pays_the_oxygen_and_leaves_minus_one():
    def setup(env):
        env.diver_count, env.oxygen, env.sub_y, env.surface = 6, 157, 1, False
    lockstep = scenario("seaquest", setup, [2, 0])  # up: surface
    assert lockstep.refs[0].env.diver_count == -1


def test_seaquest_crowded_cells_resolve_in_the_references_order():
    def setup(env):
        env.e_fish = [[6, 3, False, 0], [6, 3, False, 0], [4, 3, True, 0]]  # two fish meet one coming the other way
        env.e_subs = [[6, 3, False, 0, 3], [4, 3, True, 0, 5]]
        env.f_bullets = [[4, 3, True], [7, 3, False]]
        env.divers = [[5, 1, True, 0], [5, 1, False, 0]]
        env.sub_x, env.sub_y, env.diver_count = 5, 1, 5  # room for one diver only
    scenario("seaquest", setup, [0, 0, 5, 0])


def test_space_invaders_formation_wraps_past_the_bottom_in_the_terminal_frame():
    def setup(env):
        env.alien_map[:] = 0
        env.alien_map[9, 0] = 1
        env.alien_dir, env.alien_move_timer = -1, 0
    scenario("space_invaders", setup, [0])


def test_asterix_spawn_with_every_slot_taken_draws_no_slot():
    def setup(env):
        env.entities = [[0 if i % 2 else 9, i + 1, bool(i % 2), False] for i in range(8)]
        env.player_y, env.spawn_timer = 1, 0
    scenario("asterix", setup, [0, 0])
