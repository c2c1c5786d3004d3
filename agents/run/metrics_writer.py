"""``metrics.csv``'s writer: an SB3 output format, so the same ``logger.dump`` that feeds TensorBoard writes it."""

from __future__ import annotations

import os
from typing import Any

from stable_baselines3.common.logger import KVWriter

from agents.run.logs import METRIC_COLUMNS, CSVLog


class MetricsCSV(KVWriter):
    """SB3 output format writing the :data:`~agents.run.logs.METRIC_COLUMNS` of each ``logger.dump`` as one CSV
    row."""

    def __init__(self, path: str | os.PathLike):
        self._log = CSVLog(path, tuple(METRIC_COLUMNS))

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        self._log.append({col: key_values.get(key) for col, key in METRIC_COLUMNS.items()})

    def close(self) -> None:
        self._log.close()
