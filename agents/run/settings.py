"""The ``checkpoint`` and ``wandb`` sections of a run (agents/run/checkpoint.py, agents/run/wandb_log.py); the
run config that holds them: agents/training/settings.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from agents.settings import Section


class CheckpointConfig(Section):
    """Checkpoints at rollout starts (agents/run/checkpoint.py): every N env steps, after task switches, on
    SIGTERM/SIGUSR1/2 and at the end."""

    every: int = Field(500_000, ge=0, description="env steps between checkpoints (0: only at switches, signals "
                                                  "and the end)")
    at_switch: bool = Field(True, description="a checkpoint after every task switch")
    keep: int = Field(3, ge=1, description="the last K checkpoints are kept")
    replay_buffer: bool = Field(True, description="DQN: include the replay buffer (its filled part, bool "
                                                  "observations bit-packed)")


class WandbConfig(Section):
    """A copy of the logs in Weights & Biases (agents/run/wandb_log.py; pip install 'plasticity-rl[wandb]'); the CSV
    files and TensorBoard stay the source of truth."""

    enabled: bool = Field(False, description="also send the logs to W&B (logger=wandb does the same)")
    project: str = Field("plasticity-rl", description="the W&B project")
    entity: str | None = Field(None, description="the W&B entity (null: yours)")
    group: str | None = Field(None, description="null: the sweep directory's name for a multirun job, else "
                                                "<agent>-<env>")
    name: str | None = Field(None, description="null: <method>-s<seed>")
    tags: list[str] = Field(default_factory=list, description="W&B tags, e.g. [baseline, v2]")
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="null: WANDB_MODE or online; offline: files under <run_dir>/wandb")

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not 0 < len(value) <= 128 or set(value) & set("/\\#?%:"):
            raise ValueError("must be a name of 1 to 128 characters without / \\ # ? % :")
        return value

    @field_validator("entity", "group", "name", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is not None and not (isinstance(value, str) and value):
            raise ValueError("must be null (the default) or a non-empty text")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if not (isinstance(value, list) and all(isinstance(t, str) and 0 < len(t) <= 64 for t in value)):
            raise ValueError("must be a list of strings of 1 to 64 characters, e.g. [baseline, v2]")
        return value
