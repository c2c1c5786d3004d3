"""Validation before work, exact resume after kill -9 or SIGTERM, state round-trips, guarded training, logs."""

import copy
import glob
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import cli_in_process
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agents.run.checkpoint import checkpoint_paths, restore, save
from agents.run.logs import read_csv
from agents.run.status import read_status
from agents.training.runner import prepare, run
from envs import make_curriculum

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}

BAD = [  # (overrides, text the one-line message must contain)
    (["agent.foo=1"], "agent.foo"),
    (["+foo=1"], "foo=1: unknown key"),
    (["method=sgd"], "method='sgd': unknown method option; valid choices: adam"),
    (["agent=a2c"], "agent='a2c': unknown agent option; valid choices: dqn, ppo"),
    (["env=pong"], "env='pong': unknown env option"),
    (["agent.learning_rate=-1"], "agent.learning_rate=-1: must be > 0"),
    (["agent.learning_rate=0"], "agent.learning_rate=0: must be > 0"),
    (["method=adamo", "method.coef=-0.1"], "method.coef=-0.1: must be >= 0"),
    (["method=cbp", "method.units.replacement_rate=1.5"], "method.units.replacement_rate=1.5: must be in [0, 1] (CBP)"),
    (["method=cbp", "method.units.replacement_rate=-0.1"], "method.units.replacement_rate=-0.1"),
    (["method=cbp", "method.units.maturity_threshold=-1"], "method.units.maturity_threshold=-1: must be >= 0 (CBP)"),
    (["method=cbp", "method.units.utility=magic"], "method.units.utility='magic': valid choices: contribution"),
    (["method=redo", "method.units.threshold=-1"], "method.units.threshold=-1: must be in [0, 1) (ReDo)"),
    (["method=redo", "method.units.threshold=2"], "method.units.threshold=2: must be in [0, 1) (ReDo)"),
    (["method=redo", "method.units.interval=0"], "method.units.interval=0: must be >= 1 (ReDo)"),
    (["method=cbp", "method.units.layers=5"], "method.units.layers=5: must be a list of names or null"),
    (["env.steps_per_task=0"], "env.steps_per_task=0: must be >= 1"),
    (["env.steps_per_task=-5"], "env.steps_per_task=-5"),
    (["env.cycles=0"], "env.cycles=0: must be >= 1"),
    (["env.order=shuffled"], "env.order='shuffled': valid choices: fixed, random"),
    (["env.tasks=[]"], "env.tasks=[]: the curriculum needs at least one task"),
    (["env.tasks=[pong]"], "env.tasks[0].game='pong': unknown minatar game; valid games: asterix, breakout"),
    (["env=ale_abbas", "env.tasks=[pacman2]"], "env.tasks[0].game='pacman2': unknown ale game"),
    (["env.kind=procgen"], "env.kind='procgen': valid choices: minatar, ale, classic"),
    (["env.vectorization=ray"], "env.vectorization='ray': valid choices: batched, subproc"),
    (["env.transforms=[{type:blur}]"], "env.transforms[0].type='blur': valid choices: reward_scale"),
    (["env.transforms=[{type:action_permutation,permutation:[0,1]}]"],
     "env.transforms[0].permutation=[0, 1]: must be a permutation of 0..5"),
    (["env.sticky_action_prob=1.5"], "env.sticky_action_prob=1.5: must be <= 1"),
    (["device=cuda"] if not torch.cuda.is_available() else ["device=cuda:99"], "device='cuda"),
    (["device=tpu"], "device='tpu': valid choices: auto, cpu, cuda, cuda:<index>"),
    (["seed=-1"], "seed=-1: must be >= 0"),
    (["seed=abc"], "seed='abc': must be an integer"),
    (["total_timesteps=0"], "total_timesteps=0: must be >= 1"),
    (["agent.batch_size=100000"], "agent.batch_size=100000: must be <= n_steps × n_envs"),
    (["agent.gamma=1.5"], "agent.gamma=1.5: must be <= 1"),
    (["method.betas=[0.9,1.0]"], "method.betas=[0.9, 1.0]: Invalid beta parameter at index 1: 1.0"),
    (["agent=dqn", "agent.exploration_final_eps=2"], "agent.exploration_final_eps=2"),
    (["method=spectral", "method.exponent=0.5"], "method.exponent=0.5: must be >= 1 (Spectral)"),
    (["method=cbp", "env=cartpole_dynamics", "agent.network.type=mlp", "agent.network.hidden=[]"],
     "method.units.name='cbp': needs a network with a hidden layer"),
    (["checkpoint.keep=0"], "checkpoint.keep=0: must be >= 1"),
    (["eval.episodes=0"], "eval.episodes=0: must be >= 1"),
    (["method.on_switch.reset=sometimes"], "method.on_switch.reset='sometimes': valid choices: head, all"),
    (["resume=/nonexistent/run"], "resume='/nonexistent/run': must be a run directory"),
    (["torch_threads=0"], "torch_threads=0: must be >= 1"),
    (["-m", "seed=0,1", "method=adam,nope"], "method='nope'"),
    # values that used to pass validation and fail later (issue 20)
    (["seed=4294967296"], "seed=4294967296: must be <= 4294967295"),
    (["agent.learning_rate=inf"], "agent.learning_rate=inf: must be a finite number"),
    (["method.coef=inf"], "method.coef=inf: must be a finite number"),
    (["agent.ent_coef=inf"], "agent.ent_coef=inf: must be a finite number"),
    (["method.target_scale=inf"], "method.target_scale=inf: must be a finite number"),
    (["method.eps=inf"], "method.eps=inf: must be a finite number"),
    (["torch_threads=100000"], "torch_threads=100000: must be <= "),
    (["env=minatar_demo,breakout"], "several values make a sweep: add -m"),
    (["method.units=null", "method.units.name=redo"], "method.units is null (set by method.units=null)"),
    (["agent=dqn", "agent.buffer_size=150000000"], "agent.buffer_size=150000000: the replay buffer needs"),
    (["agent=dqn", "agent.n_envs=100000000"], "agent.n_envs=100000000: the replay buffer (one slot per env"),
    # values that used to pass the first check and fail after the run directory existed (issue 29)
    (["+method.lr=0.01"], "method.lr=0.01: the learning rate is the agent's: set agent.learning_rate"),
    (["method.amsgrad=maybe"], "method.amsgrad='maybe': must be true or false"),
    (["+method.amsgrad=true"], "method.amsgrad='true': the key exists already: set it without '+'"),
    (["method.fused=abc"], "method.fused='abc': must be true or false or null"),
    (["method=cbp", "method.units.layers=[nope]"], "method.units.layers=['nope']: 'nope' is not a hidden layer"),
    (["method.on_switch.shrink=2"], "method.on_switch.shrink=2: must be <= 1"),
    (["method.on_switch.inject=sometimes"], "method.on_switch.inject='sometimes': must be true or false"),
    (["method=l2_init", "method.weights_only=maybe"], "method.weights_only='maybe': must be true or false"),
]


def train_cmd(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "train.py"), *args]


@pytest.mark.parametrize("overrides, message", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_input_fails_at_once_with_one_line_and_no_run_directory(tmp_path, capsys, overrides, message):
    """The command's own entry point (``agents.app.train.main``, what scripts/train.py calls), in this process;
    the test below runs a sample as separate processes (exit status and stderr of a real command)."""
    run_dir = tmp_path / "run"
    code, err = cli_in_process([*overrides, f"hydra.run.dir={run_dir}", f"hydra.sweep.dir={run_dir}"], capsys)
    assert code == 2, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert message in lines[0], lines[0]
    assert not run_dir.exists()


@pytest.mark.parametrize("empty", ["hydra.run.dir=", "hydra.run.dir=."])
def test_an_empty_run_directory_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch, empty):
    monkeypatch.chdir(tmp_path)
    code, err = cli_in_process([empty], capsys)
    assert code == 2 and "must name a directory for the run" in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # nothing written into the current directory


@pytest.mark.parametrize("case", [0, 52])  # the rest through the entry point in process, above
def test_bad_input_as_a_real_command_exits_2_with_one_line(tmp_path, case):
    overrides, message = BAD[case]
    run_dir = tmp_path / "run"
    result = subprocess.run(train_cmd(*overrides, f"hydra.run.dir={run_dir}", f"hydra.sweep.dir={run_dir}"),
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr[-2000:]
    assert not run_dir.exists()


def test_there_are_at_least_thirty_bad_input_cases():
    assert len(BAD) >= 30


# -- exact resume --------------------------------------------------------------------------------------------
TINY = {
    "ppo": ["agent.n_envs=8", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2", "env.steps_per_task=2000",
            "checkpoint.every=768", "metrics.every=512", "log_every=256", "eval.every=1024"],
    "dqn": ["agent=dqn", "agent.learning_starts=300", "agent.buffer_size=3000", "agent.target_update_interval=200",
            "agent.train_freq=4",  # an update every 4 steps: a quarter of the time, and resumes mid-phase
            "env.steps_per_task=800", "checkpoint.every=150", "metrics.every=300", "log_every=150", "eval.every=600"],
}
COMMON = ["env.cycles=1", "deterministic=true", "progress=false", "eval.episodes=2", "eval.max_steps=200"]
COMPARED = ("metrics.csv", "episodes.csv", "tasks.csv", "eval.csv", "plasticity.csv")


def without_clock(path: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("time_s", "sps")} for row in read_csv(path)]


def final_policy(run_dir: Path) -> dict:
    return torch.load(checkpoint_paths(run_dir)[-1], weights_only=False)["policy"]


def assert_same_run(a: Path, b: Path) -> None:
    for name in COMPARED:
        assert without_clock(a / name) == without_clock(b / name), name
    pa, pb = final_policy(a), final_policy(b)
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)
    assert read_status(b)["status"] == "completed"


def wait_for_checkpoints(run_dir: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while len(glob.glob(str(run_dir / "checkpoints" / "step_*.pt"))) < count:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("agent, method", [("ppo", "cbp"), ("dqn", "adamo")])
def test_kill_9_and_resume_gives_the_uninterrupted_run(tmp_path, capsys, agent, method):
    """DQN's killed run is written on the sync-free (GPU) path (PLASTICITY_SYNC_FREE=1) and resumed on the CPU
    path: a checkpoint moves between the two (DQN's paths are bit-equal: tests/test_sync_free.py). The reference
    run goes through the command's entry point in this process (the same logs as a separate process: test_api)."""
    args = [*TINY[agent], *COMMON, f"method={method}"]
    if method == "cbp":
        args += ["method.units.maturity_threshold=0", "method.units.replacement_rate=0.02"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert cli_in_process([*args, f"hydra.run.dir={full}"], capsys)[0] == 0
    written_on = {**ENV, "PLASTICITY_SYNC_FREE": "1"} if agent == "dqn" else ENV
    proc = subprocess.Popen(train_cmd(*args, f"hydra.run.dir={killed}"), cwd=ROOT, env=written_on,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_checkpoints(killed, 3, proc)
    time.sleep(0.3)  # somewhere between checkpoints
    proc.kill()
    proc.wait()
    assert read_status(killed)["status"] == "running"  # a killed run does not look complete
    resumed = subprocess.run(train_cmd(*args, f"hydra.run.dir={killed}"), cwd=ROOT, env=ENV, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed at step" in resumed.stdout + resumed.stderr
    assert_same_run(full, killed)


def test_sigterm_checkpoints_marks_preempted_and_resumes(tmp_path, capsys):
    """The signal goes to a real process; the reference run and the resumes go through the command's entry point
    in this process (cheaper; the same logs as a separate process: test_api). SIGINT: test_reliability_two."""
    args = [*TINY["ppo"], *COMMON, "checkpoint.every=1000000", "method=adam"]
    full, stopped = tmp_path / "full", tmp_path / "stopped"
    assert cli_in_process([*args, f"hydra.run.dir={full}"], capsys)[0] == 0
    proc = subprocess.Popen(train_cmd(*args, f"hydra.run.dir={stopped}"), cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (stopped / "metrics.csv").exists() or len(read_csv(stopped / "metrics.csv")) < 3:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err
    status = read_status(stopped)
    assert status["status"] == "preempted" and "SIGTERM" in status["reason"]
    (checkpoint,) = checkpoint_paths(stopped)
    step = int(checkpoint.stem.split("_")[1])
    assert f"preempted at env step {step:,}: checkpoint written" in out
    assert cli_in_process([*args, f"hydra.run.dir={stopped}"], capsys)[0] == 0
    assert_same_run(full, stopped)
    # the same command again, and with another config
    code, _ = cli_in_process([*args, f"hydra.run.dir={stopped}"], capsys)
    assert code == 0
    assert_same_run(full, stopped)  # already complete: nothing trained or logged again
    code, err = cli_in_process([*args, "agent.n_epochs=3", f"hydra.run.dir={stopped}"], capsys)
    assert code == 2 and "holds a run with another config (differs in: agent.n_epochs)" in err


# -- state round-trips in process ------------------------------------------------------------------------------
def config(tmp: Path, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*TINY["ppo"], *COMMON, "eval.enabled=false", "metrics.enabled=false",
                                           f"run_dir={tmp}", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def learn(r, steps: int) -> None:
    r.model.learn(steps, callback=r.callback, log_interval=None, reset_num_timesteps=r.model.num_timesteps == 0)


@pytest.mark.parametrize("method, extra", [
    ("adamo", []), ("spectral", []), ("l2_init", []), ("wasserstein", []), ("shrink_perturb", []),
    ("cbp", ["method.units.maturity_threshold=0", "method.units.replacement_rate=0.02"]),
    ("redo", ["method.units.interval=4", "method.units.threshold=0.3"]), ("injection", []), ("reset_all", []),
])
def test_every_method_state_round_trips_through_a_checkpoint(tmp_path, method, extra):
    torch.manual_seed(0)
    a = prepare(config(tmp_path / "a", f"method={method}", "env.steps_per_task=1024", *extra), make_curriculum)
    learn(a, 1536)  # past a task switch: injection / reset_all have acted
    path = save(a, "test")
    learn(a, 1024)
    b = prepare(config(tmp_path / "b", f"method={method}", "env.steps_per_task=1024", *extra), make_curriculum)
    restore(b, path)
    sa, sb = a.model.policy.optimizer.state_dict(), copy.deepcopy(b.model.policy.optimizer.state_dict())
    learn(b, 1024)
    assert all(torch.equal(x, y) for x, y in zip(a.model.policy.parameters(), b.model.policy.parameters(), strict=True))
    assert sa["param_groups"] and sb["state"]
    if a.method.unit_method is not None:
        ua, ub = a.method.unit_method.state_dict(), b.method.unit_method.state_dict()
        assert ua["num_steps"] == ub["num_steps"]


# -- guarded training and logs ------------------------------------------------------------------------------------
def _planted_nan_run(tmp_path: Path, monkeypatch, agent: str, deferred: bool) -> str:
    """Train with a NaN planted in a first-layer weight's gradient at the 20th update; the guard's message."""
    import functools

    import agents.run.guard as guard_module
    import agents.training.runner as runner

    def planting(cfg, make_env):
        r = prepare(cfg, make_env)
        calls = {"n": 0}
        weight = next(p for n, p in r.model.policy.named_parameters() if n.endswith("linear.0.weight"))

        def plant(optimizer, args, kwargs):
            calls["n"] += 1
            if calls["n"] == 20:
                weight.grad[0, 0] = float("nan")
        r.model.policy.optimizer.register_step_pre_hook(plant)
        return r

    monkeypatch.setattr(runner, "prepare", planting)
    monkeypatch.setattr(runner, "NonFiniteGuard", functools.partial(guard_module.NonFiniteGuard, deferred=deferred))
    run_dir = tmp_path / f"{agent}_{deferred}"
    overrides = (TINY["dqn"] if agent == "dqn" else []) + ["method=adam", "checkpoint.every=256"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        base = TINY["ppo"] if agent == "ppo" else []
        cfg = OmegaConf.to_container(compose("config", overrides=[*base, *COMMON, *overrides, "eval.enabled=false",
                                                                  "metrics.enabled=false", f"run_dir={run_dir}"]),
                                     resolve=True)
    with pytest.raises(SystemExit) as stopped:
        run(cfg, make_curriculum)
    status = read_status(run_dir)
    assert status["status"] == "failed" and status["reason"] in str(stopped.value)
    good = checkpoint_paths(run_dir)
    assert good and all(torch.isfinite(t).all() for t in torch.load(good[-1], weights_only=False)["policy"].values())
    return str(stopped.value)


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_a_planted_nan_stops_the_run_with_the_step_and_the_tensor(tmp_path, monkeypatch, agent):
    """The immediate check (CPU's default) and the deferred one (CUDA's; read at rollout starts, log rows and
    checkpoints) name the same tensor, update and env step, stop before a rollout or a checkpoint uses the NaN,
    and keep the last good checkpoint."""
    now = _planted_nan_run(tmp_path, monkeypatch, agent, deferred=False)
    assert re.search(r"non-finite gradient of (q_net\.)?features_extractor\.linear\.0\.weight at env step "
                     r"[\d,]+ \(update 20\)", now), now
    assert _planted_nan_run(tmp_path, monkeypatch, agent, deferred=True) == now


def test_guard_names_non_finite_gradients_and_parameters_but_not_large_finite_ones():
    from torch import nn

    from agents.run.guard import NonFiniteError, NonFiniteGuard
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    NonFiniteGuard(net, opt, lambda: 7)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    net[0].weight.data.fill_(1e30)  # finite, but its 2-norm overflows float32: the exact check clears it
    opt.step()
    net[1].bias.grad[0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"non-finite gradient of 1\.bias at env step 7"):
        opt.step()
    net[1].bias.grad.zero_()
    net[1].weight.data[0, 0] = float("nan")  # finite gradients, a non-finite parameter after the step
    with pytest.raises(NonFiniteError, match=r"non-finite parameter of 1\.weight"):
        opt.step()


@pytest.mark.parametrize("name", ["Adam", "AdamO", "IsoAdam", "L2InitAdam", "SpectralAdam", "WassersteinAdam",
                                  "ShrinkPerturbAdam", "AdamW", "SGD"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_guard_catches_a_non_finite_gradient_from_the_parameters_it_leaves(name, bad):
    """The guard checks parameters only, after the step: every optimizer turns a bad gradient into a bad
    parameter, and the message still names the gradient."""
    from torch import nn

    import plasticity
    from agents.run.guard import NonFiniteError, NonFiniteGuard
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    if name in ("Adam", "SGD"):
        opt = getattr(torch.optim, name)(net.parameters(), lr=1e-3)
    else:
        opt = getattr(plasticity, name)(plasticity.param_groups(net), lr=1e-3)
    NonFiniteGuard(net, opt, lambda: 11)
    for _ in range(3):  # a few good steps: no false alarm, and optimizer state exists
        opt.zero_grad()
        net(torch.randn(5, 6)).pow(2).mean().backward()
        opt.step()
    opt.zero_grad()
    net(torch.randn(5, 6)).pow(2).mean().backward()
    net[2].weight.grad[3, 1] = bad
    with pytest.raises(NonFiniteError, match=r"non-finite gradient of 2\.weight at env step 11 \(update 4\)"):
        opt.step()


def test_a_truncated_metrics_file_is_read_without_error(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,ep_return_mean\n100,1.5\n200,2.5\n300,3.")
    assert read_csv(path) == [{"step": "100", "ep_return_mean": "1.5"}, {"step": "200", "ep_return_mean": "2.5"}]
    path.write_text("step,ep_return_mean\n100,1.5\n200")  # a row cut inside its first field
    assert read_csv(path) == [{"step": "100", "ep_return_mean": "1.5"}]
