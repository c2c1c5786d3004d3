"""The new benchmark scripts measure what they say: whole runs by the CLI, env implementations, DQN settings."""

import pytest

TINY_PPO = ["env=breakout", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=32", "agent.n_epochs=1",
            "total_timesteps=512"]


def test_a_whole_run_reports_its_own_steps_per_second_and_a_failed_one_says_why():
    from agents.bench import paths as bench_paths
    assert bench_paths.run(bench_paths.ROOT, TINY_PPO) > 0
    with pytest.raises(RuntimeError, match=r"env\.backend='jax'"):
        bench_paths.run(bench_paths.ROOT, [*TINY_PPO, "env.backend=jax"])
    row, = bench_paths.rows({"ppo": {"torch": 300.0, "minatar": 200.0, "baseline": 150.0}})
    assert row == ("ppo", "300", "200", "1.50", "150", "2.00")


def test_every_env_side_steps_the_game_it_has():
    from agents.bench import env_speed as bench_envs
    r = bench_envs.measure("space_invaders", 8, 400, 1, bench_envs.SIDES)
    assert set(r) == set(bench_envs.SIDES) and all(v > 0 for v in r.values())
    assert set(bench_envs.measure("asterix", 8, 400, 1, ("torch", "numpy"))) == {"torch"}  # no numpy kernel
    (row,) = bench_envs.rows({("space_invaders", 8): r}, ("torch", "loop"))
    assert row[-1] == f"{r['torch'] / r['loop']:.2f}"


def test_dqn_settings_are_compared_on_the_same_seeds():
    from agents.bench import versus_sb3 as bench_agents
    settings = {"cadence": ["agent.n_envs=1"], "vectorized": ["agent.n_envs=8", "agent.replay_ratio=0.125"]}
    curves = bench_agents.settings_learning(settings, [0], 600, common=["agent=dqn", "method=adam",
                                                                         "agent.learning_starts=100"])
    assert {k: len(v) for k, v in curves.items()} == {"cadence": 1, "vectorized": 1}
    rows = bench_agents.settings_rows(curves)
    assert [r[0] for r in rows] == ["cadence", "vectorized"] and rows[0][1] == "600"
