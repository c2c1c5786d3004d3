"""The agents benchmark measures both sides the same way: steps/s, final return and the collect/update split."""

import pytest

TINY = ["agent.n_envs=2", "agent.n_steps=32", "agent.batch_size=32", "agent.n_epochs=1"]


@pytest.fixture(scope="module")
def bench():
    from agents.bench import versus_sb3 as bench_agents
    return bench_agents


def test_both_sides_report_a_collect_and_update_split_that_fits_in_the_run(bench):
    import time
    overrides = ["agent=ppo", "method=adam", *TINY]
    agent = bench.load_config(*overrides)["agent"]
    start = time.perf_counter()
    vanilla = bench.run_vanilla(agent, 128, 0, "cpu")
    wall = time.perf_counter() - start
    ours = bench.run_ours(overrides, 128, 0, "cpu")
    for run in (vanilla, ours):
        assert run.steps_per_s > 0 and run.collect_s > 0 and run.update_s > 0
    assert vanilla.collect_s + vanilla.update_s < wall  # disjoint phases inside the timed run
    results = {"ppo": {"vanilla SB3": [vanilla], "ours": [ours]}}
    (row,) = bench.rows(results)
    assert row[3] == f"{ours.steps_per_s / vanilla.steps_per_s:.2f}"
    (line,) = bench.ceilings(results)
    bound = (vanilla.collect_s + vanilla.update_s) / ours.update_s
    assert f"at most {bound:.2f}" in line


def test_the_full_benchmark_names_only_methods_the_update_benchmark_knows():
    from agents.bench import suite as bench
    from agents.bench import update as bench_update
    assert set(bench.UPDATE_METHODS) <= set(bench_update.ALL_METHODS)


def test_vanilla_side_starts_from_our_parameters(bench):
    """The baseline's network is the paper's order written plainly, with the same seed's initial parameters."""
    import torch

    from agents.algorithms.factory import make_agent
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.methods import build_method
    from envs import make_curriculum
    overrides = ["agent=ppo", "method=adam", "agent.n_envs=2", "agent.batch_size=256"]
    cfg = bench.load_config(*overrides, "env=breakout")
    vanilla = bench.vanilla_model(cfg["agent"], bench.vanilla_env("breakout", 2, 0), 1000, 0, "cpu")
    env = GymnasiumVecEnv(make_curriculum(cfg["env"], 2, 0))
    ours = make_agent(cfg["agent"], env, build_method(cfg["method"]), 1000, seed=0, device="cpu")
    assert type(vanilla.policy.features_extractor) is bench.PaperMinAtarCNN
    ours_params, vanilla_params = ours.policy.state_dict(), vanilla.policy.state_dict()
    assert ours_params.keys() == vanilla_params.keys()
    for k in ours_params:
        assert torch.equal(ours_params[k], vanilla_params[k]), k
    # that the two forwards compute one function: tests/test_speedups.py::test_minatar_network_computes_…


def test_a_curves_auc_is_the_reports_auc(bench):
    from agents.run.summary import window_auc, window_means
    steps, returns = [10, 20, 55, 100, 100], [1.0, 3.0, 5.0, 7.0, 9.0]
    means = [float("nan") if m is None else m for m in window_means(steps, returns, 0, 100, windows=5)]
    assert bench.Curve(100, means, 8.0).auc == window_auc(steps, returns, 0, 100, windows=5) == 4.25


@pytest.mark.parametrize("side", ["vanilla SB3", "ours"])
def test_the_episode_recorder_sees_every_episode_the_agent_counts(bench, side):
    """The learning curves of both sides must miss and repeat no episode (vanilla: a recorder callback; ours: the
    run's episodes.csv): the last 100 returns average to SB3's own final return (``ep_info_buffer``)."""
    overrides = ["agent=ppo", "method=adam", *TINY]
    recorder = bench.EpisodeRecorder()
    if side == "ours":
        run = bench.run_ours(overrides, 1024, 0, "cpu", env="breakout", episodes=recorder.episodes)
    else:
        run = bench.run_vanilla(bench.load_config(*overrides)["agent"], 1024, 0, "cpu", games=("breakout",),
                                callbacks=(recorder,))
    returns = [r for _, r in recorder.episodes]
    assert len(returns) > 20
    assert sum(returns[-100:]) / len(returns[-100:]) == pytest.approx(run.final_return)
    assert [s for s, _ in recorder.episodes] == sorted(s for s, _ in recorder.episodes)


def test_learning_runs_both_sides_per_seed_in_worker_processes_and_compares_them(bench):
    overrides = ["agent=ppo", "method=adam", *TINY]
    curves = bench.learning("ppo", [0, 1], steps=640, workers=2, overrides=overrides)
    assert {side: len(cs) for side, cs in curves.items()} == {"vanilla SB3": 2, "ours": 2}
    inline = bench.learning_curve("ours", overrides, 1, 640)  # the same run in this process gives the same curve
    assert inline.windows == pytest.approx(curves["ours"][1].windows, nan_ok=True)
    (row,) = bench.learning_rows({"ppo": curves})
    van_auc = sum(c.auc for c in curves["vanilla SB3"]) / 2
    ours_auc = sum(c.auc for c in curves["ours"]) / 2
    assert row[:2] == ("ppo", "640") and row[4] == f"{van_auc:.2f} / {ours_auc:.2f}"
    assert len(row[2].split(" → ")) == bench.WINDOWS


def test_learning_notes_say_when_a_side_does_not_learn(bench):
    rising, flat = bench.Curve(100, [1.0, 2.0, 3.0], 3.0), bench.Curve(100, [2.0, 2.0, 1.5], 1.5)
    (ok,) = bench.learning_notes({"dqn": {"vanilla SB3": [rising], "ours": [rising]}})
    (bad,) = bench.learning_notes({"dqn": {"vanilla SB3": [rising], "ours": [flat]}})
    assert "vanilla SB3 +2.00, ours +2.00; both sides learn (" in ok
    assert "ours -0.50; a side does not improve" in bad
