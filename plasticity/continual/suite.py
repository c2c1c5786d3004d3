"""The two benchmark settings, shared by ``scripts/bench_plasticity.py`` and the test that checks the claims.

Chosen (and measured, docs/plasticity_benchmark.md) so that plain Adam visibly loses plasticity within seconds
on a 2-core CPU:

* ``random_labels`` — 40 tasks, each a fresh random labelling of 256 random examples of a dataset (the
  caller's; scikit-learn's digits in the script and the test), 10 epochs of minibatch 16 per task; MLP 2×64,
  lr 3e-3. Score: accuracy on the task's examples at the end of the task (memorization ability).
* ``slowly_changing_regression`` — Dohare's bit-flipping problem (20 bits, 15 slow), 40 tasks of 500 steps of
  minibatch 16; MLP 1×20, lr 3e-3. Score: mean online squared error over the task (lower is better).

Method options (checked on seeds 0–1, docs/plasticity_benchmark.md): AdamO and coupled isometry use λ = 0.1
(the AdamO paper's RL coefficient; its supervised 1e-3
is too weak at this step size: late/early accuracy 0.30 vs 0.93 at 0.1), CBP replaces at ρ = 1e-3 (tasks last
160–500 steps, so Dohare's 1e-4 renews ~1 unit per task). Every other method runs at its published default.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from plasticity.continual.run import TaskScores, run_stream
from plasticity.continual.tasks import RelabelledTasks, SlowlyChangingRegression

METHOD_OPTIONS: dict[str, dict[str, Any]] = {
    "adamo": {"coef": 0.1},
    "iso_adam": {"coef": 0.1},
    "cbp": {"unit_replacement_rate": 1e-3},
}
SETTINGS: dict[str, dict[str, Any]] = {
    "random_labels": {"tasks": 40, "batch_size": 16, "width": 64, "depth": 2, "lr": 3e-3},
    "slowly_changing_regression": {"tasks": 40, "steps_per_task": 500, "batch_size": 16, "width": 20, "depth": 1,
                                   "lr": 3e-3},
}
HIGHER_IS_BETTER = {"random_labels": True, "slowly_changing_regression": False}


def run_setting(setting: str, method: str, seed: int = 0, data: tuple[Tensor, Tensor] | None = None) -> TaskScores:
    """One method on one setting; ``data`` = ``(x, y)`` standardized inputs and labels for ``random_labels``."""
    if setting == "random_labels":
        if data is None:
            raise ValueError("setting 'random_labels' needs data=(x, y)")
        stream = RelabelledTasks(*data, classes=int(data[1].max()) + 1, samples=256, epochs=10,
                                 permute_inputs=False, random_labels=True, seed=seed)
    elif setting == "slowly_changing_regression":
        stream = SlowlyChangingRegression(seed=seed)
    else:
        raise ValueError(f"unknown setting {setting!r}; valid choices: {', '.join(SETTINGS)}")
    return run_stream(stream, method, seed=seed, **SETTINGS[setting], **METHOD_OPTIONS.get(method, {}))


def early_late(scores: TaskScores) -> tuple[float, float]:
    """Mean score over the first and the last fifth of the tasks."""
    n = len(scores.score)
    k = max(1, n // 5)
    return scores.mean(0, k), scores.mean(n - k, n)
