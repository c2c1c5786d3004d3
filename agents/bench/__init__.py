"""The benchmarks behind ``scripts/bench*.py`` (thin entry points): each module measures one thing side by side in
one run and prints ratios (``make bench`` runs :mod:`agents.bench.suite`, which writes docs/benchmarks.md).

=====================  ==================================================================================
module                 measures
=====================  ==================================================================================
``suite``              everything below, into docs/benchmarks.md (scripts/bench.py, ``make bench``)
``versus_sb3``         our PPO/DQN against vanilla SB3 at the same settings: speed and learning curves
``paths``              whole runs of both MinAtar backends, and vectorized vs one-env DQN
``update``             the update phase with torch Adam and every method
``metrics_cost``       the run-time cost of the plasticity metrics
``env_speed``          the torch MinAtar games against the numpy kernels and the reference package
``gpu``                CUDA against CPU (``make bench-gpu``)
``returns``            a learning curve on one game
``plasticity_suite``   the continual supervised benchmark (``make bench-plasticity``)
=====================  ==================================================================================
"""
