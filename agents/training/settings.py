"""The run config (:class:`RunConfig`): the run's own options and its sections, each declared beside the code it
configures — ``agent`` (agents/algorithms/settings.py), ``method`` (agents/methods.py), ``eval`` and ``metrics``
(agents/callbacks/settings.py), ``checkpoint`` and ``wandb`` (agents/run/settings.py). ``env`` is the curriculum
spec, checked by ``envs.spec`` where the run is composed (agents/config: the runner never imports envs).

:func:`agents.config.validation.effective_config` builds it from a composed Hydra config and the command line.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, field_validator, model_validator

from agents.algorithms.settings import AgentConfig
from agents.callbacks.settings import EvalConfig, MetricsConfig
from agents.methods import MethodConfig
from agents.run.layout import RunDir
from agents.run.settings import CheckpointConfig, WandbConfig
from agents.settings import Section

MAX_THREADS = 4 * (os.cpu_count() or 1)  # more threads than that only oversubscribes (100000 crashed OpenMP)
RUN_ONLY = ("run_dir", "resume", "progress", "wandb")  # may differ between a run and its resumption


class RunConfig(Section):
    """One training run = agent × env (curriculum) × method, with the run's options."""

    agent: AgentConfig
    env: dict[str, Any] = Field(description="the curriculum spec (envs/spec.py)")
    run_dir: str = Field(min_length=1, description="the run directory (Hydra's output directory)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds torch, numpy, the agent and the curriculum")
    device: str = Field("auto", description="auto (cuda when present) | cpu | cuda | cuda:<index>")
    total_timesteps: int | None = Field(None, ge=1, description="null: the curriculum's length")
    torch_threads: int = Field(1, ge=1, le=MAX_THREADS, description="torch CPU threads (docs/performance.md)")
    progress: bool = Field(True, description="progress bar on stderr")
    deterministic: bool = Field(False, description="torch deterministic algorithms (exact resume on CPU)")
    resume: str | None = Field(None, description="a run directory to continue with its own config")
    arms: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-method settings merged into "
                                            "method when that method runs, e.g. {adamo: {coef: 0.05}}")
    log_every: int = Field(10_000, ge=1, description="env steps between metrics.csv rows")
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    wandb: WandbConfig = Field(default_factory=WandbConfig)
    method: MethodConfig  # last: its check imports the library (torch)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not (value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())):
            raise ValueError("valid choices: auto, cpu, cuda, cuda:<index>")
        return value

    @field_validator("resume")
    @classmethod
    def _resume(cls, value: str | None) -> str | None:
        if value is not None and not RunDir.of(value).config.is_file():
            raise ValueError("must be a run directory (holding config.yaml) or null")
        return value

    @model_validator(mode="after")
    def _units_need_hidden_layers(self) -> RunConfig:
        net = self.agent.network
        if self.method.units and net.type == "mlp" and not net.hidden:
            raise ValueError(f"method.units.name={self.method.units.get('name')!r}: needs a network with a hidden "
                             "layer (agent.network.hidden is empty)")
        return self

    def comparable(self) -> dict[str, Any]:
        """What must be equal for a run directory to be continued with this config (the run-only keys left out)."""
        out = self.model_dump(mode="json", exclude=set(RUN_ONLY))
        out["method"] = self.method.normalized()
        return out
