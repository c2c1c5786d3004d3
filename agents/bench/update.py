"""Cost of each plasticity method in PPO's update phase, side by side with torch Adam (a benchmark, not a test).

    python scripts/bench_update.py                                # every method, 7 repetitions
    python scripts/bench_update.py --methods adamo spectral --reps 11
    python scripts/bench_update.py --methods cbp cbp_active redo_active adamo adamo_redo_active
    python scripts/bench_update.py --methods adam adam_paper_network   # what the network's layout saves
    python scripts/bench_update.py --optimizer-step                    # one step: scalar vs per-entry counts

One PPO agent per method (the default agent config: 8192-sample rollouts, 4 epochs of minibatch 512 on the
MinAtar network) is given the same rollout; then ``model.train()`` is timed for every method in turn,
repetition after repetition, so machine noise hits all of them alike. Prints the median update time per
method and its ratio to torch's Adam.
"""

from __future__ import annotations

import argparse
import statistics
import time
import types
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agents.algorithms.factory import make_agent
from agents.algorithms.vec_env import GymnasiumVecEnv
from agents.app.paths import config_dir
from agents.methods import Method, build_method
from agents.run.console import print_table
from envs import make_curriculum

CONF = config_dir()
SWITCH_ONLY = ("reset_head", "reset_all", "shrink_perturb_switch", "injection")  # identical to adam between switches
OWN_NETWORK = ("adamo_groupsort", "adamo_nobias")  # they bring another network: not the same update to compare
# label → (method, overrides): unit methods working at full rate from the first update (at the default
# maturity no unit would mature within a benchmark, which would only time the utility bookkeeping).
VARIANTS = {
    "cbp_active": ("cbp", ["method.units.maturity_threshold=0", "method.units.replacement_rate=1e-3"]),
    "redo_every_10": ("redo", ["method.units.interval=10"]),
    # τ = 0.5 and every 10 updates: units are recycled in every timed call (the column "units reset" shows it)
    "redo_active": ("redo", ["method.units.interval=10", "method.units.threshold=0.5"]),
    "adamo_redo_active": ("adamo", ["method.units={name: redo, threshold: 0.5, interval: 10, init: match}"]),
}
PAPER_NETWORK = "adam_paper_network"  # adam on the MinAtar network written plainly: what our layout saves
VARIANTS[PAPER_NETWORK] = ("adam", [])
ALL_METHODS = [*sorted(p.stem for p in (CONF / "method").glob("*.yaml") if p.stem not in (*SWITCH_ONLY, *OWN_NETWORK)),
               *VARIANTS]


def paper_order_forward(extractor: torch.nn.Module, observations: torch.Tensor) -> torch.Tensor:
    """``relu(linear(flatten(relu(conv(x)))))`` with ``extractor``'s modules, written plainly in the paper's order:
    the same function as ``agents.policies.networks.MinAtarCNN`` without its choice of which tensor the flatten
    copies."""
    conv, relu = extractor.cnn
    linear, out_relu = extractor.linear
    hidden = torch.flatten(relu(conv(observations.permute(0, 3, 1, 2))), 1)
    return out_relu(torch.nn.functional.linear(hidden, linear.weight, linear.bias))


def load_config(*overrides: str) -> dict[str, Any]:
    from agents.config.store import register
    register()  # the schema nodes conf/ builds on (a worker process starts without them)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "run_dir=/tmp/unused"])
    return OmegaConf.to_container(cfg, resolve=True)


def torch_adam(eps: float) -> Method:
    return Method("torch_adam", torch.optim.Adam, {"eps": eps})


def build_agents(methods: list[str], agent: str = "ppo", seed: int = 0, extra: tuple[str, ...] = ()) -> dict:
    """One agent per method, all holding the same filled rollout buffer (PPO) or replay buffer (DQN)."""
    cfg = load_config(f"agent={agent}", "env=breakout", *extra)
    plans = {"torch_adam": torch_adam(cfg["agent"]["adam_eps"])}
    for name in methods:
        method, overrides = VARIANTS.get(name, (name, []))
        plans[name] = build_method(load_config(f"agent={agent}", f"method={method}", *overrides, *extra)["method"])
    models, callbacks = {}, {}
    for name, plan in plans.items():
        env = GymnasiumVecEnv(make_curriculum(cfg["env"], int(cfg["agent"]["n_envs"]), seed))
        model = make_agent(cfg["agent"], env, plan, 10**7, seed=seed, device="cpu")
        if name == PAPER_NETWORK:
            extractor = model.policy.features_extractor  # PPO's actor and critic share this object
            extractor.forward = types.MethodType(paper_order_forward, extractor)
        model.bench_plan = plan  # units_reset reads its unit method
        _, callbacks[name] = model._setup_learn(10**7, callback=None)
        models[name] = model
    first = next(iter(models))
    reference = models[first]
    if agent == "ppo":
        reference.collect_rollouts(reference.env, callbacks[first], reference.rollout_buffer, reference.n_steps)
        for model in models.values():
            model.rollout_buffer = reference.rollout_buffer
    return models


def units_reset(model: Any) -> int:
    """Units a unit method has replaced or recycled so far (0 without one)."""
    unit = model.bench_plan.unit_method
    if unit is None:
        return 0
    return sum((getattr(unit, "replaced", None) or getattr(unit, "recycled", {})).values())


def time_updates(models: dict, reps: int, warmup: int = 1) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in models}
    for rep in range(warmup + reps):
        for name, model in models.items():
            start = time.perf_counter()
            model.train()
            if rep >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def ratio_rows(times: dict[str, list[float]], baseline: str = "torch_adam") -> list[tuple]:
    base = statistics.median(times[baseline])
    return [(name, statistics.median(t) * 1e3, min(t) * 1e3, statistics.median(t) / base) for name, t in times.items()]


def optimizer_step_times(reps: int, steps: int = 300) -> list[tuple]:
    """One optimizer step on the MinAtar policy's parameters, with one step count per tensor and with per-entry
    counts (every tensor has a reset entry, as after a CBP/ReDo replacement), side by side; medians in µs."""
    import plasticity
    from plasticity.surgery import reset_optimizer_entries

    model = build_agents([], extra=())["torch_adam"]
    rows = []
    for name, cls, kwargs in (("adam", plasticity.RegularizedAdam, {}), ("adamo", plasticity.AdamO, {"coef": 1e-3})):
        times = {}
        for per_entry in (False, True):
            params = [torch.nn.Parameter(p.detach().clone()) for p in model.policy.parameters()]
            opt = cls(params, lr=1e-4, **kwargs)
            for p in params:
                p.grad = torch.randn_like(p) * 1e-2
            opt.step()
            if per_entry:
                for p in params:
                    reset_optimizer_entries(opt, p, (torch.tensor([0]),))
            samples = []
            for _ in range(reps):
                start = time.perf_counter()
                for _ in range(steps):
                    opt.step()
                samples.append((time.perf_counter() - start) / steps * 1e6)
            times[per_entry] = statistics.median(samples)
        rows.append((name, round(times[False]), round(times[True]), f"{times[True] / times[False]:.2f}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=ALL_METHODS)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--optimizer-step", action="store_true", help="time one optimizer step instead")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. agent.batch_size=512")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.optimizer_step:
        print_table("one optimizer step on the MinAtar policy (µs, medians)",
                    ["optimizer", "one step count", "per-entry counts", "ratio"],
                    optimizer_step_times(args.reps), left=(0,))
        return
    models = build_agents(args.methods, extra=tuple(args.overrides))
    rows = ratio_rows(time_updates(models, args.reps))
    print_table("PPO update phase (one train() call: 4 epochs × 16 minibatches), medians",
                ["method", "median ms", "min ms", "× torch Adam", "units reset"],
                [(n, round(m, 1), round(lo, 1), f"{r:.3f}", units_reset(models[n])) for n, m, lo, r in rows],
                left=(0,))


if __name__ == "__main__":
    main()
