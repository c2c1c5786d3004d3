"""Sweeps with Hydra launchers (basic, joblib, submitit_local), protocol presets, Double DQN."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from agents.reporting import build_report
from agents.run.logs import read_csv
from agents.run.status import read_status

ROOT = Path(__file__).resolve().parents[1]
TINY = ["total_timesteps=256", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=1",
        "env.steps_per_task=128", "progress=false", "metrics.enabled=false", "eval.episodes=2", "eval.max_steps=100"]
PRESETS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def runs_of(sweep: Path) -> list[tuple[str, int, Path]]:
    out = []
    for cfg_path in sorted(sweep.glob("*/config.yaml")):
        cfg = OmegaConf.load(cfg_path)
        out.append((str(cfg.method.name), int(cfg.seed), cfg_path.parent))
    return out


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_2x2_sweep_gives_four_runs_with_distinct_seeds_and_a_report(train, tmp_path, launcher):
    """The basic launcher through the Python API (the command's sweep, in this process); joblib as a command."""
    args = ["method=adam,adamo", "seed=0,1", *TINY, f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}"]
    if launcher == "basic":
        from agents import sweep
        sweep(args)
    else:
        result = train("-m", *args, "hydra.launcher.n_jobs=2")
        assert result.returncode == 0, result.stderr[-3000:]
    runs = runs_of(tmp_path)
    assert sorted((m, s) for m, s, _ in runs) == [("adam", 0), ("adam", 1), ("adamo", 0), ("adamo", 1)]
    assert len({d for _, _, d in runs}) == 4 and all(read_status(d)["status"] == "completed" for *_, d in runs)
    first = {(m, s): read_csv(d / "episodes.csv")[0] for m, s, d in runs}
    # a seed derives everything: same seed → same first episode whatever the method (paired comparisons) ...
    assert first[("adam", 0)] == first[("adamo", 0)]
    # ... and the seeds' env streams differ
    episodes = {s: [(e["step"], e["return"]) for e in read_csv(d / "episodes.csv")][:20] for m, s, d in runs
                if m == "adam"}
    assert episodes[0] != episodes[1]
    summary = build_report([tmp_path], tmp_path / "report", bootstrap_reps=200)
    text = summary.read_text()
    assert "`adam` (0, 1)" in text and "`adamo` (0, 1)" in text and "Best method" in text


def test_submitit_local_runs_a_job_end_to_end(train, tmp_path):
    result = train("-m", "hydra/launcher=submitit_local", "seed=3", *TINY, "hydra.launcher.timeout_min=10",
                   f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = runs_of(tmp_path)
    assert run[1] == 3 and read_status(run[2])["status"] == "completed"
    assert (tmp_path / ".submitit").is_dir()


@pytest.mark.parametrize("preset", PRESETS)
def test_every_protocol_preset_composes_and_runs(tmp_path, preset):
    """Through the Python API (``agents.train``: the command's composition, checks and run, in this process)."""
    from agents import train
    dqn = "dqn" in preset
    extra = ["agent.learning_starts=64", "agent.buffer_size=1000"] if dqn else TINY[1:5]
    result = train([f"experiment={preset}", *TINY[:1], *TINY[5:], *extra, f"hydra.run.dir={tmp_path}"])
    assert result.status == "completed" and read_status(tmp_path)["status"] == "completed"
    cfg = OmegaConf.load(tmp_path / "config.yaml")
    sweep = sweep_params(preset)
    if preset.startswith("sanity_"):  # one agent on every MinAtar game alone, compared by scripts/sanity.py
        from agents.reporting.sanity import GAMES
        assert str(sweep.env).split(",") == list(GAMES) and cfg.method.name == "adam"
        return
    assert cfg.method.name in str(sweep.method).split(",")
    # Evidence needs seeds; a smoke preset is a wiring check the CI runs, one seed.
    assert len(str(sweep.seed).split(",")) >= (1 if preset.endswith("_smoke") else 3)
    # The fresh-agent reference of the plasticity ratio; Dohare et al.'s protocols have no reset arm.
    assert "reset_all" in str(sweep.method) or preset.startswith("dohare_") or preset.endswith("_dynamics_ppo")


def sweep_params(preset: str):
    """The preset's ``hydra.sweeper.params``, inherited through ``/experiment/<parent>@_global_`` defaults."""
    cfg = OmegaConf.load(ROOT / "conf" / "experiment" / f"{preset}.yaml")
    if OmegaConf.select(cfg, "hydra.sweeper.params") is not None:
        return cfg.hydra.sweeper.params
    parents = [d for d in cfg.defaults if isinstance(d, str) and d.startswith("/experiment/")]
    assert parents, f"{preset} has no sweep and no parent preset"
    return sweep_params(parents[0].removeprefix("/experiment/").split("@")[0])


def test_presets_put_their_arm_settings_on_the_right_method(tmp_path):
    from agents.config.cli import compose_checked
    from agents.config.validation import with_arm
    conf = ROOT / "conf"
    adamo = with_arm(compose_checked(conf, "config", ["experiment=adamo_paper", "method=adamo_groupsort"]))
    adam = with_arm(compose_checked(conf, "config", ["experiment=adamo_paper", "method=adam"]))
    assert adamo["method"]["coef"] == 0.05 and "coef" not in adam["method"]
    # the authors' arms: their isometric network for AdamO, ReLU with biases for the baseline, and their env settings
    assert (adamo["agent"]["network"]["activation"], adamo["agent"]["network"]["bias"]) == ("groupsort", False)
    assert (adam["agent"]["network"]["activation"], adam["agent"]["network"]["bias"]) == ("relu", True)
    ablation = with_arm(compose_checked(conf, "config", ["experiment=adamo_paper", "method=adamo_nobias"]))
    assert (ablation["agent"]["network"]["activation"], ablation["agent"]["network"]["bias"]) == ("relu", False)
    assert ablation["method"]["coef"] == 0.05
    assert adam["env"]["sticky_action_prob"] == 0.0 and adam["env"]["max_episode_steps"] == 1000
    assert adam["method"]["on_switch"]["reset_optimizer"] is True  # the protocol resets Adam for every arm
    cbp = with_arm(compose_checked(conf, "config", ["experiment=dohare_ppo", "method=cbp"]))
    assert cbp["method"]["betas"] == [0.99, 0.99] and cbp["method"]["units"]["maturity_threshold"] == 10000
    assert cbp["method"]["units"]["decay_rate"] == 0.99  # merged into, not replacing, the unit settings


def test_a_method_value_on_the_command_line_wins_over_the_presets_arm():
    from agents.config.cli import compose_checked
    from agents.config.validation import command_line_over_arms, with_arm
    conf = ROOT / "conf"

    def composed(*overrides: str) -> dict:
        return with_arm(command_line_over_arms(compose_checked(conf, "config", list(overrides)), overrides))
    assert composed("experiment=adamo_paper", "method=adamo_groupsort")["method"]["coef"] == 0.05
    assert composed("experiment=adamo_paper", "method=adamo_groupsort", "method.coef=0.01")["method"]["coef"] == 0.01
    cbp = composed("experiment=dohare_ppo", "method=cbp", "method.units.decay_rate=0.5")["method"]["units"]
    assert cbp["decay_rate"] == 0.5 and cbp["maturity_threshold"] == 10000  # the arm's other keys still apply
    arms = {"cbp": {"units": {"decay_rate": 0.99, "maturity_threshold": 10}}, "adamo": {"coef": 0.05}}
    assert command_line_over_arms({"arms": arms}, ["method.units.decay_rate=0.5", "+method.coef=1", "seed=2"]) == {
        "arms": {"cbp": {"units": {"maturity_threshold": 10}}, "adamo": {}}}
    assert arms["cbp"]["units"]["decay_rate"] == 0.99  # the input is not changed


def _dqn(double_q: bool):
    import stable_baselines3 as sb3

    from agents.algorithms.factory import DQN
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.policies.networks import minatar_policy_kwargs
    from envs import make_curriculum
    env = GymnasiumVecEnv(make_curriculum({"tasks": ["breakout"], "steps_per_task": 10**6}, 1, 0))
    kw = dict(learning_starts=0, buffer_size=500, batch_size=16, seed=0, device="cpu",
              policy_kwargs=minatar_policy_kwargs())
    ours = DQN("MlpPolicy", env, double_q=double_q, **kw)
    ref = sb3.DQN("MlpPolicy", env, **kw)
    ref.policy.load_state_dict(ours.policy.state_dict())
    ref.policy.optimizer.load_state_dict(ours.policy.optimizer.state_dict())
    rng = np.random.default_rng(0)
    for _ in range(200):
        ours.replay_buffer.add(*(torch.as_tensor(x) for x in (
            rng.random((1, 10, 10, 10)) < 0.1, rng.random((1, 10, 10, 10)) < 0.1, [rng.integers(6)],
            [rng.random()], [float(rng.random() < 0.1)])))
    ref.replay_buffer = copy.deepcopy(ours.replay_buffer)  # SB3's train() sampling our device buffer
    for model in (ours, ref):
        model._setup_learn(1000)
    return ours, ref


def test_our_dqn_update_is_sb3s_and_double_q_differs():
    ours, ref = _dqn(double_q=False)
    for model in (ours, ref):
        torch.manual_seed(1)
        model.train(gradient_steps=20, batch_size=16)
    assert all(torch.equal(a, b) for a, b in zip(ours.policy.parameters(), ref.policy.parameters(), strict=True))
    double, ref = _dqn(double_q=True)
    with torch.no_grad():  # make the online and target networks disagree, so the two targets differ
        for p in double.q_net_target.parameters():
            p.add_(0.5 * torch.randn_like(p))
        ref.q_net_target.load_state_dict(double.q_net_target.state_dict())
    for model in (double, ref):
        torch.manual_seed(1)
        model.train(gradient_steps=1, batch_size=16)
    assert not all(torch.equal(a, b) for a, b in zip(double.policy.parameters(), ref.policy.parameters(),
                                                     strict=True))


@pytest.mark.parametrize("agent, method", [("ppo", "adamo"), ("ppo", "cbp"), ("dqn", "cbp")])
def test_training_with_plasticity_methods_and_metrics_runs_on_cuda(tmp_path, agent, method, gpu_device):
    from agents import train  # in process: the forced GPU paths are read by the constructors of this process
    extra = TINY[1:5] if agent == "ppo" else ["agent.learning_starts=64", "agent.buffer_size=1000"]
    run = train([f"agent={agent}", f"method={method}", f"device={gpu_device}", "metrics.every=128", *TINY[:1],
                 *TINY[5:6], *extra, "metrics.enabled=true", f"hydra.run.dir={tmp_path}"])
    assert run.status == "completed" and read_status(tmp_path)["status"] == "completed"
    assert read_csv(tmp_path / "plasticity.csv")
