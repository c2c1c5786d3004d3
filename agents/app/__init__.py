"""The application layer: the ``plasticity-rl`` command (:mod:`agents.app.command`), the Python API for notebooks
(:mod:`agents.app.train`: ``train``, ``sweep``, ``load_run``; :mod:`agents.app.report`: ``report`` — all exported by
``agents``) and the coefficient search (:mod:`agents.app.optuna_sweeper`, :mod:`agents.app.objective`). It wires the
agents to the curricula of ``envs`` and to the Hydra configs (:mod:`agents.app.paths`); the rest of ``agents`` stays
env-agnostic.
"""
