"""Continual supervised benchmarks in plasticity's own terms (pure torch): does a method keep a network able to learn?

* :mod:`~plasticity.continual.tasks` — task streams: Dohare's slowly-changing regression and relabelled /
  permuted copies of any small dataset;
* :mod:`~plasticity.continual.methods` — every method of the library as ``(optimizer, unit method)`` on a model;
* :mod:`~plasticity.continual.run` — the training loop and its per-task scores;
* :mod:`~plasticity.continual.suite` — the two benchmark settings.

``scripts/bench_plasticity.py`` runs them all; ``docs/plasticity_benchmark.md`` has the numbers.
"""

from plasticity.continual.methods import METHODS, build
from plasticity.continual.run import TaskScores, run_stream
from plasticity.continual.suite import SETTINGS, early_late, run_setting
from plasticity.continual.tasks import RelabelledTasks, SlowlyChangingRegression

__all__ = ["METHODS", "SETTINGS", "RelabelledTasks", "SlowlyChangingRegression", "TaskScores", "build", "early_late",
           "run_setting", "run_stream"]
