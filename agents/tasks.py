"""The task switch of a continual run: which task is on (:class:`TaskInfo`), and the ordered handlers that react
when it changes (:class:`TaskSwitch`).

A switch is seen right after the env step that started the new task's visit. Its handlers run in stages, in
this order, so that what each one sees is fixed:

1. ``observe`` — the network as it ended the old task (evaluation on every task, plasticity metrics at the switch);
2. ``method`` — the plasticity method's switch actions (resets, shrink & perturb, injection, Adam reset);
3. ``after`` — what must see the changed network (the checkpointer marks a checkpoint due).

Within a stage, handlers run in the order they were added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STAGES = ("observe", "method", "after")


@dataclass(frozen=True)
class TaskInfo:
    """A task visit: its index in the run (``visit``), the task (``task_id``, ``name``) and the cycle."""

    visit: int
    task_id: int
    name: str
    cycle: int

    @classmethod
    def from_infos(cls, infos: dict[str, Any], default: TaskInfo | None = None) -> TaskInfo:
        """From a curriculum env's ``infos`` (its ``task_*`` fields, per sub-env); ``default`` for an env without."""
        if "task_visit" not in infos:
            return default or cls(0, 0, "task", 0)
        return cls(int(infos["task_visit"][0]), int(infos["task_id"][0]), str(infos["task_name"][0]),
                   int(infos["task_cycle"][0]))


SwitchHandler = Callable[[TaskInfo, TaskInfo, int], None]  # (old task, new task, env step)


class TaskSwitch:
    """The handlers of a task switch, by stage (see the module docstring); calling it runs them all in order."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[SwitchHandler]] = {stage: [] for stage in STAGES}

    def on(self, stage: str, handler: SwitchHandler) -> None:
        """Run ``handler(old, new, step)`` at every switch, in ``stage`` (``observe`` | ``method`` | ``after``)."""
        if stage not in self._handlers:
            raise ValueError(f"stage={stage!r}; valid choices: {', '.join(STAGES)}")
        self._handlers[stage].append(handler)

    def __call__(self, old: TaskInfo, new: TaskInfo, step: int) -> None:
        for stage in STAGES:
            for handler in self._handlers[stage]:
                handler(old, new, step)
