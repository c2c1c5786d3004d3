"""scripts/bench_gpu.py's smoke run on the CPU: every section measures, the page is written section by section, and
the self-check refuses a row whose work ran elsewhere."""

from __future__ import annotations

import pytest
import torch

from agents.bench import gpu

SMOKE = ["--device", "cpu", "--envs", "16", "--env-steps", "64", "--ppo-envs", "8", "--ppo-steps", "16",
         "--ppo-rollouts", "1", "--dqn-steps", "32", "--games", "breakout", "--cpu-threads", "1"]


def test_the_gpu_benchmark_runs_every_section_on_the_cpu(tmp_path, monkeypatch):
    written = []
    real = type(tmp_path).write_text
    monkeypatch.setattr(type(tmp_path), "write_text", lambda self, text, *a, **k: (written.append(text),
                                                                                   real(self, text, *a, **k))[1])
    out = tmp_path / "bench_gpu.md"
    assert gpu.main([*SMOKE, "--out", str(out)]) == 0
    page = out.read_text()
    assert "failed:" not in page and "no GPU (smoke run)" in page
    for title in ("## 1. Env only: 16 envs", "## 2. PPO at the AdamO paper's settings", "## 3. DQN"):
        assert title in page
    assert "PPO, adamo_paper (8 × 16, MLP 64×4)" in page and "| breakout |" in page
    sections = [text.count("## ") for text in written]
    assert sections == [1, 2, 3]  # rewritten after each section: a run stopped early keeps what it measured


def test_a_failed_section_is_reported_and_the_run_goes_on(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("planted")
    monkeypatch.setattr(gpu, "train_speed", broken)
    out = tmp_path / "bench_gpu.md"
    assert gpu.main([*SMOKE, "--out", str(out)]) == 1
    page = out.read_text()
    assert page.count("failed:") == 2 and "| breakout |" in page and "RuntimeError: planted" in page


def test_the_self_check_refuses_work_on_another_device_and_bad_sizes(capsys):
    with pytest.raises(RuntimeError, match="ran on cpu, not on cuda: the row would be mislabelled"):
        gpu.check_device("PPO", torch.device("cpu"), "cuda")
    with pytest.raises(SystemExit):
        gpu.main(["--device", "cpu", "--envs", "0"])
    assert "--envs=0 must be >= 1" in capsys.readouterr().err
