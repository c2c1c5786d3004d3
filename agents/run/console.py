"""What a training run shows on the terminal: a progress bar, task-switch lines, the final summary table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console as RichConsole
from rich.table import Table
from tqdm import tqdm


class Console:
    """A tqdm progress bar over env steps (``progress=False``: plain lines only) plus messages."""

    def __init__(self, total: int, progress: bool = True, initial: int = 0):
        self._bar = (
            tqdm(total=total, initial=initial, unit="step", unit_scale=True, dynamic_ncols=True,
                 mininterval=0.5, smoothing=0.05, file=sys.stderr)
            if progress else None
        )

    def advance(self, steps: int) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def status(self, **values: Any) -> None:
        if self._bar is not None:
            self._bar.set_postfix({k: v for k, v in values.items() if v is not None}, refresh=False)

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                left: Sequence[int] = (1,)) -> None:
    """A rich table on stdout; columns in ``left`` are left-aligned, the others right-aligned."""
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i in left else "right")
    for row in rows:
        table.add_row(*("" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    RichConsole(width=max(100, len(title) + 4, len(columns) * 12)).print(table)
