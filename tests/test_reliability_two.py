"""Reliability, round two (issue 20): finished runs resumed, damaged checkpoints and logs, two writers, stored
configs, unwritable run directories, Ctrl-C, and the step a preemption message names."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_in_process, lock_held_elsewhere
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agents.run.checkpoint import checkpoint_paths, digest_path
from agents.run.logs import read_csv
from agents.run.status import RunStateError, read_status
from agents.training.runner import prepare, run
from envs import make_curriculum

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
TINY = ["agent.n_envs=8", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2", "env.steps_per_task=1536",
        "env.cycles=1", "checkpoint.every=768", "metrics.every=512", "log_every=256", "eval.every=1024",
        "eval.episodes=2", "eval.max_steps=200", "deterministic=true", "progress=false", "device=cpu"]
LOGS = ("metrics.csv", "episodes.csv", "tasks.csv", "eval.csv", "plasticity.csv")


def config(run_dir: Path, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*TINY, f"run_dir={run_dir}", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def rows(run_dir: Path) -> dict[str, list[dict]]:
    return {name: [{k: v for k, v in r.items() if k not in ("time_s", "sps")} for r in read_csv(run_dir / name)]
            for name in LOGS}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One complete tiny run (3 tasks' worth of checkpoints); tests copy it rather than train again."""
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    run(config(run_dir), make_curriculum)
    return run_dir


def copy_run(src: Path, dst: Path) -> Path:
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    return dst


# -- 1 and 11: a run that had ended -------------------------------------------------------------------------------
def test_a_finished_run_without_status_or_final_model_is_completed_without_new_rows(reference, tmp_path):
    ended = copy_run(reference, tmp_path / "ended")
    (ended / "status.json").unlink()  # killed after the final checkpoint, or the status was lost
    run(config(ended), make_curriculum)
    assert rows(ended) == rows(reference)  # the final rows were not written a second time
    assert read_status(ended)["status"] == "completed"
    (ended / "checkpoints" / "final.zip").unlink()  # "complete" needs the final model too
    run(config(ended), make_curriculum)
    assert (ended / "checkpoints" / "final.zip").exists() and rows(ended) == rows(reference)


# -- 2: damaged checkpoints ------------------------------------------------------------------------------------
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _scramble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = os.urandom(64)  # random bytes inside: it may still load, with wrong numbers
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _empty, _scramble], ids=["truncated", "empty", "random-bytes"])
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_previous_one_resumes(reference, tmp_path, capfd, damage):
    damaged = copy_run(reference, tmp_path / "damaged")
    (damaged / "status.json").unlink()
    newest, previous = checkpoint_paths(damaged)[-1], checkpoint_paths(damaged)[-2]
    damage(newest)
    run(config(damaged), make_curriculum)
    err = capfd.readouterr().err
    assert f"checkpoint {newest.name} is damaged" in err and f"resuming from {previous.name}" in err
    assert (damaged / "checkpoints" / f"{newest.name}.damaged").exists()
    assert rows(damaged) == rows(reference)  # trained again from the previous checkpoint, identically
    assert read_status(damaged)["status"] == "completed"


def test_no_intact_checkpoint_left_is_refused(reference, tmp_path):
    damaged = copy_run(reference, tmp_path / "damaged")
    (damaged / "status.json").unlink()
    for path in checkpoint_paths(damaged):
        _empty(path)
    with pytest.raises(RunStateError, match="has no intact checkpoint left"):
        run(config(damaged), make_curriculum)


def test_every_checkpoint_has_its_digest(reference):
    assert all(digest_path(p).read_text().strip() for p in checkpoint_paths(reference))


# -- 3: damaged logs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["cut", "deleted", "edited"])
def test_a_log_damaged_inside_its_checkpointed_part_is_refused(reference, tmp_path, how):
    broken = copy_run(reference, tmp_path / "broken")
    (broken / "status.json").unlink()
    log = broken / "metrics.csv"
    if how == "cut":
        log.write_bytes(log.read_bytes()[:300])
    elif how == "deleted":
        log.unlink()
    else:
        log.write_text(log.read_text().replace(",", ";", 3))
    before = log.read_bytes() if log.exists() else None
    with pytest.raises(RunStateError, match=r"metrics\.csv was changed inside the .* bytes that checkpoint"):
        run(config(broken), make_curriculum)
    if before is not None:
        assert log.read_bytes() == before  # refused before anything was appended


# -- 4: two processes -------------------------------------------------------------------------------------------
def test_a_second_process_on_the_same_run_directory_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "busy"
    with lock_held_elsewhere(run_dir) as pid:
        with pytest.raises(RunStateError, match=rf"is in use by another process \(pid {pid}\)"):
            run(config(run_dir), make_curriculum)
        code, err = cli_in_process([*TINY, f"hydra.run.dir={run_dir}"], capsys)  # the command's entry point
        assert code == 2 and err.strip().splitlines() == [
            f"error: {run_dir} is in use by another process (pid {pid}): wait for it to end, or use another "
            "run directory"], err[-2000:]
        assert not (run_dir / "metrics.csv").exists()
    run(config(run_dir), make_curriculum)  # the lock died with its process
    assert read_status(run_dir)["status"] == "completed"


# -- 5, 6, 7, 9: inputs refused before anything is written ------------------------------------------------------
def _one_line(result: tuple[int, str], message: str) -> None:
    """``result``: (exit status, stderr) of the command's entry point (``conftest.cli_in_process``)."""
    code, stderr = result
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], stderr[-2000:]


def test_resume_validates_the_stored_config(reference, tmp_path, capsys):
    bad = copy_run(reference, tmp_path / "bad")
    text = (bad / "config.yaml").read_text()
    (bad / "config.yaml").write_text(text.replace("learning_rate: 0.00025", "learning_rate: -1.0", 1))
    _one_line(cli_in_process([f"resume={bad}"], capsys),
              f"resume='{bad}': its config.yaml has agent.learning_rate=-1.0: must be > 0")
    (bad / "config.yaml").write_text("agent: {learning_rate: [")
    _one_line(cli_in_process([f"resume={bad}"], capsys), f"resume='{bad}': its config.yaml cannot be read")


def test_run_directories_that_cannot_be_written_are_refused_in_one_line(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [(f"hydra.run.dir={a_file}/run", "is a file, not a directory"),
             (f"hydra.run.dir={tmp_path / ('x' * 300)}", "a path component is 300 bytes long"),
             ("hydra.run.dir=/proc/no_such_pid/run", "cannot hold a run"),
             (f"run_dir={a_file}/run", "is a file, not a directory")]
    for override, message in cases:
        _one_line(cli_in_process([override], capsys), message)
    assert list(tmp_path.iterdir()) == [a_file]


# -- 8: a total longer than the curriculum --------------------------------------------------------------------
def test_total_timesteps_beyond_the_curriculum_is_announced(tmp_path, capsys):
    prepare(config(tmp_path / "run", "total_timesteps=5000", "eval.enabled=false", "metrics.enabled=false"),
            make_curriculum)
    assert ("warning: total_timesteps=5,000 is longer than the curriculum (3,072 env steps): its last task goes on "
            "for 1,928 more steps") in capsys.readouterr().err


# -- 10 and 12: Ctrl-C and SIGTERM stop at a checkpoint and say which (SIGTERM: test_reliability.py) ---------------
def test_ctrl_c_checkpoints_names_its_step_and_resumes(tmp_path, capsys):
    run_dir = tmp_path / "stopped"
    args = [*TINY, "checkpoint.every=1000000", "env.steps_per_task=3000"]
    proc = subprocess.Popen([sys.executable, "scripts/train.py", *args, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run_dir / "metrics.csv").exists() or len(read_csv(run_dir / "metrics.csv")) < 3:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    (checkpoint,) = checkpoint_paths(run_dir)
    step = int(checkpoint.stem.split("_")[1])
    assert f"interrupted at env step {step:,}: checkpoint written" in out
    assert read_status(run_dir)["status"] == "interrupted"
    resumed, err = cli_in_process([*args, f"hydra.run.dir={run_dir}"], capsys)  # the resume, in this process
    assert resumed == 0 and read_status(run_dir)["status"] == "completed", err[-2000:]


# -- round three (issue 33): a resume continues the stored run, whatever else the command asks -------------------
def test_resume_with_a_conflicting_override_is_refused_in_one_line(tmp_path, capsys):
    stored = tmp_path / "stored"
    tiny = [*TINY[:4], "env.steps_per_task=256", "eval.enabled=false", "metrics.enabled=false", "progress=false"]
    assert cli_in_process([*tiny, f"hydra.run.dir={stored}"], capsys)[0] == 0
    (stored / "status.json").unlink()  # killed after its final checkpoint: a resume completes it
    for override, said in (("method=cbp", "method='adamo'"), ("seed=3", "seed=0"),
                           ("agent.learning_rate=0.1", "agent.learning_rate=0.00025")):
        _one_line(cli_in_process([f"resume={stored}", override], capsys),
                  f"resume='{stored}': holds a run with {said}; the command asks {override}: a resume continues")
    # the stored values themselves, and what a resume may set, are fine: it completes the run
    code, err = cli_in_process([f"resume={stored}", "method=adamo", "seed=0", "progress=false"], capsys)
    assert code == 0 and read_status(stored)["status"] == "completed", err[-2000:]


def test_the_last_visit_spans_the_run_not_its_last_episode(tmp_path):
    """768 steps run, the last episode ended at 688: the summary, the API and the report see 768."""
    from agents.run.layout import RunDir
    from agents.run.logs import EPISODE_COLUMNS, METRIC_COLUMNS, TASK_COLUMNS, CSVLog
    from agents.run.status import write_status
    from agents.run.summary import summarize
    logs = RunDir(tmp_path)
    tasks, episodes = CSVLog(logs.log("tasks"), TASK_COLUMNS), CSVLog(logs.log("episodes"), EPISODE_COLUMNS)
    metrics = CSVLog(logs.log("metrics"), tuple(METRIC_COLUMNS))
    for visit, (name, start) in enumerate((("breakout", 0), ("asterix", 384))):
        tasks.append({"task_visit": visit, "task_id": visit, "task_name": name, "task_cycle": 0, "start_step": start})
    for step, visit in ((200, 0), (380, 0), (500, 1), (688, 1)):
        episodes.append({"step": step, "task_visit": visit, "task_id": visit, "task_name": "x", "task_cycle": 0,
                         "return": 1.0, "length": 10})
    metrics.append({"step": 768, "task_visit": 1})
    for log in (tasks, episodes, metrics):
        log.close()
    assert [v.steps for v in summarize(tmp_path)] == [384, 384]  # not 304 (688 − 384)
    write_status(tmp_path, "completed", step=800)  # the status, when it is further on, wins
    assert summarize(tmp_path)[-1].steps == 416


def _damage(run: Path, file: str, how: str) -> None:
    path = run / file
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if how == "empty":
        path.write_text("")
    elif how == "cut":
        path.write_text(text[: len(text) // 2])
    elif how == "random":
        import random
        path.write_bytes(random.Random(0).randbytes(4096))
    elif how == "no_return":
        path.write_text("".join(",".join(c for k, c in enumerate(line.rstrip("\n").split(",")) if k != 5) + "\n"
                                for line in lines))
    elif how == "text":
        cells = lines[2].rstrip("\n").split(",")
        cells[5 if file == "episodes.csv" else -1] = "abc"
        path.write_text("".join([*lines[:2], ",".join(cells) + "\n", *lines[3:]]))
    elif how == "extra":
        path.write_text("".join([*lines[:2], lines[2].rstrip("\n") + ",7\n", *lines[3:]]))


@pytest.mark.parametrize(("file", "how", "message"), [
    ("config.yaml", "empty", "config.yaml: holds no config"),
    ("config.yaml", "cut", "config.yaml: "),
    ("episodes.csv", "no_return", "episodes.csv: has no 'return' column"),
    ("episodes.csv", "random", "episodes.csv: not a CSV log"),
    ("episodes.csv", "text", "episodes.csv: line 3: return='abc' is not a number"),
    ("episodes.csv", "extra", "episodes.csv: line 3 has 8 cells where the header has 7"),
    ("tasks.csv", "text", "tasks.csv: line 3: start_step='abc' is not an integer"),
])
def test_the_report_and_the_loaders_refuse_a_damaged_run_in_one_line_naming_the_file(reference, tmp_path, capsys,
                                                                                        file, how, message):
    from agents import load_run
    from agents.app.report import main as report_main
    run_dir = copy_run(reference, tmp_path / "run")
    _damage(run_dir, file, how)
    with pytest.raises(ValueError) as err:
        load_run(run_dir)
    assert f"{run_dir / file}" in str(err.value) and message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SystemExit) as stopped:
        report_main([str(run_dir), "--out", str(tmp_path / "rep")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(lines) == 1 and message in lines[0], lines


def test_a_checkpoint_that_cannot_be_written_is_one_line_naming_the_path_and_leaves_nothing_half_written(
        tmp_path, monkeypatch, capsys):
    """A file-size limit (ulimit -f) or a full disk: torch.save fails part-way (errno EFBIG); the run is failed,
    the message is one line and no .tmp file stays; the same command resumes from the last checkpoint."""
    import errno

    import agents.run.checkpoint as checkpoint
    real, calls = checkpoint.torch.save, {"n": 0}

    def limited(obj, f):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint hits the limit
            f.write(b"x" * 1000)
            raise OSError(errno.EFBIG, "File too large")
        real(obj, f)
    monkeypatch.setattr(checkpoint.torch, "save", limited)
    run_dir = tmp_path / "run"
    code, err = cli_in_process([*TINY, f"hydra.run.dir={run_dir}"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: cannot write the checkpoint {run_dir}/"
                                                                  "checkpoints/step_"), err[-2000:]
    assert "File too large" in lines[0] and read_status(run_dir)["status"] == "failed"
    assert not list(run_dir.rglob("*.tmp")) and len(checkpoint_paths(run_dir)) == 1
    monkeypatch.setattr(checkpoint.torch, "save", real)
    assert cli_in_process([*TINY, f"hydra.run.dir={run_dir}"], capsys)[0] == 0  # resumes and completes
    assert read_status(run_dir)["status"] == "completed"
