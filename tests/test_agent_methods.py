"""Unit and switch methods inside the SB3 agents: they run through SB3's own train(), in place."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agents.training.runner import prepare
from envs import make_curriculum

CONF = Path(__file__).resolve().parents[1] / "conf"
TINY = {
    "ppo": ["agent=ppo", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2"],
    "dqn": ["agent=dqn", "agent.learning_starts=32", "agent.target_update_interval=50", "agent.buffer_size=2000"],
}


def make_run(tmp_path, agent, *overrides, steps_per_task=128):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*TINY[agent], "env=minatar_demo", f"env.steps_per_task={steps_per_task}",
                                           "env.cycles=1", "progress=false", "device=cpu", "metrics.enabled=false",
                                           "eval.enabled=false",
                                           f"run_dir={tmp_path / agent}", *overrides])
    return prepare(OmegaConf.to_container(cfg, resolve=True), make_curriculum)


def params_of(opt):
    return [id(p) for g in opt.param_groups for p in g["params"]]


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
@pytest.mark.parametrize("unit", ["cbp", "redo"])
def test_unit_methods_run_inside_sb3_train_in_place(tmp_path, agent, unit):
    overrides = {"cbp": ["method.units.replacement_rate=0.05", "method.units.maturity_threshold=0"],
                 "redo": ["method.units.interval=5", "method.units.threshold=0.5"]}[unit]
    run = make_run(tmp_path, agent, f"method={unit}", *overrides)
    opt = run.model.policy.optimizer
    ids = params_of(opt)
    run.model.learn(256, callback=run.callback, log_interval=None)
    method = run.method.unit_method
    assert method.num_steps > 0, "the unit method never ran after an optimizer step"
    counts = method.replaced if unit == "cbp" else method.recycled
    assert sum(counts.values()) > 0
    assert params_of(opt) == ids and run.model.policy.optimizer is opt
    heads = set(run.model.policy.head_names())
    assert not heads & set(counts), "an output layer was treated as hidden"


def test_unit_method_layers_choose_part_of_the_network_or_name_the_valid_ones(tmp_path):
    from agents.errors import ConfigError
    run = make_run(tmp_path, "ppo", "method=cbp", "method.units.layers=[features_extractor.linear.0]",
                   "method.units.replacement_rate=0.05", "method.units.maturity_threshold=0")
    run.model.learn(256, callback=run.callback, log_interval=None)
    assert list(run.method.unit_method.replaced) == ["features_extractor.linear.0"]
    with pytest.raises(ConfigError, match=r"method\.units\.layers=\['head'\]: 'head' is not a hidden layer of this "
                                          r"agent's network; valid choices: features_extractor\.cnn\.0, "
                                          r"features_extractor\.linear\.0"):
        make_run(tmp_path, "ppo", "method=redo", "method.units.layers=[head]")


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_reset_all_gives_a_fresh_network_and_a_consistent_target(tmp_path, agent):
    run = make_run(tmp_path, agent, "method=reset_all", steps_per_task=256)  # trained before the switch
    policy = run.model.policy
    opt = policy.optimizer
    ids = params_of(opt)
    seen = {}

    def snapshot(old, new, step):
        seen["params"] = [p.detach().clone() for p in policy.trained_module().parameters()]
        seen["state"] = [bool(opt.state.get(p)) and "exp_avg" in opt.state[p]
                         for p in policy.trained_module().parameters()]

    run.run_logger.switch.on("after", snapshot)  # runs after the method's own switch handler
    run.run_logger.switch.on("observe", lambda old, new, step: seen.update(
        before=[p.detach().clone() for p in policy.trained_module().parameters()]))
    initial = [p.detach().clone() for p in policy.trained_module().parameters()]
    run.model.learn(512, callback=run.callback, log_interval=None)
    assert "params" in seen, "no task switch happened"
    assert params_of(opt) == ids
    assert not any(seen["state"]), "optimizer state survived a full reset"
    for first, trained, reset in zip(initial, seen["before"], seen["params"], strict=True):
        assert not torch.equal(trained, reset), "a trained parameter survived the reset"
        if first.ndim >= 2:
            assert not torch.equal(first, reset), "the reset reused the initial weights instead of a new draw"
    if agent == "dqn":
        for p, t in zip(run.model.q_net.parameters(), run.model.q_net_target.parameters(), strict=True):
            assert torch.equal(p, t) or not torch.equal(t, seen["params"][0])
        assert run.model.q_net_target is run.model.policy.q_net_target


def test_reset_head_touches_only_the_heads(tmp_path):
    run = make_run(tmp_path, "ppo", "method=reset_head")
    run.model.lr_schedule = lambda _: 0.0  # lr 0 (the config refuses it): only the switch moves parameters
    policy = run.model.policy
    names = dict(policy.named_parameters())
    before = {n: p.detach().clone() for n, p in names.items()}
    run.model.learn(256, callback=run.callback, log_interval=None)
    for n, p in names.items():  # lr=0: only the switch moves parameters
        changed = not torch.equal(p, before[n])
        if not n.startswith(("action_net", "value_net")):
            assert not changed, n
        elif n.endswith("weight"):
            assert changed, n  # a new draw (SB3 initializes head biases to 0, so those stay 0)


def test_optimizer_reset_on_switch_composes_with_adamo(tmp_path):
    run = make_run(tmp_path, "ppo", "method=adamo", "method.on_switch.reset_optimizer=true")
    opt = run.model.policy.optimizer
    steps = {}
    run.run_logger.switch.on("after", lambda old, new, step: steps.update(
        after=[opt.state.get(p, {}).get("step") for g in opt.param_groups for p in g["params"]]))
    run.model.learn(256, callback=run.callback, log_interval=None)
    assert steps and all(s is None for s in steps["after"])
    assert all(float(opt.state[p]["step"]) > 0 for g in opt.param_groups for p in g["params"])  # trained again


def test_injection_keeps_predictions_and_the_checkpoint_loads(tmp_path):
    from agents.algorithms.factory import PPO
    run = make_run(tmp_path, "ppo", "method=injection")
    obs = torch.as_tensor(run.env.reset()).float()
    captured = {}

    def before_switch(old, new, step):
        captured["logits"] = run.model.policy.get_distribution(obs).distribution.logits.detach().clone()

    run.run_logger.switch.on("observe", before_switch)  # before the method's handler
    run.run_logger.switch.on("after", lambda old, new, step: captured.update(
        after=run.model.policy.get_distribution(obs).distribution.logits.detach().clone()))
    run.model.learn(256, callback=run.callback, log_interval=None)
    torch.testing.assert_close(captured["after"], captured["logits"], rtol=0, atol=1e-5)
    assert run.model.policy.injections == 1
    run.model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", device="cpu")
    torch.testing.assert_close(loaded.policy.get_distribution(obs).distribution.logits,
                               run.model.policy.get_distribution(obs).distribution.logits)


def test_the_optimizer_is_built_once_with_the_heads_in_their_own_group(tmp_path, monkeypatch):
    from plasticity.optim.regularizing import RegularizerMixin
    built = []
    original = RegularizerMixin._setup_regularizers

    def counting(self, *args, **kwargs):  # every RegularizedAdam runs it once, when it is built
        built.append(self)
        original(self, *args, **kwargs)
    monkeypatch.setattr(RegularizerMixin, "_setup_regularizers", counting)
    run = make_run(tmp_path, "ppo", "method=adamo")
    params = {id(p) for p in run.model.policy.parameters()}
    on_policy = [o for o in built if any(id(p) in params for g in o.param_groups for p in g["params"])]
    assert on_policy == [run.model.policy.optimizer]  # SB3's own optimizer over every parameter is not built
    assert [g["regularize"] for g in run.model.policy.optimizer.param_groups] == [True, False]


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_optimizer_step_hooks_run_unit_method_then_guard_then_metrics(tmp_path, agent):
    """The documented order (agents/training/runner.py): the metrics' update size includes CBP's edits."""
    from agents.run.guard import NonFiniteGuard
    run = make_run(tmp_path, agent, "method=cbp", "metrics.enabled=true")
    guard = NonFiniteGuard(run.model.policy, run.model.policy.optimizer, lambda: run.model.num_timesteps)
    from stable_baselines3.common.callbacks import BaseCallback
    seen = []

    class Hooks(BaseCallback):  # the hooks while training (the metrics remove theirs at the end)
        def _on_step(self) -> bool:
            seen[:] = [type(getattr(h, "__self__", None)).__name__
                       for h in self.model.policy.optimizer._optimizer_step_post_hooks.values()]
            return True

    run.model.learn(64, callback=[run.callback, Hooks()], log_interval=None)
    owners = [o for o in seen if o != "NoneType"]  # the per-entry Adam correction (a closure) follows CBP
    assert owners == ["CBP", "NonFiniteGuard", "PlasticityMetrics"], owners
    guard.remove()
