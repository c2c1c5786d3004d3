"""The agents benchmark measures both sides the same way: steps/s, final return and the collect/update split."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

TINY = ["agent.n_envs=2", "agent.n_steps=32", "agent.batch_size=32", "agent.n_epochs=1"]


@pytest.fixture(scope="module")
def bench():
    import bench_agents
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
    import bench
    import bench_update
    assert set(bench.UPDATE_METHODS) <= set(bench_update.ALL_METHODS)


def test_vanilla_side_starts_from_our_parameters(bench):
    """The baseline's network is the paper's order written plainly, with the same seed's initial parameters."""
    import torch

    from agents.algorithms import make_agent
    from agents.methods import build_method
    from agents.vec_env import GymnasiumVecEnv
    from envs import make_curriculum
    overrides = ["agent=ppo", "method=adam", "agent.n_envs=2"]
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
