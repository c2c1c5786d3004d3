"""Tiny PPO and DQN runs through the Hydra entry point, and what they leave in the run directory."""

import csv
from pathlib import Path

import numpy as np
import pytest

from agents.run.logs import read_csv

# The documented metrics.csv columns (README "Run directory"); renaming one is a breaking change.
DOCUMENTED_COLUMNS = [
    "step", "time_s", "sps", "task_visit", "task_id", "task_name", "task_cycle", "episodes", "ep_return_mean",
    "ep_return_std", "ep_return_min", "ep_return_max", "ep_length_mean", "learning_rate", "n_updates", "loss",
    "policy_loss", "value_loss", "entropy_loss", "approx_kl", "clip_fraction", "explained_variance",
    "exploration_rate",
]

TINY = {
    "ppo": ["agent=ppo", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=1",
            "env.steps_per_task=256", "log_every=128", "metrics.every=128"],
    "dqn": ["agent=dqn", "agent.learning_starts=50", "agent.buffer_size=1000", "agent.exploration_steps=200",
            "env.steps_per_task=200", "log_every=100", "metrics.every=100"],
}
CHEAP = ("dormant_tau0.1", "fau", "feature_erank", "isometry_gap", "gram_deviation", "weight_magnitude")
EXPENSIVE = ("entk_condition", "fisher_srank", "hessian_srank", "trainability_ratio")
CAPTURED = ("grad_l2", "grad_l0", "update_l1", "churn", "policy_churn")


@pytest.fixture(scope="module", params=["ppo", "dqn"])
def tiny_run(request, tmp_path_factory):
    from conftest import run_train
    run_dir = tmp_path_factory.mktemp(request.param) / "run"
    result = run_train(*TINY[request.param], "env=minatar_demo", "env.cycles=1", "progress=false", "device=cpu",
                       f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return request.param, run_dir, result


def test_run_directory_has_every_artifact(tiny_run):
    _, run_dir, _ = tiny_run
    for name in ("config.yaml", "metrics.csv", "episodes.csv", "tasks.csv", "checkpoints/final.zip"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))


def test_metrics_csv_has_the_documented_columns_and_rows_per_task(tiny_run):
    agent, run_dir, _ = tiny_run
    with open(run_dir / "metrics.csv") as f:
        header = next(csv.reader(f))
    assert header == DOCUMENTED_COLUMNS
    rows = read_csv(run_dir / "metrics.csv")
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps) and len(rows) >= 3
    switch = 256 if agent == "ppo" else 200
    assert {r["task_name"] for r in rows if int(r["step"]) <= switch} == {"breakout"}
    assert {r["task_name"] for r in rows if int(r["step"]) > switch} == {"space_invaders"}
    assert any(r["loss"] for r in rows) and all(float(r["sps"]) > 0 for r in rows)


def test_task_switch_is_logged_and_printed(tiny_run):
    agent, run_dir, result = tiny_run
    tasks = read_csv(run_dir / "tasks.csv")
    assert [(t["task_name"], int(t["start_step"])) for t in tasks] == [
        ("breakout", 0), ("space_invaders", 256 if agent == "ppo" else 200)]
    assert "task switch at step" in result.stdout + result.stderr
    assert "Per-task summary" in result.stdout and "space_invaders" in result.stdout


def test_episodes_are_attributed_to_their_task(tiny_run):
    agent, run_dir, _ = tiny_run
    switch = 256 if agent == "ppo" else 200
    for e in read_csv(run_dir / "episodes.csv"):
        assert (e["task_name"] == "breakout") == (int(e["step"]) <= switch)


def test_every_task_is_evaluated_at_the_switch_and_the_end(tiny_run):
    agent, run_dir, _ = tiny_run
    rows = read_csv(run_dir / "eval.csv")
    switch = 256 if agent == "ppo" else 200
    by_step: dict[int, set[str]] = {}
    for r in rows:
        by_step.setdefault(int(r["step"]), set()).add(r["eval_task_name"])
    assert by_step[switch] == {"breakout", "space_invaders"}  # at the task boundary, on every task
    assert max(by_step) > switch and by_step[max(by_step)] == {"breakout", "space_invaders"}
    assert all(r["episodes"] for r in rows)


def test_plasticity_metrics_are_logged_periodically_at_switches_and_at_the_end(tiny_run):
    _, run_dir, _ = tiny_run
    rows = read_csv(run_dir / "plasticity.csv")
    by_when: dict[str, set[str]] = {}
    for r in rows:
        by_when.setdefault(r["when"], set()).add(r["metric"])
        assert np.isfinite(float(r["value"])) or r["metric"].startswith("condition/"), r
    assert set(CHEAP) | set(CAPTURED) <= by_when["periodic"] and not set(EXPENSIVE) & by_when["periodic"]
    assert set(CHEAP) | set(EXPENSIVE) <= by_when["switch"] and set(EXPENSIVE) <= by_when["final"]
    switch = [r for r in rows if r["when"] == "switch"]
    assert {r["task_name"] for r in switch} == {"breakout"}  # measured as the old task ended


def test_final_checkpoint_loads_and_acts(tiny_run):
    from agents.algorithms.factory import DQN, PPO
    agent, run_dir, _ = tiny_run
    model = {"ppo": PPO, "dqn": DQN}[agent].load(run_dir / "checkpoints" / "final.zip", device="cpu")
    action, _ = model.predict(np.zeros((10, 10, 10), dtype=bool), deterministic=True)
    assert 0 <= int(action) < 6
    groups = model.policy.optimizer.param_groups
    assert [g["regularize"] for g in groups] == [True, False]  # heads excluded from regularization


def test_single_game_dqn_run(tmp_path):
    from agents import train  # the command's composition, checks and run, in this process
    result = train(["agent=dqn", "env=breakout", "total_timesteps=300", "agent.learning_starts=100",
                    "progress=false", f"hydra.run.dir={tmp_path / 'run'}"])
    assert result.status == "completed"
    assert int(read_csv(tmp_path / "run" / "metrics.csv")[-1]["step"]) == 300


@pytest.mark.parametrize("agent, env, extra", [
    ("ppo", "ale_abbas", ["+env.max_num_frames_per_episode=400", "eval.enabled=false"]),
    ("dqn", "cartpole_dynamics", []),
])
def test_classic_and_ale_curricula_train(tmp_path, agent, env, extra):
    from agents import train
    result = train([*TINY[agent][:4], f"env={env}", "total_timesteps=100", "env.steps_per_task=64",
                    "eval.episodes=2", "eval.max_steps=50", "progress=false", *extra, f"hydra.run.dir={tmp_path}"])
    assert result.status == "completed"
    assert len(read_csv(tmp_path / "tasks.csv")) >= 2
    assert {"entk_condition", "isometry_gap"} <= {r["metric"] for r in read_csv(tmp_path / "plasticity.csv")}
    if agent == "dqn":
        assert {r["eval_task_name"] for r in read_csv(tmp_path / "eval.csv")} >= {"cartpole", "cartpole_long_pole"}


def test_multirun_gives_each_seed_its_own_directory(tmp_path):
    from agents import sweep
    sweep(["seed=0,1", "total_timesteps=256", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64",
           "agent.n_epochs=1", "progress=false", f"hydra.sweep.dir={tmp_path}"])
    configs = sorted(Path(tmp_path).glob("*/config.yaml"))
    assert len(configs) == 2
    seeds = {p.read_text().split("seed: ")[1].split()[0] for p in configs}
    assert seeds == {"0", "1"}
