"""Single-game sanity: an agent's final training return on each MinAtar game next to published numbers.

Final return = mean return of the last ``last`` (100) training episodes, the MinAtar README's measure (a
100-episode moving average of training returns). Runs of the same agent and game are averaged over seeds.
References (MinAtar: Young & Tian 2019; gymnax/PureJaxRL (Lange 2022; Lu et al. 2022); CleanRL;
SB3 rl-zoo): note their variants and budgets before comparing.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from agents.reporting.markdown import table
from agents.reporting.runs import RunData
from agents.run.status import read_status

GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")

# agent -> (source, budget in env steps, {game: return})
REFERENCES: dict[str, tuple[str, int, dict[str, float]]] = {
    "dqn": ("MinAtar README DQN (Young & Tian 2019; sticky 0.1, 100-episode average of training returns)",
            5_000_000, {"asterix": 17, "breakout": 10, "freeway": 50, "seaquest": 20, "space_invaders": 43}),
    "ppo": ("gymnax-blines PPO (64 envs, MLP 2×256; gymnax MinAtar: no sticky actions, minimal action set)",
            10_000_000, {"asterix": 15, "breakout": 28, "freeway": 58, "space_invaders": 131}),
}


@dataclass(frozen=True)
class SanityRow:
    agent: str
    game: str
    seeds: int
    steps: int
    final_return: float | None  # mean over seeds of the last-`last`-episodes mean
    reference: float | None
    reference_steps: int | None


def run_steps(run: RunData) -> int:
    """Env steps the run trained for (its ``status.json``; else the end of its last episode)."""
    status = read_status(run.path)
    if status is not None and "step" in status:
        return int(status["step"])
    return max((int(e["step"]) for e in run.episodes), default=0)


def final_return(run: RunData, last: int = 100) -> float | None:
    returns = [float(e["return"]) for e in run.episodes[-last:]]
    return sum(returns) / len(returns) if returns else None


def sanity_rows(runs: Sequence[RunData], last: int = 100) -> list[SanityRow]:
    """One row per (agent, game, budget) among the single-task runs (curricula with several tasks are skipped);
    seeds at the same budget are averaged."""
    groups: dict[tuple[str, str, int], list[RunData]] = {}
    for run in runs:
        if len({v.task for v in run.visits}) == 1:
            groups.setdefault((run.agent, run.visits[0].task, run_steps(run)), []).append(run)
    rows = []
    for (agent, game, steps), group in sorted(groups.items(), key=lambda kv: (
            kv[0][0], GAMES.index(kv[0][1]) if kv[0][1] in GAMES else len(GAMES), kv[0][1], kv[0][2])):
        finals = [f for f in (final_return(r, last) for r in group) if f is not None]
        agent_refs = REFERENCES.get(agent)
        rows.append(SanityRow(agent, game, len(group), steps, statistics.mean(finals) if finals else None,
                              agent_refs[2].get(game) if agent_refs else None,
                              agent_refs[1] if agent_refs else None))
    return rows


def _cell(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(rows: Sequence[SanityRow], last: int = 100) -> list[str]:
    lines = table(["agent", "game", "seeds", "env steps", f"final return (last {last} episodes)", "reference",
                   "reference budget"],
                  [(r.agent, r.game, r.seeds, f"{r.steps:,}", _cell(r.final_return, ".2f"), _cell(r.reference, "g"),
                    _cell(r.reference_steps, ",")) for r in rows])
    agents = sorted({r.agent for r in rows if r.agent in REFERENCES})
    return [*lines, "", *(f"References, {a}: {REFERENCES[a][0]}." for a in agents)]
