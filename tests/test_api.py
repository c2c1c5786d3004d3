"""The tools researchers use (issue 22): the Python API, the ``plasticity-rl`` command, W&B, the Optuna search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import tomllib
from conftest import cli_in_process, lock_held_elsewhere
from omegaconf import OmegaConf

from agents.app.paths import ENV_VAR, config_dir
from agents.config.cli import check_cli
from agents.errors import ConfigError
from agents.run.logs import read_csv

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
COMMAND = Path(sys.executable).parent / "plasticity-rl"
TINY = ["agent.n_envs=8", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2", "env.steps_per_task=1536",
        "env.cycles=1", "checkpoint.every=768", "metrics.every=512", "log_every=256", "eval.every=1024",
        "eval.episodes=2", "eval.max_steps=200", "deterministic=true", "progress=false", "device=cpu"]
FAST = [*TINY[:6], "eval.enabled=false", "metrics.enabled=false", "progress=false", "device=cpu"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def cli(*args: str, command: list[str] | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(command or [sys.executable, "scripts/train.py"]), *args], cwd=ROOT, env=env or ENV,
                          capture_output=True, text=True, timeout=300)


def _without_time(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in ("time_s", "sps")} for row in read_csv(path)]


# ----------------------------------------------------------------------------------------------- Python API


def test_api_train_makes_the_same_run_directory_as_the_command(tmp_path):
    from agents import train
    by_cli, by_api = tmp_path / "cli", tmp_path / "api"
    done = cli(*TINY, f"hydra.run.dir={by_cli}")
    assert done.returncode == 0, done.stderr[-2000:]
    run = train([*TINY, f"hydra.run.dir={by_api}"])

    assert run.run_dir == by_api and run.status == "completed"
    def files(root: Path) -> set[str]:  # TensorBoard names its event file by time, host and pid
        return {str(p.relative_to(root)).split(".out.tfevents.")[0] for p in root.rglob("*")}
    assert files(by_cli) == files(by_api)
    assert (by_api / ".hydra" / "overrides.yaml").exists() and (by_api / "train.log").exists()
    cfg_cli, cfg_api = (OmegaConf.to_container(OmegaConf.load(d / "config.yaml")) for d in (by_cli, by_api))
    assert {**cfg_cli, "run_dir": None} == {**cfg_api, "run_dir": None}
    for log in ("episodes.csv", "tasks.csv", "eval.csv", "plasticity.csv"):
        assert (by_cli / log).read_text() == (by_api / log).read_text(), log
    assert _without_time(by_cli / "metrics.csv") == _without_time(by_api / "metrics.csv")

    # the summary the notebook gets is the run's own
    assert list(run.visits["task"]) == ["breakout", "space_invaders"]
    assert run.visits["episodes"].sum() == len(read_csv(by_api / "episodes.csv"))
    assert run.score == pytest.approx(run.visits["auc"].iloc[1])
    metrics = run.read("metrics")
    assert metrics["step"].dtype.kind == "i" and metrics["task_name"].iloc[0] == "breakout"
    with pytest.raises(ValueError, match="unknown log 'nope'; valid choices: metrics"):
        run.read("nope")


def test_a_search_trial_or_command_line_coefficient_reaches_the_run_under_a_preset(tmp_path):
    from agents import train
    run = train(["experiment=adamo_paper_small", "method=adamo_groupsort", "method.coef=0.0123", *FAST,
                 f"hydra.run.dir={tmp_path / 'run'}"])
    assert run.status == "completed" and run.config["method"]["coef"] == 0.0123  # not the preset arm's 0.05


def test_api_refuses_bad_overrides_with_the_command_line_message(tmp_path, capsys):
    from agents import train
    for bad in (["method=adamx"], ["agent.learning_rate=-1"], ["nokey=1"], ["wandb.mode=sometimes"]):
        with pytest.raises(ConfigError) as err:
            train([*bad, f"hydra.run.dir={tmp_path / 'never'}"])
        code, stderr = cli_in_process([*bad, f"hydra.run.dir={tmp_path / 'never'}"], capsys)  # the command's main
        assert code == 2 and stderr.strip() == f"error: {err.value}"
    assert not (tmp_path / "never").exists()
    with pytest.raises(ConfigError, match=r"seed='0,1': several values make a sweep: call sweep\(\[\.\.\.\]\)"):
        train(["seed=0,1"])
    with pytest.raises(TypeError, match="list of strings"):
        train("method=cbp")


def test_load_sweep_refuses_a_file_or_a_missing_directory_in_one_line(tmp_path):
    from agents import load_sweep
    (tmp_path / "notes.txt").write_text("not a sweep")
    for path, what in ((tmp_path / "notes.txt", "is a file"), (tmp_path / "nope", "is not there")):
        with pytest.raises(ValueError, match=f"load_sweep: .* {what}; give the sweep directory") as err:
            load_sweep(path)
        assert "\n" not in str(err.value)


def test_api_sweep_returns_every_run_and_one_visit_table(tmp_path):
    from agents import sweep
    result = sweep([*FAST, "method=adam,adamo", "seed=0", f"hydra.sweep.dir={tmp_path / 'grid'}"])
    assert result.sweep_dir == tmp_path / "grid" and len(result.runs) == 2
    assert [r.config["method"]["name"] for r in result.runs] == ["adam", "adamo"]
    assert all(r.status == "completed" for r in result.runs)
    table = result.visits
    assert len(table) == 4 and set(table["method"]) == {"adam", "adamo"}


# ----------------------------------------------------------------------------------------- plasticity-rl command


def test_console_command_behaves_as_the_scripts(tmp_path, capsys):
    assert COMMAND.exists(), "pip install -e . installs the plasticity-rl command (pyproject [project.scripts])"
    version = cli("--version", command=[str(COMMAND)])
    assert version.returncode == 0 and version.stdout.startswith("plasticity-rl 0.")
    unknown = cli("trian", command=[str(COMMAND)])
    assert unknown.returncode == 2 and unknown.stderr.strip() == \
        "error: unknown command 'trian'; valid choices: train, report"
    bad_cmd = cli("train", "method=adamx", command=[str(COMMAND)])
    script_code, script_err = cli_in_process(["method=adamx"], capsys)  # scripts/train.py's entry point
    assert bad_cmd.returncode == script_code == 2 and bad_cmd.stderr == script_err
    done = cli("train", *FAST, f"hydra.run.dir={tmp_path / 'run'}", command=[str(COMMAND)])
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "completed"
    assert (tmp_path / "run" / "train.log").exists()  # Hydra's job name is "train", as for scripts/train.py

    report = cli("report", str(tmp_path / "run"), "--out", str(tmp_path / "rep"), "--bootstrap", "50",
                 command=[str(COMMAND)])
    assert report.returncode == 0 and (tmp_path / "rep" / "summary.md").exists(), report.stderr[-2000:]
    missing = cli("report", str(tmp_path / "nowhere"), command=[str(COMMAND)])
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: no such run directory: {tmp_path / 'nowhere'}"

    from agents import report as make_report
    result = make_report(tmp_path / "run", tmp_path / "rep2", bootstrap=50)
    assert result.summary.exists() and list(result.visits["task"]) == ["breakout", "space_invaders"]
    assert list(result.aggregate["method"]) == ["adamo"] and result.wandb_run is None


def test_report_uploads_its_plots_to_wandb_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    from agents import report as make_report
    from agents import train
    train([*FAST, f"hydra.run.dir={tmp_path / 'sweep' / 'run0'}"])
    result = make_report(tmp_path / "sweep", tmp_path / "rep", bootstrap=50, wandb=True)
    offline = list((tmp_path / "rep" / "wandb").glob(f"offline-run-*-{result.wandb_run}"))
    assert len(offline) == 1
    pngs = {p.name for p in (tmp_path / "rep").glob("*.png")}
    uploaded = {p.name for p in offline[0].rglob("*.png")}
    assert pngs and len(uploaded) == len(pngs)  # every plot, under W&B's media names
    import wandb
    wandb.teardown()  # W&B's service process writes the offline record: flushed once the service stops
    record_file = next(offline[0].glob("run-*.wandb"))
    for _ in range(60):  # and, on a loaded machine, possibly a moment after that
        record = record_file.read_bytes()
        if b"report/visits" in record:
            break
        time.sleep(0.5)
    assert b"report/visits" in record and b"report" in record and b"sweep" in record  # tables; group = "sweep"


def test_config_dir_is_found_and_a_bad_override_dir_is_one_line(monkeypatch, tmp_path):
    assert config_dir() == CONF
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ConfigError, match=r"PLASTICITY_RL_CONF=.*must be a directory holding config.yaml"):
        config_dir()


def test_wheel_ships_every_config_folder():
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    folders = {p.parent.relative_to(ROOT).as_posix() for p in CONF.rglob("*.yaml")}
    listed = {globs[0].rpartition("/")[0] for globs in data_files.values()}
    assert folders == listed
    for target, globs in data_files.items():
        assert target == "share/plasticity-rl/" + globs[0].rpartition("/")[0]


# ------------------------------------------------------------------------------------------------------ W&B


def test_wandb_offline_run_writes_its_files_and_resume_continues_the_same_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")  # for the in-process runs below (the command gets ENV)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "run"
    done = cli(*TINY, "wandb.enabled=true", "wandb.tags=[smoke]", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-2000:]
    state = json.loads((run_dir / "wandb.json").read_text())
    offline = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and offline[0].name.endswith(state["id"])
    record = next(offline[0].glob("run-*.wandb")).read_bytes()
    for key in ("train/ep_return_mean", "task/visit", "eval/space_invaders/return_mean", "plasticity/dormant_tau0",
                "env_step", "adamo-s0", "ppo-minatar_demo", "smoke"):
        assert key.encode() in record, key
    assert state["handed"] == {log: len(rows) for log, rows in _csv_rows(run_dir).items()}
    assert _saved_history(run_dir, state["id"]) == _csv_rows(run_dir)  # every row saved once, in order
    # the CSV logs are what they are without W&B
    from agents import train
    train([*TINY, f"hydra.run.dir={tmp_path / 'plain'}"])  # in this process: the same logs as the command's
    assert (run_dir / "episodes.csv").read_text() == (tmp_path / "plain" / "episodes.csv").read_text()

    # killed with its whole process group after its checkpoint at step 1536, W&B's service process too, before the
    # service had saved the rows after step ~1024 (measured: such a kill loses W&B's last 80 or so rows): the logs,
    # checkpoints and W&B record as that kill leaves them, the record ending in a torn write
    from agents.run.checkpoint import checkpoint_paths
    from agents.run.wandb_record import history
    (run_dir / "status.json").unlink()
    for path in checkpoint_paths(run_dir):
        if path.suffix == ".zip" or int(path.stem.split("_")[1]) > 1536:
            path.unlink()
    record = next(offline[0].glob("run-*.wandb"))
    cut = next(end for end, _, step in history(record) if step >= 1024)
    data = record.read_bytes()
    record.write_bytes(data[:cut] + data[cut: cut + 30])
    again = train([*TINY, "wandb.enabled=true", "wandb.tags=[smoke]", f"hydra.run.dir={run_dir}"])  # in process
    import wandb
    wandb.teardown()
    assert again.status == "completed"
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(r.name.endswith(state["id"]) for r in runs)
    resent = [step for _, _, step in history(next(runs[1].glob("run-*.wandb")))]
    assert min(resent) < 1536 < max(resent)  # from the CSV logs (before the checkpoint) and trained again (after)
    assert _saved_history(run_dir, state["id"]) == _csv_rows(run_dir)  # none lost, none twice


def _csv_rows(run_dir: Path) -> dict[str, list[float]]:
    """The env steps of the rows W&B mirrors, per CSV log, in the logs' order."""
    from agents.run.wandb_log import STEP_COLUMN, row_data
    return {log: [row_data(log, row)["env_step"] for row in read_csv(run_dir / f"{log}.csv") if row_data(log, row)]
            for log in STEP_COLUMN}


def _saved_history(run_dir: Path, run_id: str) -> dict[str, list[float]]:
    """The env steps of the rows W&B saved, per CSV log, over all the sessions of the run, in order."""
    from agents.run.wandb_record import history, transaction_logs
    saved: dict[str, list[float]] = {log: [] for log in ("metrics", "tasks", "eval", "plasticity")}
    for path in transaction_logs(run_dir / "wandb", run_id):
        for _, log, step in history(path):
            saved[log].append(step)
    return saved


class _FakeRun:
    def __init__(self, **kwargs):
        self.kwargs, self.logged, self.id = kwargs, [], kwargs["id"]

    def define_metric(self, *args, **kwargs):
        pass

    def log(self, data):
        self.logged.append(data)

    def finish(self):
        pass


def test_wandb_names_groups_and_no_row_twice_after_a_resume(tmp_path, monkeypatch):
    from agents.run import wandb_log
    runs: list[_FakeRun] = []
    fake = types.SimpleNamespace(init=lambda **kw: runs.append(_FakeRun(**kw)) or runs[-1])
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setattr(wandb_log, "wandb_missing", lambda: False)
    sweep_dir = tmp_path / "multirun"
    (sweep_dir / "3_method=cbp,seed=2").mkdir(parents=True)
    (sweep_dir / "multirun.yaml").write_text("{}")
    cfg = {"agent": {"name": "ppo"}, "env": {"name": "minatar_switch"}, "method": {"name": "cbp"}, "seed": 2,
           "wandb": {"enabled": True, "tags": ["a"]}}
    run_dir = sweep_dir / "3_method=cbp,seed=2"

    first = wandb_log.WandbLog(cfg, run_dir)
    assert runs[0].kwargs["group"] == "multirun" and runs[0].kwargs["name"] == "cbp-s2"
    assert runs[0].kwargs["job_type"] == "cbp" and runs[0].kwargs["resume"] == "allow"
    assert runs[0].kwargs["config"]["method"]["name"] == "cbp"
    first("tasks", {"task_visit": 0, "task_id": 0, "task_name": "breakout", "task_cycle": 0, "start_step": 0})
    first("metrics", {"step": 1000, "ep_return_mean": 1.5, "task_name": "breakout", "loss": None})
    first("metrics", {"step": 2000, "ep_return_mean": 2.5, "task_name": "breakout"})
    first("episodes", {"step": 2000, "return": 3.0})
    first("eval", {"step": 2000, "eval_task_name": "asterix", "return_mean": 0.5, "episodes": 8})
    first("plasticity", {"step": 2000, "metric": "dormant_tau0/net.0", "value": 0.25})
    assert runs[0].logged == [
        {"task/visit": 0.0, "task/id": 0.0, "task/cycle": 0.0, "env_step": 0.0},
        {"train/ep_return_mean": 1.5, "env_step": 1000.0},
        {"train/ep_return_mean": 2.5, "env_step": 2000.0},
        {"eval/asterix/return_mean": 0.5, "eval/asterix/episodes": 8.0, "env_step": 2000.0},
        {"plasticity/dormant_tau0/net.0": 0.25, "env_step": 2000.0},
    ]
    # the process dies after step 2000; its last checkpoint was at 1000, so the resumed run's logs hold the rows up
    # to 1000 (cut back by the restore) and it writes 2000 again. W&B left no record of its own here (a fake), so
    # the rows handed over stand in for the rows saved
    (run_dir / "tasks.csv").write_text("task_visit,task_id,task_name,task_cycle,start_step\n0,0,breakout,0,0\n")
    (run_dir / "metrics.csv").write_text("step,ep_return_mean,task_name\n1000,1.5,breakout\n")
    second = wandb_log.WandbLog(cfg, run_dir)
    assert runs[1].kwargs["id"] == runs[0].kwargs["id"]
    second("metrics", {"step": 2000, "ep_return_mean": 2.5})
    second("metrics", {"step": 3000, "ep_return_mean": 3.5})
    assert runs[1].logged == [{"train/ep_return_mean": 3.5, "env_step": 3000.0}]
    # outside a sweep the group is the curriculum; config values win
    single = tmp_path / "single"
    single.mkdir()
    wandb_log.WandbLog({**cfg, "wandb": {"enabled": True, "name": "mine"}}, single)
    assert runs[2].kwargs["group"] == "ppo-minatar_switch" and runs[2].kwargs["name"] == "mine"


def test_wandb_requested_but_not_installed_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # what an environment without the package gives find_spec
    code, err = cli_in_process(["wandb.enabled=true", f"hydra.run.dir={tmp_path / 'r'}"], capsys)
    assert code == 2
    assert err.strip() == ("error: wandb.enabled=True: needs the wandb package, which is not installed: "
                           "pip install 'plasticity-rl[wandb]'")
    assert not (tmp_path / "r").exists()
    as_group = cli_in_process(["logger=wandb", f"hydra.run.dir={tmp_path / 'r'}"], capsys)
    assert as_group == (2, err) and not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match=r"wandb\.mode='sometimes': valid choices: online, offline, disabled"):
        check_cli(["wandb.mode=sometimes"], CONF)


@pytest.mark.parametrize(("arg", "message"), [
    ("wandb.tags=foo", "wandb.tags='foo': must be a list of strings of 1 to 64 characters, e.g. [baseline, v2]"),
    ("wandb.project=", "wandb.project='': must be a name of 1 to 128 characters without / \\ # ? % :"),
    ("wandb.project=team/x", "wandb.project='team/x': must be a name of 1 to 128 characters without / \\ # ? % :"),
    ("wandb.entity=5", "wandb.entity=5: must be null (the default) or a non-empty text"),
    ("wandb.name=[a,b]", "wandb.name=['a', 'b']: must be null (the default) or a non-empty text"),
])
def test_bad_wandb_settings_are_refused_before_anything_runs(arg, message):
    with pytest.raises(ConfigError) as err:
        check_cli([arg], CONF)
    assert str(err.value) == message


def test_api_takes_a_relative_config_dir_and_refuses_one_without_config_yaml(tmp_path, monkeypatch):
    from agents import train
    monkeypatch.chdir(ROOT)
    with pytest.raises(ConfigError, match=r"^method='adamx': unknown method option"):
        train(["method=adamx"], config_dir="conf")  # relative: resolved, then the usual checks
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^config_dir='.*/nowhere': must be a directory holding config.yaml"):
        train([], config_dir="nowhere")


def test_logger_group_switches_wandb_and_a_value_on_the_command_line_wins():
    from agents.config.cli import compose_checked
    assert compose_checked(CONF, "config", [])["wandb"]["enabled"] is False
    assert compose_checked(CONF, "config", ["logger=wandb"])["wandb"]["enabled"] is True
    assert compose_checked(CONF, "config", ["logger=wandb", "wandb.enabled=false"])["wandb"]["enabled"] is False
    assert compose_checked(CONF, "config", ["logger=tensorboard", "wandb.enabled=true"])["wandb"]["enabled"] is True
    with pytest.raises(ConfigError, match=r"^logger='mlflow': unknown logger option; valid choices: tensorboard, "
                                          r"wandb$"):
        check_cli(["logger=mlflow"], CONF)


# --------------------------------------------------------------------------------------------------- Optuna


def _study(path: Path):
    import optuna
    names = optuna.get_all_study_summaries(storage=f"sqlite:///{path}")
    return optuna.load_study(study_name=names[0].study_name, storage=f"sqlite:///{path}")


def test_optuna_search_completes_resumes_and_requeues_a_dead_trial(tmp_path):
    import optuna

    from agents import sweep
    sweep_dir = tmp_path / "search"
    args = [*FAST, "hydra/sweeper=optuna_coef", "method=adamo", "hydra.sweeper.n_trials=3",
            f"hydra.sweep.dir={sweep_dir}"]
    result = sweep(args)
    study = _study(sweep_dir / "optuna.db")
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 3 and len(result.runs) == 3
    assert study.study_name == "adamo-ppo-minatar_demo" and study.direction.name == "MAXIMIZE"
    coefs = sorted(t.params["method.coef"] for t in done)
    assert all(1e-4 <= c <= 1e-1 for c in coefs)  # adamo's search space from the preset
    assert sorted(r.config["method"]["coef"] for r in result.runs) == pytest.approx(coefs)
    for trial in done:  # each trial's value is its run's plasticity score
        run = next(r for r in result.runs if r.config["method"]["coef"] == pytest.approx(trial.params["method.coef"]))
        assert trial.value == pytest.approx(run.score)
    assert result.best["best_value"] == pytest.approx(max(t.value for t in done))

    # the same command again: the study is complete, nothing runs
    again = sweep(args)
    assert len(again.runs) == 3 and len(_study(sweep_dir / "optuna.db").trials) == 3

    # a process died during a trial: that trial fails and its parameters run first; the target is 4 finished
    dead = study.ask({"method.coef": optuna.distributions.LogUniformDistribution(1e-4, 1e-1)})
    resumed = sweep([*args[:-2], "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={sweep_dir}"])
    study = _study(sweep_dir / "optuna.db")
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1 and len(resumed.runs) == 4
    rerun = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[-1]
    assert rerun.params["method.coef"] == pytest.approx(dead.params["method.coef"])


@pytest.mark.parametrize(("args", "message"), [
    (["method.coef=tag(log, interval(-1e-4, 1e-1))"],
     "method.coef='tag(log, interval(-1e-4, 1e-1))': a log-scale search range needs 0 < low < high (got low = "
     "-0.0001)"),
    (["method.coef=tag(log, interval(0.1, 0.001))"],
     "method.coef='tag(log, interval(0.1, 0.001))': an empty search range: it needs low < high (got 0.1, 0.001)"),
    (["method.coef=interval(0.5, 0.5)"],
     "method.coef='interval(0.5, 0.5)': an empty search range: it needs low < high (got 0.5, 0.5)"),
])
def test_optuna_bad_ranges_are_one_line_exit_2(tmp_path, capsys, args, message):
    code, err = cli_in_process(["-m", "hydra/sweeper=optuna_coef", "method=adamo", *args,
                                f"hydra.sweep.dir={tmp_path / 's'}"], capsys)
    assert code == 2 and err.strip() == f"error: {message}"
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["method=adamo", "seed=0,1"], "seed='0,1': the Optuna search would treat this list as one more parameter"),
    (["method=adamo,cbp"], "method='adamo,cbp': the Optuna search would treat this list as one more parameter"),
    (["experiment=adamo_paper_small", "method=adamo_groupsort"],
     "hydra.sweeper.params.seed='0,1,2': the Optuna search would treat this list as one more parameter"),
])
def test_optuna_refuses_seed_and_method_lists(args, message):
    with pytest.raises(ConfigError) as err:
        check_cli(["-m", "hydra/sweeper=optuna_coef", *args], CONF)
    assert str(err.value).startswith(message)
    check_cli(["-m", "hydra/sweeper=optuna_coef", "experiment=adamo_paper_small", "method=adamo_groupsort", "seed=1"],
              CONF)  # one of each: the preset's lists give way to the command line


def test_optuna_needs_a_space_and_ranges_need_optuna():
    with pytest.raises(ConfigError, match="method='adam': has no search space in hydra/sweeper=optuna_coef: give "
                                          "a range"):
        check_cli(["-m", "hydra/sweeper=optuna_coef", "method=adam"], CONF)
    check_cli(["-m", "hydra/sweeper=optuna_coef", "method=adam", "agent.learning_rate=tag(log, interval(1e-5, 1e-3))"],
              CONF)
    with pytest.raises(ConfigError, match="a search range needs the Optuna sweeper: add hydra/sweeper=optuna_coef"):
        check_cli(["-m", "method=adamo", "method.coef=interval(0.1, 1)"], CONF)
    with pytest.raises(ConfigError, match=r"hydra.sweeper.search_spaces.adamo.method.coef=\[0.0, 0.1\]: must be"):
        check_cli(["-m", "hydra/sweeper=optuna_coef", "method=adamo",
                   "+hydra.sweeper.search_spaces.adamo={method.coef: [0.0, 0.1]}"], CONF)
    with pytest.raises(ConfigError, match=r"hydra\.sweeper\.n_trials=0: must be an integer >= 1"):
        check_cli(["-m", "hydra/sweeper=optuna_coef", "method=adamo", "hydra.sweeper.n_trials=0"], CONF)
    # a range's ends are validated like any value
    with pytest.raises(ConfigError, match=r"method\.coef=-1\.0"):
        check_cli(["-m", "hydra/sweeper=optuna_coef", "method=adamo", "method.coef=interval(-1.0, 1.0)"], CONF)


def test_a_wandb_failure_during_the_run_stops_the_mirror_not_the_run(tmp_path, monkeypatch, capsys):
    from agents.run import wandb_log
    from agents.run.logs import CSVLog, add_sink, remove_sink

    class Flaky(_FakeRun):
        def log(self, data):
            if len(self.logged) == 1:
                raise ConnectionError("network is unreachable\nmore")
            super().log(data)

        def finish(self):
            raise ConnectionError("still unreachable")
    runs: list[Flaky] = []
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=lambda **kw: runs.append(Flaky(**kw))
                                                                     or runs[-1]))
    monkeypatch.setattr(wandb_log, "wandb_missing", lambda: False)
    cfg = {"agent": {"name": "ppo"}, "env": {"name": "e"}, "method": {"name": "m"}, "seed": 0,
           "wandb": {"enabled": True}}
    mirror = wandb_log.WandbLog(cfg, tmp_path)
    add_sink(tmp_path, mirror)
    log = CSVLog(tmp_path / "metrics.csv", ("step", "ep_return_mean"))
    for step in (1, 2, 3):
        log.append({"step": step, "ep_return_mean": float(step)})  # the second one fails in W&B
    mirror.finish()
    remove_sink(tmp_path, mirror)
    log.close()
    assert [r["step"] for r in read_csv(tmp_path / "metrics.csv")] == ["1", "2", "3"]  # the CSV log is whole
    assert runs[0].logged == [{"train/ep_return_mean": 1.0, "env_step": 1.0}] and mirror.broken
    assert capsys.readouterr().err == (f"warning: W&B stopped sending (ConnectionError: network is unreachable); "
                                       f"training goes on, the logs are in {tmp_path}\n")
    assert json.loads((tmp_path / "wandb.json").read_text())["handed"] == {"metrics": 1}  # rows W&B took


def test_a_refused_report_upload_is_one_line_after_the_report_is_written(tmp_path, monkeypatch, capsys):
    from agents.app.report import main
    from agents.run import wandb_log

    def refuse(**kwargs):
        raise RuntimeError("api_key not configured (no-tty). call wandb.login(key=[your_api_key])\nmore")
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=refuse))
    monkeypatch.setattr(wandb_log, "wandb_missing", lambda: False)
    from test_report import write_run
    write_run(tmp_path / "runs", "adam", 0, 0.3)
    with pytest.raises(SystemExit) as code:
        main([str(tmp_path / "runs"), "--out", str(tmp_path / "rep"), "--bootstrap", "20", "--wandb"])
    assert code.value.code == 2 and (tmp_path / "rep" / "summary.md").exists()
    assert capsys.readouterr().err == (f"error: the report is written to {tmp_path / 'rep'}, but the W&B upload "
                                       "failed (RuntimeError: api_key not configured (no-tty). call "
                                       "wandb.login(key=[your_api_key]))\n")


def test_a_wandb_failure_at_start_is_one_warning_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    from agents.run import wandb_log
    from agents.training import runner

    def refuse(**kwargs):
        raise RuntimeError("No API key configured.\nsecond line")
    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=refuse))
    monkeypatch.setattr(wandb_log, "wandb_missing", lambda: False)
    cfg = {"agent": {"name": "ppo"}, "env": {"name": "e"}, "method": {"name": "m"}, "seed": 0,
           "wandb": {"enabled": True}}
    assert runner.open_mirror(cfg, tmp_path) is None
    err = capsys.readouterr().err
    assert err == (f"warning: W&B did not start (RuntimeError: No API key configured.); training goes on without it, "
                   f"the logs are in {tmp_path}\n")
    assert runner.open_mirror({**cfg, "wandb": {"enabled": False}}, tmp_path) is None


def test_the_help_and_the_readme_list_every_config_option_of_conf():
    """Generated from conf/ (agents/app/help.py), so a new preset cannot be missing from either."""
    from agents.app.help import GROUPS, README_BEGIN, README_END, help_text, readme_block
    readme = (ROOT / "README.md").read_text()
    assert readme[readme.index(README_BEGIN):readme.index(README_END) + len(README_END)] == readme_block(CONF)
    text = help_text(CONF)
    for group in GROUPS:
        for path in (CONF / group).glob("*.yaml"):
            assert f"    {path.stem} " in text, path
    assert "env_base" not in text and "method_base" not in text and "schema" not in text
    assert "sanity_ppo_gymnax" in readme and "minatar_adamo_gymnax" in readme


# --------------------------------------------------------------------- coefficient search, round three (issue 33)
def _scored(monkeypatch, scores) -> list[float]:
    """Trials that do not train: ``run_config`` returns the next of ``scores`` (an exception instance is raised),
    and the coefficients the trials got are collected."""
    import agents.app.train as app
    seen, it = [], iter(scores)

    def fake(cfg, make_env=None):
        seen.append(float(cfg.method.coef))
        value = next(it)
        if isinstance(value, BaseException):
            raise value
        return tmp_run, value
    tmp_run = Path("unused")
    monkeypatch.setattr(app, "run_config", fake)
    return seen


def _search(sweep_dir: Path, *extra: str) -> list[str]:
    return [*FAST, "hydra/sweeper=optuna_coef", "method=adamo", f"hydra.sweep.dir={sweep_dir}", *extra]


def test_a_resumed_search_draws_new_coefficients(tmp_path, monkeypatch):
    from agents import sweep
    seen = _scored(monkeypatch, [0.1, 0.2, 0.3, 0.4])
    sweep(_search(tmp_path / "s", "hydra.sweeper.n_trials=2"))
    sweep(_search(tmp_path / "s", "hydra.sweeper.n_trials=4"))  # the same study, two more trials
    assert len(seen) == 4 and len(set(seen)) == 4, seen  # before: trials 2 and 3 repeated trials 0 and 1
    assert [t.state.name for t in _study(tmp_path / "s" / "optuna.db").trials] == ["COMPLETE"] * 4


def test_failed_and_nan_trials_are_fail_and_the_search_goes_on(tmp_path, monkeypatch, capsys):
    import optuna

    from agents import sweep
    _scored(monkeypatch, [SystemExit(1), float("nan"), 0.5, RuntimeError("boom")])
    sweep(_search(tmp_path / "s", "hydra.sweeper.n_trials=4", "hydra.sweeper.max_failure_rate=1.0"))
    states = [t.state.name for t in _study(tmp_path / "s" / "optuna.db").trials]
    assert states == ["FAIL", "FAIL", "COMPLETE", "FAIL"]  # none left RUNNING
    # with the default (no failure allowed) the search stops at the first, in one line, the trial recorded
    _scored(monkeypatch, [float("nan")])
    code, err = cli_in_process(["-m", *_search(tmp_path / "t", "hydra.sweeper.n_trials=3")], capsys)
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: the search stopped: its score is nan")
    study = _study(tmp_path / "t" / "optuna.db")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL]


def test_a_second_search_on_the_same_directory_is_refused(tmp_path, capsys):
    sweep_dir = tmp_path / "s"
    with lock_held_elsewhere(sweep_dir) as pid:
        status, err = cli_in_process(["-m", *_search(sweep_dir, "hydra.sweeper.n_trials=1")], capsys)
    assert status == 2 and err.strip().splitlines()[-1] == (
        f"error: {sweep_dir} is in use by another process (pid {pid}): wait for it to end, or use another run "
        "directory")


@pytest.mark.parametrize(("args", "message"), [
    (["method.coef=interval(1e-4)"], "method.coef='interval(1e-4)': cannot be read: Error parsing override"),
    (["method.coef=choice()"], "method.coef='choice()': cannot be read"),
    (["hydra.sweeper.direction=sideways"], "hydra.sweeper.direction='sideways': valid choices: maximize, minimize"),
    (["hydra.sweeper.max_failure_rate=2"], "hydra.sweeper.max_failure_rate=2: must be a number in [0, 1]"),
    (["hydra.sweeper.storage=sqlite:////proc/nope/optuna.db"],
     "hydra.sweeper.storage='sqlite:////proc/nope/optuna.db': cannot hold the study: No such file or directory"),
    (["+hydra.sweeper.search_spaces.adamo={}"], "hydra.sweeper.search_spaces.adamo={}: must map at least one key"),
    (["+hydra.sweeper.search_spaces.adamo={method.nope: [0.1, 1]}"],
     "hydra.sweeper.search_spaces.adamo.method.nope=[0.1, 1]: is not a setting of adamo's runs"),
])
def test_every_sweeper_setting_is_checked_up_front(tmp_path, args, message):
    with pytest.raises(ConfigError) as err:
        check_cli(["-m", "hydra/sweeper=optuna_coef", "method=adamo", f"hydra.sweep.dir={tmp_path / 's'}", *args],
                  CONF)
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("damage", ["random", "cut"])
def test_a_damaged_study_file_is_one_line(tmp_path, damage):
    import random
    sweep_dir = tmp_path / "s"
    sweep_dir.mkdir()
    db = sweep_dir / "optuna.db"
    if damage == "random":
        db.write_bytes(random.Random(0).randbytes(8192))
    else:  # a real study cut in half
        import optuna
        optuna.create_study(study_name="x", storage=f"sqlite:///{db}").optimize(lambda t: t.suggest_float("a", 0, 1),
                                                                                 n_trials=3)
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    with pytest.raises(ConfigError, match=r"hydra\.sweeper\.storage=.*is not a readable Optuna study \(.*\); move "
                                          r"the file away"):
        check_cli(["-m", "hydra/sweeper=optuna_coef", "method=adamo", f"hydra.sweep.dir={sweep_dir}"], CONF)


def test_the_api_runs_under_the_callers_initialized_hydra_and_gives_it_back(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from agents import train
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        mine = GlobalHydra.instance().hydra
        run = train([*FAST, f"hydra.run.dir={tmp_path / 'run'}"])  # before: "GlobalHydra is already initialized"
        assert run.status == "completed" and GlobalHydra.instance().hydra is mine
        assert compose("config", overrides=["run_dir=x", "seed=5"]).seed == 5  # the caller's Hydra still works


def test_a_killed_trial_resumes_from_its_checkpoint_in_its_own_directory(tmp_path, capsys):
    """kill -9 during trial 0: its run directory holds checkpoints and says "running". The same command marks the
    trial FAIL, re-queues its coefficient and runs it in that directory, where the run resumes (no second
    directory for one coefficient, nothing rerun from step 0)."""
    import optuna

    from agents import load_sweep, sweep, train
    from agents.run.status import write_status
    sweep_dir = tmp_path / "s"
    sweep_dir.mkdir()
    study = optuna.create_study(study_name="adamo-ppo-minatar_demo", direction="maximize",
                                storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    dead = study.ask({"method.coef": optuna.distributions.LogUniformDistribution(1e-4, 1e-1)})
    coef = dead.params["method.coef"]
    job = sweep_dir / f"0_method.coef={coef}"
    train([*FAST, "method=adamo", f"method.coef={coef}", "checkpoint.every=768", f"hydra.run.dir='{job}'"])
    (job / "checkpoints" / "final.zip").unlink()
    steps = sorted((job / "checkpoints").glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    for late in steps[1:]:  # killed after its first checkpoint
        late.unlink()
    write_status(job, "running", step=int(steps[0].stem.split("_")[1]))
    capsys.readouterr()
    result = sweep(_search(sweep_dir, "hydra.sweeper.n_trials=1", "checkpoint.every=768"))
    out = capsys.readouterr().out
    assert f"resumed at step {int(steps[0].stem.split('_')[1]):,}" in out, out
    assert [t.state.name for t in _study(sweep_dir / "optuna.db").trials] == ["FAIL", "COMPLETE"]
    assert [r.run_dir for r in result.runs] == [job] and result.runs[0].status == "completed"
    assert len(load_sweep(sweep_dir).runs) == 1
