"""Check a ``scripts/train.py`` command line before Hydra runs it (and before anything heavy is imported).

Every value of every swept override is composed once (the other sweeps at their first value) and validated
with :func:`agents.validation.validate`; Hydra's own composition errors (an unknown group option, an unknown
key) become the same kind of one-line :class:`~agents.validation.ConfigError`. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import OmegaConf

from agents.config.validation import ConfigError, validate

GROUPS = ("agent", "env", "method", "experiment")
SKIP_FLAGS = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "--resolve", "--package", "-p",
              "--run", "-r", "--shell-completion", "-sc")


def _options(conf: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (conf / group).glob("*.yaml"))


def _as_arg(key: str, value: object) -> str:
    if isinstance(value, str):
        return f"{key}={value}"
    return f"{key}={OmegaConf.to_yaml(OmegaConf.create({'v': value}))[3:].strip()}"


def combinations(args: Sequence[str], config_sweeps: dict[str, str] | None = None) -> list[list[str]]:
    """Override lists to compose: the first value of every sweep, then each other value of each sweep.

    :param config_sweeps: sweeps a config defines (``hydra.sweeper.params``) that the command does not override.
    """
    extra = [f"{k}={v}" for k, v in (config_sweeps or {}).items()]
    try:
        overrides = OverridesParser.create().parse_overrides([*args, *extra])
    except OverrideParseException as err:
        raise ConfigError("overrides", " ".join(args), str(err).splitlines()[0]) from None
    fixed, sweeps = [], []
    for o in overrides:
        key = o.get_key_element()
        if key.lstrip("+~").startswith("hydra"):
            continue
        if o.is_sweep_override():
            sweeps.append((key, [v for v in o.sweep_string_iterator()]))
        else:
            fixed.append(o.input_line)
    base = fixed + [f"{k}={vs[0]}" for k, vs in sweeps]
    combos = [base]
    for i, (key, values) in enumerate(sweeps):
        for v in values[1:]:
            combos.append(fixed + [f"{k}={vs[0]}" for j, (k, vs) in enumerate(sweeps) if j != i] + [f"{key}={v}"])
    return combos


def compose_checked(conf: Path, config_name: str, overrides: list[str]) -> dict:
    for o in overrides:  # group options first: Hydra's message for these is several lines long
        key, _, value = o.partition("=")
        if key in GROUPS and value not in _options(conf, key):
            raise ConfigError(key, value, f"unknown {key} option; valid choices: {', '.join(_options(conf, key))}")
    if not any(o.startswith("run_dir=") for o in overrides):
        overrides = [*overrides, "run_dir=not_created"]
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(config_name, overrides=overrides)
    except (ConfigCompositionException, MissingConfigException) as err:
        raise _composition_error(conf, config_name, overrides, err) from None
    return OmegaConf.to_container(cfg, resolve=True)


def _composition_error(conf: Path, config_name: str, overrides: list[str], err: Exception) -> ConfigError:
    text = f"{err} {err.__cause__ or ''}"
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        if f"'{key}'" in text or f"'{key.rsplit('.', 1)[-1]}'" in text:
            parent = key.rpartition(".")[0]
            valid = _valid_keys(conf, config_name, overrides, parent)
            return ConfigError(key, value, f"unknown key; valid keys{' of ' + parent if parent else ''}: "
                               f"{', '.join(valid)}" if valid else " ".join(text.split())[:200])
    return ConfigError("overrides", " ".join(overrides), " ".join(text.split())[:200])


def _valid_keys(conf: Path, config_name: str, overrides: list[str], parent: str) -> list[str]:
    groups = [o for o in overrides if o.partition("=")[0] in GROUPS]
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = OmegaConf.to_container(compose(config_name, overrides=[*groups, "run_dir=x"]))
    except Exception:  # best effort: the message then lists no keys
        return []
    node = cfg
    for part in filter(None, parent.split(".")):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return list(node) if isinstance(node, dict) else []


def _config_sweeps(conf: Path, config_name: str, args: list[str]) -> dict[str, str]:
    """``hydra.sweeper.params`` of the composed config (a preset's arms and seeds), minus what the command sets."""
    groups = [a for a in args if a.partition("=")[0] in GROUPS and "," not in a]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name, overrides=[*groups, "run_dir=not_created"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper).get("params") or {}
    given = {a.lstrip("+~").partition("=")[0] for a in args}
    return {k: str(v) for k, v in params.items() if k not in given}


def check_cli(args: Sequence[str], conf: Path, config_name: str = "config") -> None:
    """Raise :class:`ConfigError` if any run of the command would get a bad config."""
    multirun = any(a in ("-m", "--multirun") for a in args)
    args = [a for a in args if a not in ("-m", "--multirun")]
    if any(a.split("=")[0] in SKIP_FLAGS for a in args):
        return  # Hydra's informational commands: nothing runs
    sweeps = _config_sweeps(conf, config_name, args) if multirun else {}
    for combo in combinations(args, sweeps):
        validate(compose_checked(conf, config_name, combo), method_options=_options(conf, "method"))
