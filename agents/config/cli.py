"""Check a ``scripts/train.py`` command line before Hydra runs it.

Every value of every swept override is composed once (the other sweeps at their first value) and turned into its
effective config (:func:`agents.config.validation.effective_config`: typed and checked); Hydra's own composition
errors (an unknown group option, an unknown key) become the same kind of one-line
:class:`~agents.errors.ConfigError`. Nothing is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import OmegaConf

from agents.config.store import register
from agents.config.validation import effective_config
from agents.errors import ConfigError, first_line

GROUPS = ("agent", "env", "method", "experiment", "logger")
OPTUNA_SWEEPERS = ("hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",  # hydra/sweeper=optuna
                   "hydra_plugins.plasticity_rl_sweeper.CoefficientSweeper")          # hydra/sweeper=optuna_coef
SKIP_FLAGS = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "--resolve", "--package", "-p",
              "--run", "-r", "--shell-completion", "-sc")


def _options(conf: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (conf / group).glob("*.yaml"))


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
        if o.is_interval_sweep():  # an Optuna search range: its two ends are composed and validated
            sweeps.append((key, interval_bounds(o)))
        elif o.is_sweep_override():
            sweeps.append((key, [v for v in o.sweep_string_iterator()]))
        else:
            fixed.append(o.input_line)
    base = fixed + [f"{k}={vs[0]}" for k, vs in sweeps]
    combos = [base]
    for i, (key, values) in enumerate(sweeps):
        for v in values[1:]:
            combos.append(fixed + [f"{k}={vs[0]}" for j, (k, vs) in enumerate(sweeps) if j != i] + [f"{key}={v}"])
    return combos


def interval_bounds(override: Any) -> list[str]:
    """The two ends of ``key=interval(low, high)`` (``tag(log, …)``: log scale), refused when the range is empty
    or, on a log scale, not positive."""
    value = override.value()
    key, text = override.get_key_element(), override.input_line.partition("=")[2]
    low, high = value.start, value.end
    if low is None or high is None or not low < high:
        raise ConfigError(key, text, f"an empty search range: it needs low < high (got {low}, {high})")
    if "log" in value.tags and low <= 0:
        raise ConfigError(key, text, f"a log-scale search range needs 0 < low < high (got low = {low})")
    return [repr(low), repr(high)]


def _parse(args: list[str]) -> list[Any]:
    """Hydra's parse of the overrides; a malformed one (``interval(1e-4)``, ``choice()``) is one line."""
    parser = OverridesParser.create()
    for arg in args:
        try:
            parser.parse_overrides([arg])
        except OverrideParseException as err:
            key, _, value = arg.partition("=")
            raise ConfigError(key, value, "cannot be read: " + " ".join(str(err).split())[:200]) from None
    return parser.parse_overrides(args)


def _check_search(conf: Path, config_name: str, args: list[str]) -> None:
    """Search ranges need the Optuna sweeper; ``hydra/sweeper=optuna_coef`` needs a range or the method's space,
    and every setting of the sweeper is checked here, before a study is opened."""
    parsed = _parse(args)
    ranges = [o for o in parsed if o.is_interval_sweep()]
    chosen = [a for a in args if a.partition("=")[0] in GROUPS and "," not in a]
    sweepers = [a for a in args if a.lstrip("+~").startswith(("hydra/sweeper", "hydra.sweeper.", "hydra.sweep."))]
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(config_name, overrides=[*chosen, *sweepers, "run_dir=not_created"],
                          return_hydra_config=True)
    except (ConfigCompositionException, MissingConfigException) as err:
        raise _composition_error(conf, config_name, [*chosen, *sweepers], err) from None
    sweeper = OmegaConf.to_container(cfg.hydra.sweeper)
    if str(sweeper.get("_target_", "")) not in OPTUNA_SWEEPERS:
        if ranges:
            key, _, value = ranges[0].input_line.partition("=")
            raise ConfigError(key, value, "a search range needs the Optuna sweeper: add hydra/sweeper=optuna_coef")
        return
    given = {o.get_key_element().lstrip("+~"): o for o in parsed}
    preset = sweeper.get("params") or {}
    for key in ("seed", "method"):
        if key in given:
            swept = given[key].is_sweep_override() and not given[key].is_interval_sweep()
            name, value = key, given[key].input_line.partition("=")[2]
        else:
            value = preset.get(key)
            swept = value is not None and any(c in str(value) for c in ",(")
            name = f"hydra.sweeper.params.{key}"  # a preset's arms and seeds
        if swept:
            raise ConfigError(name, value, "the Optuna search would treat this list as one more parameter to tune; "
                              f"search one {key} at a time (give {key}=<one>, one hydra.sweep.dir each), or sweep "
                              f"{key}s without hydra/sweeper=optuna_coef")
    for key in ("n_trials", "n_jobs"):
        value = sweeper.get(key)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ConfigError(f"hydra.sweeper.{key}", value, "must be an integer >= 1")
    directions = sweeper.get("direction")
    if not all(d in ("maximize", "minimize") for d in (directions if isinstance(directions, list) else [directions])):
        raise ConfigError("hydra.sweeper.direction", directions, "valid choices: maximize, minimize")
    rate = sweeper.get("max_failure_rate")
    if not (isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate <= 1):
        raise ConfigError("hydra.sweeper.max_failure_rate", rate, "must be a number in [0, 1] (the share of failed "
                          "trials a batch may have before the search stops)")
    _check_storage(str(OmegaConf.select(cfg, "hydra.sweeper.storage")))
    spaces = sweeper.get("search_spaces") or {}
    for method, space in spaces.items():
        if not isinstance(space, dict) or not space:
            raise ConfigError(f"hydra.sweeper.search_spaces.{method}", space, "must map at least one key to "
                              "[low, high], e.g. {method.coef: [1.0e-3, 1.0e-1]}")
        for key, bounds in space.items():
            if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)
                    and 0 < bounds[0] < bounds[1]):
                raise ConfigError(f"hydra.sweeper.search_spaces.{method}.{key}", bounds,
                                  "must be [low, high] with 0 < low < high (a log-uniform range)")
            if method in _options(conf, "method"):  # the key must exist in that method's runs
                try:
                    effective_config(compose_checked(conf, config_name, [f"method={method}", f"{key}={bounds[0]}"]))
                except ConfigError as err:
                    raise ConfigError(f"hydra.sweeper.search_spaces.{method}.{key}", bounds,
                                      f"is not a setting of {method}'s runs ({err})") from None
    method = str(cfg.method.name)
    if "search_spaces" in sweeper and not ranges and not sweeper.get("params") and method not in spaces:
        from agents.methods import search_space
        if not search_space(OmegaConf.to_container(cfg.method, resolve=True)):
            with_space = [m for m in _options(conf, "method") if m in spaces or search_space(
                _method_config(conf, config_name, m))]
            raise ConfigError("method", method, "has no search space in hydra/sweeper=optuna_coef: give a range, "
                              "e.g. 'method.coef=tag(log, interval(1e-4, 1e-1))', or use a method that has one: "
                              f"{', '.join(with_space)}")


def _check_storage(url: str) -> None:
    """The study's SQLite file: its directory writable, and an existing file an Optuna study (not damaged)."""
    if not url.startswith("sqlite:///"):
        return  # a database server: Optuna reports its own connection errors
    path = Path(url.removeprefix("sqlite:///"))
    problem = unwritable(path.parent)
    if problem:
        raise ConfigError("hydra.sweeper.storage", url, f"cannot hold the study: {problem}")
    if path.exists():
        import optuna
        try:
            optuna.get_all_study_summaries(storage=url)
        except Exception as err:  # sqlalchemy's DatabaseError and its kin: a damaged or foreign file
            raise ConfigError("hydra.sweeper.storage", url, "is not a readable Optuna study "
                              f"({type(err).__name__}: {first_line(str(err))}); move the file away to start a new "
                              "search") from None


def _method_config(conf: Path, config_name: str, method: str) -> dict:
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name, overrides=[f"method={method}", "run_dir=x"]).method,
                                      resolve=True)


def compose_checked(conf: Path, config_name: str, overrides: list[str]) -> dict:
    """The composed config of ``overrides`` as plain data; a composition error is one line."""
    register()
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
    if "An item is already at" in text:  # +key=value on a key the schema already has
        for o in overrides:
            key, _, value = o.partition("=")
            if key.startswith("+") and not key.startswith("++") and f"'{key[1:]}'" in text:
                return ConfigError(key[1:], value, f"the key exists already: set it without '+' ({key[1:]}={value})")
    for o in overrides:
        key, _, value = o.lstrip("+~").partition("=")
        parent = key.rpartition(".")[0]
        if parent and (f"{parent}=null" in overrides or f"~{parent}" in overrides) and f"'{key}'" in text:
            return ConfigError(key, value, f"{parent} is null (set by {parent}=null), so it has no keys to set; "
                               f"give it whole instead, e.g. {parent}={{{key.rsplit('.', 1)[-1]}: {value}}}")
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


def _refuse_sweeps(args: Sequence[str]) -> None:
    """A sweep (``key=a,b``) without ``-m``: Hydra's own message is five lines; ours is one."""
    try:
        overrides = OverridesParser.create().parse_overrides(list(args))
    except OverrideParseException as err:
        raise ConfigError("overrides", " ".join(args), str(err).splitlines()[0]) from None
    for o in overrides:
        if o.is_sweep_override() and not o.get_key_element().lstrip("+~").startswith("hydra"):
            key, _, value = o.input_line.partition("=")
            raise ConfigError(key, value, "several values make a sweep: add -m to run one job per value (a list "
                              "value is written [a,b])")


def check_cli(args: Sequence[str], conf: Path, config_name: str = "config") -> None:
    """Raise :class:`ConfigError` if any run of the command would get a bad config."""
    register()
    conf = Path(conf).resolve()  # Hydra's initialize_config_dir takes absolute paths only
    if not (conf / f"{config_name}.yaml").is_file():
        raise ConfigError("config_dir", str(conf), f"must be a directory holding {config_name}.yaml (and agent/, "
                          "env/, method/ …)")
    multirun = any(a in ("-m", "--multirun") for a in args)
    args = [a for a in args if a not in ("-m", "--multirun")]
    if any(a.split("=")[0] in SKIP_FLAGS for a in args):
        return  # Hydra's informational commands: nothing runs
    if not multirun:
        _refuse_sweeps(args)
    sweeps = _config_sweeps(conf, config_name, args) if multirun else {}
    if multirun:
        _check_search(conf, config_name, args)
    combos = combinations(args, sweeps)
    for combo in combos:
        cfg = effective_config(compose_checked(conf, config_name, combo), combo, _options(conf, "method"))
        check_unit_layers(cfg)
    hydra_dirs = [a for a in args if a.lstrip("+~").startswith(("hydra.run.", "hydra.sweep."))]
    for key, path in _output_dirs(conf, config_name, [*combos[0], *hydra_dirs], multirun):
        if path.strip() in ("", "None", "null", "."):  # Hydra would write the whole run into the current directory
            raise ConfigError(key, path, "must name a directory for the run (empty: the run's files would land in "
                              "the current directory); leave it out for runs/<date>_<agent>_<env>_<method>_s<seed>")
        problem = unwritable(Path(path))
        if problem:
            raise ConfigError(key, path, f"cannot hold a run: {problem}")


def check_unit_layers(cfg: Any) -> None:
    """``method.units.layers`` names hidden layers of the agent's network: known only once the network exists, so
    the policy is built here (on the CPU, one env, nothing written) when the config names layers."""
    if (cfg.method.units or {}).get("layers") is None:
        return
    from agents.algorithms.factory import make_policy
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.methods import build_method
    from envs import make_curriculum
    from plasticity.units.base import UnknownLayerError
    env = GymnasiumVecEnv(make_curriculum(cfg.env, 1, cfg.seed, "cpu"))
    try:
        method = build_method(cfg.method)
        method.attach_to(make_policy(cfg.agent, env, method), cfg.seed)
    except UnknownLayerError as err:
        raise ConfigError("method.units.layers", err.layers, f"{err.unknown!r} is not a hidden layer of this "
                          f"agent's network; valid choices: {', '.join(err.valid)}") from None
    finally:
        env.close()


def _output_dirs(conf: Path, config_name: str, overrides: list[str], multirun: bool) -> list[tuple[str, str]]:
    """The directories the command will write: Hydra's output directory, ``run_dir`` and ``resume`` if given."""
    explicit = {o.partition("=")[0]: o.partition("=")[2] for o in overrides}
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name, overrides=[*overrides, *([] if "run_dir" in explicit else ["run_dir=x"])],
                      return_hydra_config=True)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    dirs = [(key, str(OmegaConf.select(cfg, key)))]
    dirs += [(k, explicit[k]) for k in ("run_dir", "resume") if explicit.get(k) not in (None, "", "null")]
    return dirs


def unwritable(path: Path) -> str | None:
    """Why a run directory could not be created and written at ``path`` (None: it can). Tried for real: the
    directories made for the test are removed again."""
    too_long = [p for p in path.parts if len(p.encode()) > 255]
    if too_long:
        return f"a path component is {len(too_long[0].encode())} bytes long (file systems allow 255)"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    created = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        return f"{err.strerror or type(err).__name__} ({err.filename or path})"
    finally:
        for p in created:  # deepest first
            with contextlib.suppress(OSError):
                p.rmdir()
    return None
