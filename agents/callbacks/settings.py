"""The ``eval`` and ``metrics`` sections: the per-task evaluation (agents/callbacks/evaluation.py) and the
plasticity metrics logged during training (agents/callbacks/plasticity_metrics.py)."""

from __future__ import annotations

from pydantic import Field

from agents.settings import Section


class EvalConfig(Section):
    """The policy on every task of the curriculum (separate envs, fixed seeds) → ``eval.csv``."""

    enabled: bool = Field(True, description="false: no evaluation")
    every: int = Field(250_000, ge=0, description="env steps between evaluations (0: only at task switches and at "
                                                  "the end)")
    episodes: int = Field(8, ge=1, description="episodes per task and evaluation")
    num_envs: int = Field(8, ge=1, description="envs per task and evaluation")
    max_steps: int = Field(2000, ge=1, description="vector steps per task and evaluation at most (unfinished "
                                                   "episodes are not counted)")
    deterministic: bool = Field(False, description="false: sample from the policy (PPO) / current ε (DQN); true: "
                                                   "greedy")


class MetricsConfig(Section):
    """Plasticity metrics on a probe batch of recent observations → ``plasticity.csv`` (docs/metrics.md). The
    sample counts left ``null`` take :class:`plasticity.MetricSuite`'s defaults."""

    enabled: bool = Field(True, description="false: no plasticity metrics")
    every: int = Field(50_000, ge=0, description="env steps between snapshots of the cheap metrics (around one "
                                                 "optimizer step)")
    probe_size: int = Field(256, ge=1, description="recent observations the metrics are computed on")
    expensive_at_switch: bool = Field(True, description="eNTK, Fisher, Hessian srank, trainability at every task "
                                                        "switch and at the end")
    expensive_every: int = Field(0, ge=0, description="env steps between expensive snapshots besides switches "
                                                      "(0: never)")
    jacobian_samples: int | None = Field(None, ge=1, description="null: MetricSuite's default")
    ntk_samples: int | None = Field(None, ge=1, description="null: MetricSuite's default")
    fisher_samples: int | None = Field(None, ge=1, description="null: MetricSuite's default")
    hessian_iterations: int | None = Field(None, ge=1, description="null: MetricSuite's default")
    trainability_steps: int | None = Field(None, ge=1, description="null: MetricSuite's default")

    def suite_options(self) -> dict[str, int]:
        """The :class:`plasticity.MetricSuite` options that are set."""
        names = ("jacobian_samples", "ntk_samples", "fisher_samples", "hessian_iterations", "trainability_steps")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}
