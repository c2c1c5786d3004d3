"""Hydra discovers sweepers only in the ``hydra_plugins`` namespace: this exposes
:class:`agents.app.optuna_sweeper.CoefficientSweeper` there (``hydra/sweeper=optuna_coef``)."""

from agents.app.optuna_sweeper import CoefficientSweeper as _Impl


class CoefficientSweeper(_Impl):
    __doc__ = _Impl.__doc__
