"""The number a coefficient search maximizes: how well a run keeps learning new tasks.

``plasticity_score(run_dir)`` = the mean, over every task visit after the first, of the visit's AUC (the mean
training return over the visit's 10 step windows, :func:`agents.run.summary.summarize`); a curriculum with one
visit scores that visit. It needs no fresh-agent reference, so one run is one trial. It is the mean of raw returns,
so games with large returns weigh more: compare scores within one curriculum only (as a search does).
"""

from __future__ import annotations

import math
import os

from agents.run.summary import summarize


def plasticity_score(run_dir: str | os.PathLike) -> float:
    """Mean AUC of the visits after the first (NaN when no visit has a finished episode)."""
    visits = summarize(run_dir)
    later = visits[1:] or visits
    aucs = [v.auc for v in later if v.auc is not None]
    return sum(aucs) / len(aucs) if aucs else math.nan
