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
