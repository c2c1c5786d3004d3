"""One typed schema (issue 29): every option declared once, beside its code, checked once, before anything is
written."""

from pathlib import Path

import pytest
import yaml
from conftest import cli_in_process

from agents.config.cli import check_cli, compose_checked
from agents.config.validation import effective_config
from agents.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Bad overrides that passed the command line's first check before issue 29 and failed later (after the run
# directory existed) or not at all, and unknown keys in every section: each is now refused by the schema itself.
BAD = [
    (["+method.lr=0.01"], "method.lr=0.01: the learning rate is the agent's"),
    (["method.amsgrad=maybe"], "method.amsgrad='maybe': must be true or false"),
    (["method.fused=abc"], "method.fused='abc': must be true or false or null"),
    (["method=cbp", "method.units.layers=[nope]"], "method.units.layers=['nope']: 'nope' is not a hidden layer"),
    (["method=redo", "method.units.layers=[features_extractor.cnn]"],
     "method.units.layers=['features_extractor.cnn']: 'features_extractor.cnn' is not a hidden layer of this agent's"),
    (["method=l2", "method.coef=-1e-3"], "method.coef=-0.001: must be >= 0 (L2)"),
    (["method=adamo", "method.target_scale=big"], "method.target_scale='big': must be > 0 or 'auto'"),
    (["method=l2_init", "method.weights_only=1"], "method.weights_only=1: must be true or false"),
    (["method=spectral", "method.power_iterations=0.5"], "method.power_iterations=0.5: must be an integer"),
    (["method=wasserstein", "method.coef=-1"], "method.coef=-1: must be >= 0"),
    (["method=shrink_perturb", "method.noise_std=-1"], "method.noise_std=-1: must be >= 0"),
    (["method=adamw", "method.decoupled_weight_decay=false"], "method.decoupled_weight_decay='false': unknown key"),
    (["method=iso_adam", "method.normalize_by_dim=2"], "method.normalize_by_dim=2: must be true or false"),
    (["method=cbp", "method.units.decay_rate=1.0"], "method.units.decay_rate=1.0: must be in [0, 1)"),
    (["method=cbp", "method.units.accumulate=yes please"], "method.units.accumulate='yes please': must be true"),
    (["method=redo", "method.units.score_batch=0"], "method.units.score_batch=0: must be >= 1"),
    (["method=cbp", "method.units.init=gaussian"], "method.units.init='gaussian'"),
    (["method.on_switch.perturb=-1"], "method.on_switch.perturb=-1: must be >= 0"),
    (["method.regularize_heads=maybe"], "method.regularize_heads='maybe': must be true or false"),
    (["+method.on_switch.reset_critic=true"], "method.on_switch.reset_critic=True: unknown key; valid keys of "
                                              "method.on_switch: inject"),
    (["+agent.foo=1"], "agent.foo=1: unknown key; valid keys of agent: learning_rate"),
    (["+agent.network.depth=3"], "agent.network.depth=3: unknown key; valid keys of agent.network: type"),
    (["agent.network.hidden=[64,0]"], "agent.network.hidden=[64, 0]: must be a list of layer widths >= 1"),
    (["agent.fused_optimizer=abc"], "agent.fused_optimizer='abc': must be true or false"),
    (["agent.value_clip=0"], "agent.value_clip=0: must be > 0"),
    (["agent=dqn", "agent.tau=0"], "agent.tau=0: must be > 0"),
    (["agent=dqn", "agent.network.separate=true"], "agent.network.separate=True: is for PPO"),
    (["+eval.foo=1"], "eval.foo=1: unknown key; valid keys of eval: enabled"),
    (["eval.every=-1"], "eval.every=-1: must be >= 0"),
    (["+checkpoint.foo=1"], "checkpoint.foo=1: unknown key; valid keys of checkpoint: every"),
    (["checkpoint.at_switch=sometimes"], "checkpoint.at_switch='sometimes': must be true or false"),
    (["+metrics.foo=1"], "metrics.foo=1: unknown key; valid keys of metrics: enabled"),
    (["metrics.ntk_samples=0"], "metrics.ntk_samples=0: must be >= 1"),
    (["+wandb.foo=1"], "wandb.foo=1: unknown key; valid keys of wandb: enabled"),
    (["wandb.mode=sometimes"], "wandb.mode='sometimes': valid choices: online, offline, disabled"),
    (["+foo=1"], "foo=1: unknown key; valid keys: agent"),
    (["log_every=0"], "log_every=0: must be >= 1"),
    (["progress=maybe"], "progress='maybe': must be true or false"),
    (["+env.foo=1"], "env.foo=1: unknown key; valid keys of env: name"),
    (["env.tasks=[{game:breakout,colour:red}]"], "env.tasks[0].colour='red': unknown key"),
    (["env.max_episode_steps=0"], "env.max_episode_steps=0: must be >= 1"),
    (["env.steps_per_task=[1,2,3]"], "env.steps_per_task=[1, 2, 3]: 3 values for 2 tasks"),
    (["env.transforms=[{type:sticky_actions,prob:2}]"], "env.transforms[0].prob=2: must be <= 1"),
]


def test_there_are_at_least_twenty_bad_overrides_over_every_section_and_method():
    assert len(BAD) >= 20
    sections = {o.lstrip("+").split(".")[0].split("=")[0] for overrides, _ in BAD for o in overrides}
    assert {"method", "agent", "env", "eval", "checkpoint", "metrics", "wandb", "log_every"} <= sections
    methods = {o.partition("=")[2] for overrides, _ in BAD for o in overrides if o.startswith("method=")}
    from plasticity import registry
    optimizers = {yaml.safe_load((CONF / "method" / f"{m}.yaml").read_text())["defaults"][0].split("/")[3]
                  .split("@")[0] for m in methods}
    units = {m for m in methods if m in registry.UNIT_METHODS}
    assert set(registry.OPTIMIZERS) - optimizers - {"adam", "adam_equal_betas"} == set()  # every option-bearing one
    assert units == set(registry.UNIT_METHODS)


@pytest.mark.parametrize("overrides, message", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_a_bad_override_is_refused_up_front_in_one_line_and_nothing_is_written(tmp_path, overrides, message):
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError) as err:
        check_cli([*overrides, f"hydra.run.dir={run_dir}"], CONF)
    text = str(err.value)
    assert "\n" not in text and text.startswith(message), text
    assert not run_dir.exists()


def test_the_command_line_refuses_them_with_exit_2_and_no_run_directory(train, tmp_path, capsys):
    for k, (overrides, message) in enumerate((BAD[0], BAD[3], BAD[20])):
        run_dir = tmp_path / "run"
        if k == 0:  # one as a real command; the others through its entry point in process (cheaper)
            done = train(*overrides, f"hydra.run.dir={run_dir}")
            code, stderr = done.returncode, done.stderr
        else:
            code, stderr = cli_in_process([*overrides, f"hydra.run.dir={run_dir}"], capsys)
        assert code == 2 and stderr.strip().startswith(f"error: {message}"), stderr[-500:]
        assert not run_dir.exists()


# -- defaults stated once -------------------------------------------------------------------------------------------
def test_the_yaml_files_restate_no_default():
    """conf/ holds only what a preset changes: the defaults live in the schema (agents/*/settings.py, envs/spec.py)
    and the library's signatures (plasticity/registry.py), registered as Hydra nodes."""
    from agents.config.store import library_defaults
    top = yaml.safe_load((CONF / "config.yaml").read_text())
    assert set(top) == {"defaults", "run_dir", "hydra"}
    for agent in ("ppo", "dqn"):
        assert set(yaml.safe_load((CONF / "agent" / f"{agent}.yaml").read_text())) == {"defaults"}
    for path in sorted((CONF / "method").glob("*.yaml")):
        node = yaml.safe_load(path.read_text())
        if "method" in node:  # a _global_ variant of another method (adamo_groupsort: its network)
            continue
        optimizer = node["defaults"][0].split("/")[3].split("@")[0]
        for key, value in library_defaults(optimizer).items():
            assert node.get(key, object()) != value, f"{path.name}: {key}={value} restates the default"
        units = node.get("units") or {}
        unit = next((d.split("/")[3].split("@")[0] for d in node["defaults"] if "/schema/units/" in str(d)), None)
        for key, value in (library_defaults(unit).items() if unit else ()):
            assert units.get(key, object()) != value, f"{path.name}: units.{key}={value} restates the default"


def test_the_composed_defaults_are_the_schemas():
    from agents.algorithms.settings import DQNConfig, PPOConfig
    from agents.training.settings import RunConfig
    for name, model in (("ppo", PPOConfig), ("dqn", DQNConfig)):
        cfg = effective_config(compose_checked(CONF, "config", [f"agent={name}", "method=adam"]))
        assert cfg.agent == model()
    cfg = effective_config(compose_checked(CONF, "config", ["method=adam"]))
    for key in ("seed", "device", "log_every", "eval", "checkpoint", "metrics", "wandb"):
        assert getattr(cfg, key) == RunConfig.model_fields[key].get_default(call_default_factory=True), key


def test_a_method_option_is_declared_by_its_constructor_alone():
    """The registry reads names, types and defaults from the signatures: a new keyword argument is an option."""
    import inspect

    from plasticity import registry
    for name, spec in registry.METHODS.items():
        options = spec.options()
        own = [p for p in inspect.signature(spec.cls.__init__).parameters.values()
               if (p.name not in registry.RESERVED and p.kind is p.KEYWORD_ONLY) or p.kind is p.POSITIONAL_OR_KEYWORD]
        for p in own:
            if p.name in registry.RESERVED or p.name in getattr(spec.cls, "fixed_options", ()):
                continue
            assert options[p.name].default == p.default, (name, p.name)


def test_the_resume_check_compares_typed_configs(tmp_path):
    """A config that spells a default out is the same run as one that leaves it to the schema."""
    from agents.run.status import write_status
    from agents.training.runner import _check_same_config
    small = ["agent.n_envs=4", "agent.n_steps=16", "agent.batch_size=32", f"run_dir={tmp_path}"]
    cfg = effective_config(compose_checked(CONF, "config", ["method=adam", *small]))
    plain = cfg.model_dump(mode="json")
    for key in ("amsgrad", "foreach", "maximize", "fused"):  # what a config written without them looks like
        plain["method"].pop(key)
    yaml.safe_dump(plain, (tmp_path / "config.yaml").open("w"))
    write_status(tmp_path, "running")
    _check_same_config(tmp_path, cfg)  # the same run
    changed = effective_config(compose_checked(CONF, "config", ["method=adam", "method.amsgrad=true", *small]))
    with pytest.raises(ConfigError, match=r"differs in: method.amsgrad\); use another run_dir"):
        _check_same_config(tmp_path, changed)
