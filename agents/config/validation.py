"""Every check of a run config, in one place, before any heavy work (no torch, SB3 or env import).

:func:`validate` raises :class:`ConfigError` — a ``ValueError`` whose message is one line naming the key, the
bad value and what is allowed — for unknown keys, wrong types, out-of-range values, unknown games, ROMs,
transforms, optimizers and unit methods, empty curricula, a unit method on a network without hidden layers,
and ``device=cuda`` without a GPU. ``scripts/train.py`` runs it (through :func:`check_cli`) on the composed
config before Hydra creates a run directory, so a bad command leaves nothing behind and exits with status 2.

The options of every optimizer and unit method are their constructors' (:mod:`plasticity.registry`); the method
section is checked last, since that imports torch.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from agents.errors import ConfigError, first_line
from envs.names import (
    BACKENDS,
    CLASSIC_GAMES,
    KIND_OPTIONS,
    MINATAR_GAMES,
    ORDERS,
    SPEC_KEYS,
    TASK_KEYS,
    TRANSFORM_ARGS,
    TRANSFORMS,
    VECTORIZATIONS,
)

NETWORKS = ("auto", "minatar", "nature", "mlp")
AGENTS = ("ppo", "dqn")
MAX_THREADS = 4 * (os.cpu_count() or 1)  # more threads than that only oversubscribes (100000 crashed OpenMP)
TOP_KEYS = ("agent", "env", "method", "seed", "device", "total_timesteps", "torch_threads", "progress",
            "log_every", "run_dir", "eval", "metrics", "checkpoint", "deterministic", "resume", "arms", "wandb")


def with_arm(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` with ``arms[<method name>]`` merged into ``method`` (per-arm settings of a protocol preset)."""
    cfg = dict(cfg)
    arm = (cfg.get("arms") or {}).get((cfg.get("method") or {}).get("name"))
    if arm:
        cfg["method"] = _merge(dict(cfg["method"]), arm)
    return cfg


def command_line_over_arms(cfg: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``cfg`` with the ``method.*`` keys that ``overrides`` set removed from every arm, so that a value given on
    the command line (or by a sweeper's trial) wins over a preset's per-arm setting, as it does everywhere else."""
    paths = [o.partition("=")[0].lstrip("+~").removeprefix("method.").split(".") for o in overrides
             if o.lstrip("+~").startswith("method.")]
    arms = cfg.get("arms") or {}
    if not paths or not arms:
        return dict(cfg)
    kept = {}
    for name, arm in arms.items():
        arm = copy.deepcopy(dict(arm or {}))
        for path in paths:
            node = arm
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(path[-1], None)
        kept[name] = arm
    return {**cfg, "arms": kept}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        base[key] = _merge(dict(base[key]), value) if isinstance(value, Mapping) and isinstance(
            base.get(key), Mapping) else value
    return base


# -- primitive checks ------------------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def keys(section: Mapping[str, Any], where: str, valid: Sequence[str]) -> None:
    for key in section:
        if key not in valid:
            raise ConfigError(f"{where}.{key}" if where else key, section[key],
                              f"unknown key; valid keys{' of ' + where if where else ''}: {', '.join(valid)}")


def integer(value: Any, key: str, low: int | None = None, high: int | None = None, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not _is_int(value):
        raise ConfigError(key, value, "must be an integer" + (" or null" if optional else ""))
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(key, value, f"must be {_range(low, high)}")


def number(value: Any, key: str, low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not _is_num(value) or value != value:
        raise ConfigError(key, value, "must be a number" + (" or null" if optional else ""))
    if not math.isfinite(value):  # inf passes every bound below and fails later, at the first update
        raise ConfigError(key, value, "must be a finite number")
    if (low is not None and (value < low or (low_open and value == low))) or \
            (high is not None and (value > high or (high_open and value == high))):
        lo = None if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = None if high is None else f"{'<' if high_open else '<='} {high:g}"
        raise ConfigError(key, value, "must be " + " and ".join(x for x in (lo, hi) if x))


def boolean(value: Any, key: str) -> None:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "must be true or false")


def choice(value: Any, key: str, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ConfigError(key, value, f"valid choices: {', '.join(map(str, choices))}")


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    return f">= {low}" if low is not None else f"<= {high}"


# -- sections ---------------------------------------------------------------------------------------------------
def _run(cfg: Mapping[str, Any]) -> None:
    keys(cfg, "", TOP_KEYS)
    integer(cfg.get("seed"), "seed", 0, 2**32 - 1)  # numpy's seed range
    integer(cfg.get("total_timesteps"), "total_timesteps", 1, optional=True)
    integer(cfg.get("torch_threads", 1), "torch_threads", 1, MAX_THREADS)
    integer(cfg.get("log_every", 1), "log_every", 1)
    boolean(cfg.get("progress", True), "progress")
    boolean(cfg.get("deterministic", False), "deterministic")
    resume = cfg.get("resume")
    if resume is not None and not (isinstance(resume, str) and os.path.isfile(os.path.join(resume, "config.yaml"))):
        raise ConfigError("resume", resume, "must be a run directory (holding config.yaml) or null")
    ev = dict(cfg.get("eval") or {})
    keys(ev, "eval", ("enabled", "every", "episodes", "num_envs", "max_steps", "deterministic"))
    for k in ("every",):
        integer(ev.get(k, 0), f"eval.{k}", 0)
    for k in ("episodes", "num_envs", "max_steps"):
        integer(ev.get(k, 1), f"eval.{k}", 1)
    for k in ("enabled", "deterministic"):
        boolean(ev.get(k, False), f"eval.{k}")
    met = dict(cfg.get("metrics") or {})
    keys(met, "metrics", ("enabled", "every", "probe_size", "expensive_at_switch", "expensive_every",
                          "jacobian_samples", "ntk_samples", "fisher_samples", "hessian_iterations",
                          "trainability_steps"))
    for k in ("every", "expensive_every"):
        integer(met.get(k, 0), f"metrics.{k}", 0)
    for k in ("probe_size", "jacobian_samples", "ntk_samples", "fisher_samples", "hessian_iterations",
              "trainability_steps"):
        integer(met.get(k, 1), f"metrics.{k}", 1)
    for k in ("enabled", "expensive_at_switch"):
        boolean(met.get(k, True), f"metrics.{k}")
    _wandb(dict(cfg.get("wandb") or {}))
    ck = dict(cfg.get("checkpoint") or {})
    keys(ck, "checkpoint", ("every", "at_switch", "keep", "replay_buffer"))
    integer(ck.get("every", 0), "checkpoint.every", 0)
    integer(ck.get("keep", 1), "checkpoint.keep", 1)
    for k in ("at_switch", "replay_buffer"):
        boolean(ck.get(k, True), f"checkpoint.{k}")


def _wandb(options: Mapping[str, Any]) -> None:
    from agents.run.wandb_log import EXTRA_HINT, MODES, wandb_missing
    keys(options, "wandb", ("enabled", "project", "entity", "group", "name", "tags", "mode"))
    boolean(options.get("enabled", False), "wandb.enabled")
    if options.get("mode") is not None:
        choice(options["mode"], "wandb.mode", MODES)
    tags = options.get("tags") or []
    if not (isinstance(tags, list) and all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags)):
        raise ConfigError("wandb.tags", tags, "must be a list of strings of 1 to 64 characters, e.g. [baseline, v2]")
    project = options.get("project", "plasticity-rl")
    if not (isinstance(project, str) and 0 < len(project) <= 128 and not set(project) & set("/\\#?%:")):
        raise ConfigError("wandb.project", project, "must be a name of 1 to 128 characters without / \\ # ? % :")
    for key in ("entity", "group", "name"):
        value = options.get(key)
        if value is not None and not (isinstance(value, str) and value):
            raise ConfigError(f"wandb.{key}", value, "must be null (the default) or a non-empty text")
    if options.get("enabled") and wandb_missing():
        raise ConfigError("wandb.enabled", True, f"needs the wandb package, which is not installed: {EXTRA_HINT}")


PPO_KEYS = ("name", "n_envs", "learning_rate", "lr_schedule", "n_steps", "batch_size", "n_epochs", "gamma",
            "gae_lambda", "clip_range", "ent_coef", "vf_coef", "max_grad_norm", "normalize_advantage", "target_kl",
            "adam_eps", "fused_optimizer", "share_features_extractor", "network", "value_clip", "value_loss_half",
            "grad_clip_per_network", "truncation_as_terminal")
DQN_KEYS = ("name", "n_envs", "learning_rate", "lr_schedule", "buffer_size", "learning_starts", "batch_size", "tau",
            "gamma", "train_freq", "gradient_steps", "replay_ratio", "target_update_interval",
            "exploration_initial_eps", "exploration_final_eps", "exploration_steps", "max_grad_norm",
            "optimize_memory_usage", "adam_eps", "double_q", "fused_optimizer", "network")


def _agent(agent: Mapping[str, Any]) -> None:
    name = agent.get("name")
    choice(name, "agent.name", AGENTS)
    keys(agent, "agent", PPO_KEYS if name == "ppo" else DQN_KEYS)
    integer(agent.get("n_envs"), "agent.n_envs", 1)
    number(agent.get("learning_rate"), "agent.learning_rate", 0.0, low_open=True)
    choice(agent.get("lr_schedule", "constant"), "agent.lr_schedule", ("constant", "linear"))
    number(agent.get("gamma"), "agent.gamma", 0.0, 1.0)
    number(agent.get("max_grad_norm"), "agent.max_grad_norm", 0.0, low_open=True)
    number(agent.get("adam_eps", 1e-8), "agent.adam_eps", 0.0, low_open=True)
    boolean(agent.get("fused_optimizer", True), "agent.fused_optimizer")
    integer(agent.get("batch_size"), "agent.batch_size", 1)
    if name == "ppo":
        integer(agent.get("n_steps"), "agent.n_steps", 1)
        integer(agent.get("n_epochs"), "agent.n_epochs", 1)
        if agent["batch_size"] > agent["n_steps"] * agent["n_envs"]:
            raise ConfigError("agent.batch_size", agent["batch_size"],
                              f"must be <= n_steps × n_envs = {agent['n_steps'] * agent['n_envs']}")
        number(agent.get("gae_lambda"), "agent.gae_lambda", 0.0, 1.0)
        number(agent.get("clip_range"), "agent.clip_range", 0.0, low_open=True)
        for k in ("ent_coef", "vf_coef"):
            number(agent.get(k), f"agent.{k}", 0.0)
        number(agent.get("target_kl"), "agent.target_kl", 0.0, low_open=True, optional=True)
        for k in ("normalize_advantage", "share_features_extractor"):
            boolean(agent.get(k, True), f"agent.{k}")
        number(agent.get("value_clip"), "agent.value_clip", 0.0, low_open=True, optional=True)
        for k in ("value_loss_half", "grad_clip_per_network", "truncation_as_terminal"):
            boolean(agent.get(k, False), f"agent.{k}")
        if agent.get("grad_clip_per_network") and not (agent.get("network") or {}).get("separate"):
            raise ConfigError("agent.grad_clip_per_network", True, "needs separate actor and critic networks "
                              "(agent.network.separate=true)")
    else:
        for k, low in (("buffer_size", 1), ("learning_starts", 0), ("train_freq", 1), ("gradient_steps", 1),
                       ("target_update_interval", 1), ("exploration_steps", 1)):
            integer(agent.get(k), f"agent.{k}", low)
        number(agent.get("tau"), "agent.tau", 0.0, 1.0, low_open=True)
        for k in ("exploration_initial_eps", "exploration_final_eps"):
            number(agent.get(k), f"agent.{k}", 0.0, 1.0)
        boolean(agent.get("optimize_memory_usage", False), "agent.optimize_memory_usage")
        if agent.get("optimize_memory_usage"):
            raise ConfigError("agent.optimize_memory_usage", True, "is not offered (the device replay buffer keeps "
                              "observations in their own dtype: bool for MinAtar); valid choices: false")
        boolean(agent.get("double_q", False), "agent.double_q")
        number(agent.get("replay_ratio"), "agent.replay_ratio", 0.0, low_open=True, optional=True)
        if agent.get("replay_ratio") is not None:
            from agents.algorithms.schedule import replay_schedule
            try:
                replay_schedule(float(agent["replay_ratio"]), int(agent["n_envs"]))
            except ValueError as err:
                raise ConfigError("agent.replay_ratio", agent["replay_ratio"], str(err).split(": ", 1)[-1]) from None
    net = dict(agent.get("network") or {})
    keys(net, "agent.network", ("type", "features_dim", "filters", "hidden", "separate", "activation", "bias"))
    boolean(net.get("separate", False), "agent.network.separate")
    boolean(net.get("bias", True), "agent.network.bias")
    choice(net.get("activation", "relu"), "agent.network.activation", ("relu", "tanh", "groupsort"))
    if (net.get("activation", "relu") != "relu" or not net.get("bias", True)) and net.get("type", "auto") != "mlp":
        raise ConfigError("agent.network.type", net.get("type", "auto"), "must be mlp for agent.network.activation "
                          "and agent.network.bias (the CNN presets have their own layers)")
    if net.get("activation") == "groupsort" and any(int(h) % 2 for h in net.get("hidden", [64, 64])):
        raise ConfigError("agent.network.hidden", net.get("hidden"), "GroupSort pairs units: widths must be even")
    if net.get("separate") and name != "ppo":
        raise ConfigError("agent.network.separate", True, "is for PPO (actor and critic); DQN has one network")
    choice(net.get("type", "auto"), "agent.network.type", NETWORKS)
    for k in ("features_dim", "filters"):
        integer(net.get(k, 1), f"agent.network.{k}", 1)
    hidden = net.get("hidden", [64, 64])
    if not isinstance(hidden, list | tuple) or not all(_is_int(h) and h >= 1 for h in hidden):
        raise ConfigError("agent.network.hidden", hidden, "must be a list of layer widths >= 1")


# kind → (actions, channels, pixels) of the shared observation/action spaces, for permutation sizes
SPACE_SIZES = {"minatar": (6, 10, 100), "ale": (18, 4, 84 * 84), "classic": (2, 0, 0)}


def _permutation(spec: Mapping[str, Any], key: str, kind: str) -> None:
    perm = spec.get("permutation")
    if perm is None:
        return
    actions, channels, pixels = SPACE_SIZES[kind]
    size = {"action_permutation": actions, "channel_permutation": channels, "pixel_permutation": pixels}[spec["type"]]
    if not isinstance(perm, list | tuple) or sorted(perm) != list(range(size)):
        raise ConfigError(f"{key}.permutation", perm, f"must be a permutation of 0..{size - 1} ({size} items)")


def _transforms(specs: Any, where: str, kind: str) -> None:
    if not isinstance(specs, list | tuple):
        raise ConfigError(where, specs, "must be a list of {type: ..., <arguments>}")
    for i, spec in enumerate(specs):
        key = f"{where}[{i}]"
        if not isinstance(spec, Mapping):
            raise ConfigError(key, spec, "must be a mapping {type: ..., <arguments>}")
        kind_of = spec.get("type")
        choice(kind_of, f"{key}.type", TRANSFORMS)
        keys({k: v for k, v in spec.items() if k != "type"}, key, TRANSFORM_ARGS[kind_of])
        if kind_of in ("channel_permutation", "pixel_permutation") and kind == "classic":
            raise ConfigError(f"{key}.type", kind_of, "needs image observations (kind minatar or ale)")
        if kind_of == "sticky_actions":
            number(spec.get("prob"), f"{key}.prob", 0.0, 1.0)
        if kind_of.endswith("_permutation"):
            _permutation(spec, key, kind)
        for arg in ("scale", "offset", "low", "high"):
            if arg in spec:
                number(spec[arg], f"{key}.{arg}")
        if kind_of in ("reward_scale", "reward_shift") and TRANSFORM_ARGS[kind_of][0] not in spec:
            raise ConfigError(f"{key}.{TRANSFORM_ARGS[kind_of][0]}", None, "is required")


def _kind_options(options: Mapping[str, Any], where: str, kind: str) -> None:
    for k, v in options.items():
        key = f"{where}.{k}"
        if k in ("sticky_action_prob", "repeat_action_probability"):
            number(v, key, 0.0, 1.0)
        elif k in ("difficulty_ramping", "reward_clipping", "episodic_life"):
            boolean(v, key)
        elif k in ("max_episode_steps", "stall_steps"):
            integer(v, key, 1, optional=True)
        elif k in ("frameskip", "stack_num", "max_num_frames_per_episode"):
            integer(v, key, 1)
        elif k == "noop_max":
            integer(v, key, 0)
        elif k == "stall_min_return":
            number(v, key)
        elif kind == "classic":
            number(v, key, 0.0, low_open=True)


def _env(env: Mapping[str, Any]) -> None:
    kind = env.get("kind", "minatar")
    choice(kind, "env.kind", tuple(KIND_OPTIONS))
    keys(env, "env", (*SPEC_KEYS, *KIND_OPTIONS[kind]))
    choice(env.get("vectorization", "batched"), "env.vectorization", VECTORIZATIONS)
    backend = env.get("backend")
    if kind == "minatar":
        choice(backend or "torch", "env.backend", BACKENDS)
        if env.get("vectorization") == "subproc" and (backend or "torch") == "torch":
            raise ConfigError("env.vectorization", "subproc", "runs numpy envs in worker processes; with MinAtar set "
                              "env.backend=minatar too (the torch backend is batched already)")
    elif backend is not None:
        raise ConfigError("env.backend", backend, f"is for kind minatar; valid choices for kind {kind}: null")
    choice(env.get("order", "fixed"), "env.order", ORDERS)
    integer(env.get("cycles", 1), "env.cycles", 1)
    tasks = env.get("tasks") or []
    if not isinstance(tasks, list | tuple) or not tasks:
        raise ConfigError("env.tasks", env.get("tasks"), "the curriculum needs at least one task")
    steps = env.get("steps_per_task", 1)
    if isinstance(steps, list | tuple):
        if len(steps) != len(tasks):
            raise ConfigError("env.steps_per_task", steps, f"needs one entry per task ({len(tasks)})")
        for i, s in enumerate(steps):
            integer(s, f"env.steps_per_task[{i}]", 1)
    else:
        integer(steps, "env.steps_per_task", 1)
    _kind_options({k: v for k, v in env.items() if k in KIND_OPTIONS[kind] and v is not None}, "env", kind)
    _transforms(env.get("transforms") or [], "env.transforms", kind)
    games = MINATAR_GAMES if kind == "minatar" else CLASSIC_GAMES if kind == "classic" else _ale_roms()
    for i, task in enumerate(tasks):
        where = f"env.tasks[{i}]"
        task = {"game": task} if isinstance(task, str) else task
        if not isinstance(task, Mapping) or "game" not in task:
            raise ConfigError(where, task, "must be a game name or a mapping with a 'game'")
        keys(task, where, (*TASK_KEYS, *KIND_OPTIONS[kind]))
        game = str(task["game"]).lower() if kind == "ale" else task["game"]
        if game not in games:
            raise ConfigError(f"{where}.game", task["game"], f"unknown {kind} game; valid games: "
                              f"{', '.join(games) if len(games) < 12 else ', '.join(games[:10]) + ', …'}")
        _kind_options({k: v for k, v in task.items() if k in KIND_OPTIONS[kind]}, where, kind)
        _transforms(task.get("transforms") or [], f"{where}.transforms", kind)


def _ale_roms() -> tuple[str, ...]:
    import ale_py.roms
    return tuple(ale_py.roms.get_all_rom_ids())


def _method(method: Mapping[str, Any], agent: Mapping[str, Any]) -> None:
    """The method section: its optimizer's and unit method's options by :mod:`plasticity.registry` (names, types,
    and ranges by the constructors' own checks — this imports torch, so it runs after the light sections)."""
    from agents.methods import build_method
    try:
        build_method(method)
    except ValueError as err:
        raise ConfigError.from_line(first_line(err)) from None
    units = method.get("units")
    net = dict(agent.get("network") or {})
    if units and net.get("type") == "mlp" and not net.get("hidden", [64, 64]):
        raise ConfigError("method.units.name", units.get("name"), "needs a network with a hidden layer "
                          "(agent.network.hidden is empty)")


def _device(device: Any) -> None:
    if not isinstance(device, str) or not (device in ("auto", "cpu", "cuda") or
                                           (device.startswith("cuda:") and device[5:].isdigit())):
        raise ConfigError("device", device, "valid choices: auto, cpu, cuda, cuda:<index>")
    if device.startswith("cuda"):
        import torch  # only for an explicit GPU request
        if not torch.cuda.is_available():
            raise ConfigError("device", device, "no CUDA GPU is available here; valid choices: auto, cpu")
        index = int(device[5:] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError("device", device, f"only {torch.cuda.device_count()} GPU(s) here")


# -- memory ---------------------------------------------------------------------------------------------------
def observation_bytes(env: Mapping[str, Any]) -> int:
    """Bytes of one observation in its own dtype (MinAtar bool, ALE uint8 frames, CartPole float32)."""
    kind = env.get("kind", "minatar")
    if kind == "minatar":
        return 10 * 10 * 10
    if kind == "ale":
        return int(env.get("stack_num") or 4) * 84 * 84
    return 4 * 4


def _available_bytes(device: str) -> int | None:
    """Free memory where the buffers will live (``None``: unknown, not checked)."""
    if device.startswith("cuda") or device == "auto":
        import torch
        if torch.cuda.is_available():
            return int(torch.cuda.mem_get_info(int(device[5:] or 0) if device.startswith("cuda:") else 0)[0])
        if device != "auto":
            return None
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def _memory(cfg: Mapping[str, Any]) -> None:
    """The rollout / replay buffer must fit where it lives (the agent's device) before anything starts."""
    agent, obs = cfg["agent"], observation_bytes(cfg["env"])
    if agent.get("name") == "dqn":
        key, value, what = "agent.buffer_size", agent["buffer_size"], "replay buffer"
        need = int(agent["buffer_size"]) * (2 * obs + 16)
    else:
        key, value, what = "agent.n_envs", agent["n_envs"], f"rollout buffer (n_envs × n_steps = " \
            f"{int(agent['n_envs']) * int(agent['n_steps']):,} transitions)"
        need = int(agent["n_envs"]) * int(agent["n_steps"]) * (4 * obs + 28)  # float32 observations, as SB3
    free = _available_bytes(str(cfg.get("device", "auto")))
    if free is not None and need > 0.9 * free:
        raise ConfigError(key, value, f"the {what} needs {need / 2**30:.1f} GiB and {free / 2**30:.1f} GiB are free "
                          f"where it would live (device={cfg.get('device', 'auto')}); make it smaller")


def load_stored_config(run_dir: Path) -> dict[str, Any]:
    """The config a run directory holds (``resume=<dir>``), read and validated like a new one."""
    from omegaconf import OmegaConf
    try:
        stored = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
    except Exception as err:
        raise ConfigError("resume", str(run_dir), f"its config.yaml cannot be read ({first_line(err)})") from None
    if not isinstance(stored, dict):
        raise ConfigError("resume", str(run_dir), "its config.yaml does not hold a config (a mapping)")
    try:
        validate({**stored, "run_dir": str(run_dir), "resume": None})
    except ConfigError as err:
        raise ConfigError("resume", str(run_dir), f"its config.yaml has {err}") from None
    return stored


def validate(cfg: Mapping[str, Any], method_options: Sequence[str] | None = None) -> None:
    """Check a resolved run config (its arm settings merged); raise :class:`ConfigError` on the first problem.

    :param method_options: the available ``method=`` options, to check the names under ``arms``.
    """
    arms = cfg.get("arms") or {}
    if not isinstance(arms, Mapping):
        raise ConfigError("arms", arms, "must map method names to method settings")
    for name in arms:
        if method_options is not None and name not in method_options:
            raise ConfigError(f"arms.{name}", arms[name], f"unknown method; valid: {', '.join(method_options)}")
    cfg = with_arm(cfg)
    _run(cfg)
    for section in ("agent", "env", "method"):
        if not isinstance(cfg.get(section), Mapping):
            raise ConfigError(section, cfg.get(section), "missing config group")
    _agent(cfg["agent"])
    _env(cfg["env"])
    _device(cfg.get("device", "auto"))
    _memory(cfg)
    _method(cfg["method"], cfg["agent"])
