"""The effective run config: the composed Hydra config and the command line → one typed, checked
:class:`~agents.training.settings.RunConfig`, in one function (:func:`effective_config`) that the command line's
pre-check, the Python API and the resume check all use.

Every key, type and range is the schema's (each section declared beside its code: agents/training/settings.py and the
modules it names; the curriculum spec in envs/spec.py; the method options in plasticity/registry.py). What the
schema cannot know is checked here, after it: whether ``device=cuda`` exists, and whether the rollout or replay
buffer fits in the memory where it would live. Any problem is a :class:`~agents.errors.ConfigError` — one line
naming the key, the value and what is allowed — raised before anything is written.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.errors import ConfigError, first_line, validation_line


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


def parse(cfg: Mapping[str, Any]) -> Any:
    """The typed :class:`RunConfig` of a plain config (its arm already merged), the env section checked by
    ``envs.spec`` and kept as the user gave it (what was not given stays the env's default)."""
    from pydantic import ValidationError

    from agents.training.settings import RunConfig
    from envs.spec import validate_spec
    cfg = dict(cfg)
    env = cfg.get("env")
    try:
        typed = RunConfig.model_validate({**cfg, "env": {}})
    except ValidationError as err:
        raise validation_line(err, RunConfig) from None
    if not isinstance(env, Mapping):
        raise ConfigError("env", env, "must be a curriculum spec (a mapping; conf/env/*.yaml)")
    try:
        spec = validate_spec(dict(env))
    except ValidationError as err:
        from envs.spec import _Holder
        raise validation_line(err, _Holder) from None
    normalize = getattr(typed.agent, "normalize", None)
    if normalize is not None and normalize.observations and spec.kind == "ale":
        raise ConfigError("agent.normalize.observations", True, "is for vector observations; ALE's are uint8 frames "
                          "the policy scales by 1/255 (valid: false)")
    typed.env = spec.model_dump(mode="json", exclude_unset=True)
    return typed


def effective_config(composed: Mapping[str, Any], overrides: Sequence[str] = (),
                     method_options: Sequence[str] | None = None) -> Any:
    """The run config a command runs: ``composed`` (Hydra's composition) with the per-method ``arms`` of a preset
    merged into ``method`` once — a ``method.*`` value on the command line (``overrides``) wins over the arm — then
    typed and checked (:func:`parse`, :func:`check_device`, :func:`check_memory`, W&B installed if enabled). With
    ``resume=<dir>`` it is that run's stored config, in that directory.

    :param method_options: the available ``method=`` options, to check the names under ``arms``.
    """
    arms = composed.get("arms") or {}
    if not isinstance(arms, Mapping):
        raise ConfigError("arms", arms, "must map method names to method settings")
    for name in arms:
        if method_options is not None and name not in method_options:
            raise ConfigError(f"arms.{name}", arms[name], f"unknown method; valid: {', '.join(method_options)}")
    typed = parse(with_arm(command_line_over_arms(composed, overrides)))
    if typed.resume:  # resume=<dir>: that run's own config (checked like a new one), in that directory
        stored = load_stored_config(Path(typed.resume))
        resumed = parse(with_arm({**stored, "run_dir": typed.resume, "resume": None, "progress": typed.progress}))
        refuse_conflicts(typed, resumed, overrides)
        typed = resumed
    check_device(typed.device)
    check_memory(typed)
    if typed.wandb.enabled:
        from agents.run.wandb_log import EXTRA_HINT, wandb_missing
        if wandb_missing():
            raise ConfigError("wandb.enabled", True, f"needs the wandb package, which is not installed: {EXTRA_HINT}")
    return typed


RESUME_FREE = ("resume", "run_dir", "progress")  # what a resume may set: the rest is the stored run's


def refuse_conflicts(asked: Any, resumed: Any, overrides: Iterable[str]) -> None:
    """``resume=<dir>`` continues the stored run as it was: an override that asks for something else (another
    method, seed, coefficient …) is refused in one line rather than silently ignored; one that repeats the stored
    value is fine."""
    new, old = asked.model_dump(mode="json"), resumed.model_dump(mode="json")
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key in RESUME_FREE or key.startswith("hydra"):
            continue
        whole = key in ("experiment", "logger")  # presets: the whole config they would make
        here, there = (c if whole else _at(c, key.split(".")) for c in (new, old))
        if whole:
            here, there = ({k: v for k, v in c.items() if k not in RESUME_FREE} for c in (here, there))
        elif key in ("agent", "env", "method"):  # a group option: its name
            here, there = _name(here), _name(there)
        if here != there:
            stored = "another config" if whole else f"{key}={there!r}"
            raise ConfigError("resume", str(resumed.run_dir), f"holds a run with {stored}; the command asks "
                              f"{key}={value}: a resume continues the stored run as it was (drop {key}=, or start a "
                              "new run in another directory)")


def _at(config: Any, path: list[str]) -> Any:
    for part in path:
        config = config.get(part) if isinstance(config, dict) else None
    return config


def _name(section: Any) -> Any:
    """A config group's section by its name (``method=cbp`` compares whole sections, names them)."""
    return section.get("name", section) if isinstance(section, dict) else section


def validate(cfg: Mapping[str, Any], method_options: Sequence[str] | None = None) -> None:
    """Raise :class:`ConfigError` on the first problem of a resolved run config (see :func:`effective_config`)."""
    effective_config(cfg, (), method_options)


def check_device(device: str) -> None:
    """``device=cuda[:i]`` needs that GPU here."""
    if device.startswith("cuda"):
        import torch  # only for an explicit GPU request
        if not torch.cuda.is_available():
            raise ConfigError("device", device, "no CUDA GPU is available here; valid choices: auto, cpu")
        index = int(device[5:] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError("device", device, f"only {torch.cuda.device_count()} GPU(s) here")


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


def check_memory(cfg: Any) -> None:
    """The rollout / replay buffer must fit where it lives (the agent's device) before anything starts."""
    from envs.spec import observation_bytes
    agent, obs = cfg.agent, observation_bytes(cfg.env)
    if agent.name == "dqn":
        # the device replay buffer keeps max(buffer_size // n_envs, 1) steps of every env: n_envs beyond buffer_size
        # still needs one slot each
        slots = max(agent.buffer_size // agent.n_envs, 1) * agent.n_envs
        key, value = ("agent.n_envs", agent.n_envs) if slots > agent.buffer_size else ("agent.buffer_size",
                                                                                      agent.buffer_size)
        what = "replay buffer" if slots <= agent.buffer_size else f"replay buffer (one slot per env: {slots:,})"
        need = slots * (2 * obs + 16)
    else:
        key, value = "agent.n_envs", agent.n_envs
        what = f"rollout buffer (n_envs × n_steps = {agent.n_envs * agent.n_steps:,} transitions)"
        need = agent.n_envs * agent.n_steps * (4 * obs + 28)  # float32 observations, as SB3
    free = _available_bytes(cfg.device)
    if free is not None and need > 0.9 * free:
        raise ConfigError(key, value, f"the {what} needs {need / 2**30:.1f} GiB and {free / 2**30:.1f} GiB are free "
                          f"where it would live (device={cfg.device}); make it smaller")


def load_stored_config(run_dir: Path) -> dict[str, Any]:
    """The config a run directory holds (``resume=<dir>``), read and checked like a new one."""
    from omegaconf import OmegaConf

    from agents.run.layout import RunDir
    try:
        stored = OmegaConf.to_container(OmegaConf.load(RunDir(run_dir).config))
    except Exception as err:
        raise ConfigError("resume", str(run_dir), f"its config.yaml cannot be read ({first_line(err)})") from None
    if not isinstance(stored, dict):
        raise ConfigError("resume", str(run_dir), "its config.yaml does not hold a config (a mapping)")
    try:
        parse(with_arm({**stored, "run_dir": str(run_dir), "resume": None}))
    except ConfigError as err:
        raise ConfigError("resume", str(run_dir), f"its config.yaml has {err}") from None
    return stored
