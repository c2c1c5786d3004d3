"""Env-steps/s of our PPO and DQN vs vanilla Stable-Baselines3 on a MinAtar switching curriculum (a benchmark).

    python scripts/bench_agents.py                        # PPO at 64 envs and DQN at the MinAtar-paper cadence
    python scripts/bench_agents.py --agents ppo --reps 5 --device cuda
    python scripts/bench_agents.py --learning 0 1 2 3 4     # learning curves of both sides at these seeds
    python scripts/bench_agents.py --dqn-settings 0 1 2     # DQN at the MinAtar cadence vs vectorized, learning

Both sides train the same network (the MinAtar network: same modules, same initialization) with the same
hyper-parameters (``conf/agent/*.yaml``) and the same torch thread count on the same Breakout → SpaceInvaders
curriculum:

* **vanilla**: ``sb3.PPO`` / ``sb3.DQN`` with torch's Adam, the network written as the paper writes it
  (:class:`PaperMinAtarCNN`: ReLU, then flatten), ``DummyVecEnv`` over ``gym.make("MinAtar/<Game>-v0")``
  (channels zero-padded to 10, as our curriculum does, so both games share one observation space) and
  ``VecMonitor``; the switch is ``set_env`` + ``learn(reset_num_timesteps=False)``;
* **ours**: ``agents.training.runner.prepare`` exactly as ``scripts/train.py`` builds a run (batched MinAtar curriculum,
  run logs, callbacks and the non-finite guard that ``train`` installs), with evaluation, plasticity metrics
  and checkpoints off (metrics are timed separately).

Repetitions alternate between the sides so machine noise hits both alike; the claim is the median ratio.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, NamedTuple

import gymnasium as gym
import minatar.gym
import numpy as np
import stable_baselines3 as sb3
import torch
from scipy import stats
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from agents.bench.env_speed import GYM_IDS
from agents.bench.update import load_config, paper_order_forward
from agents.policies.networks import MinAtarCNN, minatar_policy_kwargs
from agents.run.console import print_table
from agents.run.guard import NonFiniteGuard
from agents.run.logs import read_csv
from agents.run.summary import window_means
from agents.training.runner import prepare
from envs import make_curriculum

GAMES = ("breakout", "space_invaders")
CHANNELS = 10


class PadChannels(gym.ObservationWrapper):
    """Zero-pads MinAtar's HWC observation to ``CHANNELS`` channels, so that every game has one space."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        h, w, _ = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 1, (h, w, CHANNELS), dtype=bool)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        out = np.zeros(self.observation_space.shape, dtype=bool)
        out[..., : obs.shape[-1]] = obs
        return out


class PaperMinAtarCNN(MinAtarCNN):
    """The same modules and initialization as ours, the forward written plainly in the paper's order."""

    forward = paper_order_forward


def vanilla_env(game: str, n_envs: int, seed: int) -> VecMonitor:
    if f"MinAtar/{GYM_IDS[game]}-v0" not in gym.registry:
        minatar.gym.register_envs()
    env = DummyVecEnv([lambda: PadChannels(gym.make(f"MinAtar/{GYM_IDS[game]}-v0")) for _ in range(n_envs)])
    env.seed(seed)
    return VecMonitor(env)


def vanilla_model(agent: dict[str, Any], env: VecMonitor, total: int, seed: int, device: str):
    """SB3's own algorithm class with our agent config's hyper-parameters and network; torch's Adam."""
    from pydantic import TypeAdapter

    from agents.algorithms.factory import DQN_KEYS, PPO_KEYS, _pick, learning_rate
    from agents.algorithms.settings import AgentConfig

    typed = TypeAdapter(AgentConfig).validate_python(agent)
    network = dict(minatar_policy_kwargs(), features_extractor_class=PaperMinAtarCNN)
    kwargs = dict(policy_kwargs=dict(**network, optimizer_kwargs={"eps": typed.adam_eps}),
                  learning_rate=learning_rate(typed), seed=seed, device=device, verbose=0)
    if typed.name == "ppo":
        keys = tuple(k for k in PPO_KEYS if k in sb3.PPO.__init__.__code__.co_varnames)  # SB3's own options only
        return sb3.PPO("MlpPolicy", env, **_pick(typed, keys), **kwargs)
    keys = tuple(k for k in DQN_KEYS if k != "double_q")
    fraction = min(1.0, typed.exploration_steps / total)
    return sb3.DQN("MlpPolicy", env, exploration_fraction=fraction, **_pick(typed, keys), **kwargs)


def final_return(model) -> float:
    """Mean return of the last 100 finished episodes (SB3's ``ep_info_buffer``, filled alike on both sides)."""
    return float(np.mean([e["r"] for e in model.ep_info_buffer])) if model.ep_info_buffer else float("nan")


class PhaseTimer(BaseCallback):
    """Wall time collecting (rollout start → rollout end) and updating (rollout end → next rollout start or the
    end of ``learn``), measured the same way on both sides through SB3's callback hooks."""

    def __init__(self):
        super().__init__()
        self.collect = self.update = 0.0
        self._since: float | None = None

    def _on_rollout_start(self) -> None:
        now = time.perf_counter()
        if self._since is not None:
            self.update += now - self._since
        self._since = now

    def _on_rollout_end(self) -> None:
        now = time.perf_counter()
        self.collect += now - self._since
        self._since = now

    def _on_training_end(self) -> None:
        if self._since is not None:
            self.update += time.perf_counter() - self._since
        self._since = None

    def _on_step(self) -> bool:
        return True


class Run(NamedTuple):
    steps_per_s: float
    final_return: float
    collect_s: float  # seconds collecting experience (policy forward, env, buffer)
    update_s: float   # seconds in ``train()`` (the learning update)


def run_vanilla(agent: dict[str, Any], steps_per_task: int, seed: int, device: str,
                games: tuple[str, ...] = GAMES, callbacks: tuple[BaseCallback, ...] = ()) -> Run:
    """Vanilla SB3 on ``games`` in turn."""
    envs = [vanilla_env(game, int(agent["n_envs"]), seed) for game in games]
    model = vanilla_model(agent, envs[0], steps_per_task * len(games), seed, device)
    timer = PhaseTimer()
    start = time.perf_counter()
    for i, env in enumerate(envs):
        model.set_env(env)
        model.learn(steps_per_task, callback=[timer, *callbacks], reset_num_timesteps=i == 0)
    sps = model.num_timesteps / (time.perf_counter() - start)
    return Run(sps, final_return(model), timer.collect, timer.update)


def run_ours(overrides: list[str], steps_per_task: int, seed: int, device: str, env: str = "minatar_demo",
             callbacks: tuple[BaseCallback, ...] = (), episodes: list[tuple[int, float]] | None = None) -> Run:
    """A run built as scripts/train.py builds it, one cycle of ``env``; ``episodes`` receives (env step, return)
    of every finished episode, from the run's own ``episodes.csv``."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(*overrides, f"env={env}", f"env.steps_per_task={steps_per_task}", "env.cycles=1",
                          f"seed={seed}", f"device={device}", "eval.enabled=false", "metrics.enabled=false",
                          "checkpoint.every=0", "checkpoint.at_switch=false", "progress=false",
                          f"torch_threads={torch.get_num_threads()}")
        cfg["run_dir"] = f"{tmp}/run"
        run = prepare(cfg, make_curriculum)
        total = steps_per_task * len(cfg["env"]["tasks"])
        guard = NonFiniteGuard(run.model.policy, run.model.policy.optimizer, lambda: run.model.num_timesteps)
        timer = PhaseTimer()
        start = time.perf_counter()
        run.model.learn(total, callback=[run.callback, timer, *callbacks], log_interval=None)
        sps = run.model.num_timesteps / (time.perf_counter() - start)
        guard.remove()
        if episodes is not None:
            episodes += [(int(r["step"]), float(r["return"])) for r in read_csv(f"{tmp}/run/episodes.csv")]
        return Run(sps, final_return(run.model), timer.collect, timer.update)


# agent → (Hydra overrides, env steps per task): DQN learns from the start so that every timed step updates
BENCHMARKS: dict[str, tuple[list[str], int]] = {
    "ppo": (["agent=ppo", "method=adam"], 2 * 8192),
    "dqn": (["agent=dqn", "method=adam", "agent.learning_starts=256"], 1500),
}


def measure(agent: str, reps: int, device: str, seed: int = 0) -> dict[str, list[Run]]:
    overrides, steps = BENCHMARKS[agent]
    cfg = load_config(*overrides)["agent"]
    sides: dict[str, Callable[[], Run]] = {
        "vanilla SB3": lambda: run_vanilla(cfg, steps, seed, device),
        "ours": lambda: run_ours(overrides, steps, seed, device),
    }
    samples: dict[str, list[Run]] = {k: [] for k in sides}
    for _ in range(reps):
        for name, side in sides.items():
            samples[name].append(side())
    return samples


# agent → (Hydra overrides, env steps) of the learning check. DQN anneals ε over 5k steps and learns from 1k so
# that 30k steps show learning (with the default 100k-step annealing they would be mostly random play).
LEARNING: dict[str, tuple[list[str], int]] = {
    "ppo": (["agent=ppo", "method=adam"], 100_000),
    "dqn": (["agent=dqn", "method=adam", "agent.exploration_steps=5000", "agent.learning_starts=1000"], 30_000),
}
WINDOWS = 5  # the learning curve: mean return per fifth of the run


class EpisodeRecorder(BaseCallback):
    """(env step, return) of every finished episode of vanilla SB3, from the ``info["episode"]`` its
    ``VecMonitor`` reports (our side logs its episodes itself: ``run_ours(episodes=...)``)."""

    def __init__(self):
        super().__init__()
        self.episodes: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.episodes.append((self.num_timesteps, float(info["episode"]["r"])))
        return True


class Curve(NamedTuple):
    steps: int            # env steps of the run
    # mean return per fifth of the run (NaN where no episode ended); episodes after ``steps`` (PPO ends on a
    # whole rollout, on both sides) count in the last fifth, as the report counts them in the last window
    windows: list[float]
    final_return: float   # mean of the last 100 episodes

    @property
    def auc(self) -> float:
        """Area under the learning curve, the mean of the window means: the report's AUC
        (``agents.run.summary.window_auc``) over the whole run."""
        return float(np.nanmean(self.windows))


def learning_curve(side: str, overrides: list[str], seed: int, steps: int, game: str = "breakout") -> Curve:
    """One side's learning curve on ``game`` with the agent config that ``overrides`` compose (1 torch thread)."""
    torch.set_num_threads(1)
    recorder = EpisodeRecorder()
    if side == "vanilla SB3":
        run = run_vanilla(load_config(*overrides)["agent"], steps, seed, "cpu", games=(game,), callbacks=(recorder,))
    else:
        run = run_ours(overrides, steps, seed, "cpu", env=game, episodes=recorder.episodes)
    ends, returns = zip(*recorder.episodes, strict=True) if recorder.episodes else ((), ())
    means = window_means(list(ends), list(returns), 0, steps, WINDOWS)
    return Curve(steps, [float("nan") if m is None else m for m in means], run.final_return)


SIDES = ("vanilla SB3", "ours")


def _curves(jobs: list[tuple], workers: int) -> list[Curve]:
    """``learning_curve(*job)`` for every job, in ``workers`` processes when more than one."""
    if workers <= 1:
        return [learning_curve(*job) for job in jobs]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(learning_curve, *zip(*jobs, strict=True)))


def learning(agent: str, seeds: list[int], steps: int | None = None, workers: int = 1,
             overrides: list[str] | None = None) -> dict[str, list[Curve]]:
    """Learning curves per side and seed, same seeds and hyper-parameters on both sides (``LEARNING[agent]``
    unless ``overrides``/``steps`` are given); ``workers > 1`` runs them in that many processes (learning does
    not depend on timing)."""
    overrides = overrides if overrides is not None else LEARNING[agent][0]
    steps = steps or LEARNING[agent][1]
    jobs = [(side, overrides, seed, steps) for seed in seeds for side in SIDES]
    curves = _curves(jobs, workers)
    return {side: [c for (s, *_), c in zip(jobs, curves, strict=True) if s == side] for side in SIDES}


def _curve_text(curves: list[Curve]) -> str:
    return " → ".join(f"{v:.2f}" for v in _mean_curve(curves))


def _mean_curve(curves: list[Curve]) -> np.ndarray:
    return np.nanmean([c.windows for c in curves], axis=0)


def _welch(a: list[float], b: list[float]) -> tuple[str, str]:
    """Both means and Welch's t-test p-value for a difference of means (NaN with one seed)."""
    p = stats.ttest_ind(a, b, equal_var=False).pvalue if len(a) > 1 else float("nan")
    return f"{np.mean(a):.2f} / {np.mean(b):.2f}", f"{p:.2f}"


LEARNING_HEADER = ["agent", "steps", "vanilla SB3: return per fifth of the run", "ours", "AUC vanilla / ours",
                   "p (AUC)", "final return vanilla / ours", "p (final)"]


def learning_rows(results: dict[str, dict[str, list[Curve]]]) -> list[tuple]:
    """Per agent: both sides' curves (means over seeds), AUC and final return with their p-values."""
    out = []
    for agent, curves in results.items():
        van, ours = curves["vanilla SB3"], curves["ours"]
        out.append((agent, f"{van[0].steps:,}", _curve_text(van), _curve_text(ours),
                    *_welch([c.auc for c in van], [c.auc for c in ours]),
                    *_welch([c.final_return for c in van], [c.final_return for c in ours])))
    return out


def learning_notes(results: dict[str, dict[str, list[Curve]]]) -> list[str]:
    """Whether each comparison is between two learners: a curve that does not rise from the first to the last
    fifth cannot tell a working update from a broken one."""
    out = []
    for agent, curves in results.items():
        rises = {side: float(_mean_curve(cs)[-1] - _mean_curve(cs)[0]) for side, cs in curves.items()}
        text = ", ".join(f"{side} {r:+.2f}" for side, r in rises.items())
        verdict = ("both sides learn (a side that did not learn would stand out)" if min(rises.values()) > 0 else
                   "a side does not improve: this run cannot tell a working update from a broken one")
        out.append(f"- {agent}: last fifth − first fifth: {text}; {verdict}.")
    return out


def _median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(r, field) for r in runs)


def rows(results: dict[str, dict[str, list[Run]]]) -> list[tuple]:
    """Steps/s of both sides and their ratio, then where the time goes: seconds collecting and updating (medians)."""
    out = []
    for agent, samples in results.items():
        van, ours = samples["vanilla SB3"], samples["ours"]
        base, fast = _median(van, "steps_per_s"), _median(ours, "steps_per_s")
        out.append((agent, f"{base:,.0f}", f"{fast:,.0f}", f"{fast / base:.2f}",
                    f"{_median(van, 'collect_s'):.2f} / {_median(van, 'update_s'):.2f}",
                    f"{_median(ours, 'collect_s'):.2f} / {_median(ours, 'update_s'):.2f}"))
    return out


def ceilings(results: dict[str, dict[str, list[Run]]]) -> list[str]:
    """What the split implies: the update runs the same network arithmetic on both sides, so even free
    collection bounds the speed-up by (vanilla total time) / (our update time)."""
    out = []
    for agent, samples in results.items():
        van, ours = samples["vanilla SB3"], samples["ours"]
        van_total = _median(van, "collect_s") + _median(van, "update_s")
        ours_update = _median(ours, "update_s")
        share = ours_update / (ours_update + _median(ours, "collect_s"))
        out.append(f"- {agent}: the update is {share:.0%} of our time; with collection free the ratio could be at "
                   f"most {van_total / ours_update:.2f}.")
    return out


HEADER = ["agent", "vanilla SB3 steps/s", "ours steps/s", "ratio", "vanilla collect / update s",
          "ours collect / update s"]


# DQN settings compared by their learning curves at equal env steps (``--dqn-settings``): the MinAtar paper's
# cadence (one env, one update of batch 32 per env step) against vectorized DQN at lower replay ratios
DQN_SETTINGS: dict[str, list[str]] = {
    "1 env, replay ratio 1 (MinAtar cadence)": ["agent.n_envs=1"],
    "64 envs, replay ratio 1/4": ["agent.n_envs=64", "agent.replay_ratio=0.25"],
    "64 envs, replay ratio 1/16": ["agent.n_envs=64", "agent.replay_ratio=0.0625"],
}
DQN_LEARNING = ["agent=dqn", "method=adam", "agent.exploration_steps=10000", "agent.learning_starts=1000"]


def settings_learning(settings: dict[str, list[str]], seeds: list[int], steps: int, workers: int = 1,
                      common: list[str] | None = None) -> dict[str, list[Curve]]:
    """Our agent's learning curves per setting (``common`` + the setting's overrides) at the same seeds."""
    common = DQN_LEARNING if common is None else common
    jobs = [(name, [*common, *overrides], seed) for name, overrides in settings.items() for seed in seeds]
    curves = _curves([("ours", overrides, seed, steps) for _, overrides, seed in jobs], workers)
    return {name: [c for (n, *_), c in zip(jobs, curves, strict=True) if n == name] for name in settings}


SETTINGS_HEADER = ["setting", "steps", "return per fifth of the run", "AUC", "p (AUC) vs first", "final return",
                   "p (final) vs first"]


def settings_rows(curves: dict[str, list[Curve]]) -> list[tuple]:
    """Per setting: its mean curve, AUC and final return (means over seeds), Welch's p against the first setting."""
    first = next(iter(curves.values()))
    out = []
    for name, cs in curves.items():
        auc = _welch([c.auc for c in first], [c.auc for c in cs])
        final = _welch([c.final_return for c in first], [c.final_return for c in cs])
        out.append((name, f"{cs[0].steps:,}", _curve_text(cs), f"{np.mean([c.auc for c in cs]):.2f}", auc[1],
                    f"{np.mean([c.final_return for c in cs]):.2f}", final[1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=list(BENCHMARKS), choices=list(BENCHMARKS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (our default is 1)")
    parser.add_argument("--learning", type=int, nargs="+", metavar="SEED",
                        help="compare learning curves at these seeds instead of timing (LEARNING's settings)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes for the learning curves (they do not depend on timing)")
    parser.add_argument("--dqn-settings", type=int, nargs="+", metavar="SEED",
                        help="compare DQN learning at the MinAtar cadence and vectorized (DQN_SETTINGS) at these seeds")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps of each --dqn-settings run")
    args = parser.parse_args()
    if args.dqn_settings:
        curves = settings_learning(DQN_SETTINGS, args.dqn_settings, args.steps, workers=args.workers)
        print_table(f"DQN on Breakout, {args.steps:,} env steps, seeds {args.dqn_settings}", SETTINGS_HEADER,
                    settings_rows(curves), left=(0, 2))
        return
    if args.learning:
        results = {agent: learning(agent, args.learning, workers=args.workers) for agent in args.agents}
        print_table("Learning on Breakout, same seeds and hyper-parameters", LEARNING_HEADER,
                    learning_rows(results), left=(0, 2, 3))
        print("\n".join(learning_notes(results)))
        return
    torch.set_num_threads(args.threads)
    results = {agent: measure(agent, args.reps, args.device) for agent in args.agents}
    print_table("Env-steps/s on Breakout → SpaceInvaders, medians", HEADER, rows(results), left=(0,))
    print("\n".join(ceilings(results)))


if __name__ == "__main__":
    main()
