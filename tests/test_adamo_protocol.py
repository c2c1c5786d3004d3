"""The AdamO protocol against the authors' code (issue 28): L2-Init's anchor, every arm's coefficients, the seeds.

Each test failed on the main of 2026-12-04. The authors' values come from bordeauxred/rejax
(``scripts/bench_continual.py``: ``mlp_baseline_small``, ``mlp_adamo_small``, ``mlp_adamo_relu_small``,
``mlp_l2_init_small4``; ``src/rejax/regularization.py``: ``compute_l2_init_loss``, ``apply_ortho_update``).
"""

from collections import Counter
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

import plasticity as P
from plasticity.optim import L2InitAdam

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))


def _train(net: nn.Module, opt: torch.optim.Optimizer, steps: int = 20) -> None:
    x = torch.randn(32, 5, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()


# -- 1. L2-Init keeps θ₀ = the first initialization through Adam resets ---------------------------------------------
def test_l2_init_anchor_survives_an_optimizer_reset_and_pulls_at_the_first_step_after_it():
    net, lam, lr = _net(), 0.1, 1e-2
    theta0 = [p.detach().clone() for p in net.parameters()]
    opt = L2InitAdam(net.parameters(), lr=lr, coef=lam)
    _train(net, opt)
    P.reset_optimizer_state(opt)  # the AdamO protocol's switch
    for p, p0 in zip(net.parameters(), theta0, strict=True):
        torch.testing.assert_close(opt.regularizer_state(p)["l2init_init"], p0, rtol=0, atol=0)
        assert float((p.detach() - p0).abs().max()) > 1e-3  # trained away from θ₀
        # the coupled pull on a zero task gradient is exactly 2λ(θ − θ₀)
        pull = opt._coupled_grad(opt.param_groups[0], p, torch.zeros_like(p))
        torch.testing.assert_close(pull, 2 * lam * (p.detach() - p0))
    # first step after the reset, no task gradient: Adam's fresh moments turn 2λ(θ − θ₀) into lr·sign toward θ₀
    before = [p.detach().clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for p, b, p0 in zip(net.parameters(), before, theta0, strict=True):
        moved, toward = p.detach() - b, (p0 - b).sign()
        far = (b - p0).abs() > 1e-4  # where the pull is well above Adam's ε
        torch.testing.assert_close(moved[far], lr * toward[far], rtol=1e-3, atol=1e-6)


def test_l2_init_re_anchors_rewritten_parameters_but_not_on_a_moments_reset():
    net = _net()
    opt = L2InitAdam(net.parameters(), lr=1e-2, coef=0.1)
    _train(net, opt)
    weight = net[0].weight
    fresh = torch.randn_like(weight)
    P.reset_parameters([weight], [fresh], opt)  # a re-initialization: the new init is the anchor
    torch.testing.assert_close(opt.regularizer_state(weight)["l2init_init"], fresh, rtol=0, atol=0)


def test_l2_init_weights_only_pulls_matrices_and_leaves_biases_alone():
    net = _net()
    theta0 = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt = L2InitAdam(net.parameters(), lr=1e-2, coef=0.1, weights_only=True)
    assert all("l2init_init" not in opt.regularizer_state(p) for n, p in net.named_parameters() if n.endswith("bias"))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    for n, p in net.named_parameters():
        pull = opt._coupled_grad(opt.param_groups[0], p, torch.zeros_like(p))
        expected = torch.zeros_like(p) if n.endswith("bias") else 2 * 0.1 * (p.detach() - theta0[n])
        torch.testing.assert_close(pull, expected)
    expected_penalty = 0.1 * sum(float((p.detach() - theta0[n]).square().sum()) for n, p in net.named_parameters()
                                 if p.ndim >= 2)
    assert float(opt.penalty()) == pytest.approx(expected_penalty, rel=1e-5)
    with pytest.raises(TypeError, match="weights_only='yes' must be a bool"):
        P.L2Init(0.1, weights_only="yes")


def test_the_agents_l2_init_anchor_is_the_first_initialization_after_every_switch(tmp_path):
    from hydra import compose, initialize_config_dir

    from agents.training.runner import prepare
    from envs import make_curriculum
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[
            "experiment=adamo_paper_small", "method=l2_init", "agent.n_envs=4", "agent.n_steps=32",
            "agent.batch_size=64", "agent.n_epochs=1", "env.steps_per_task=256", "env.cycles=1", "progress=false",
            "device=cpu", "metrics.enabled=false", "eval.enabled=false", f"run_dir={tmp_path}"])
    from agents.config.validation import with_arm
    run = prepare(with_arm(OmegaConf.to_container(cfg, resolve=True)), make_curriculum)
    opt = run.model.policy.optimizer
    module = run.model.policy.trained_module()
    theta0 = {n: p.detach().clone() for n, p in module.named_parameters()}
    switches = []
    run.run_logger.switch.on("after", lambda old, new, step: switches.append(step))
    run.model.learn(1024, callback=run.callback, log_interval=None)
    assert len(switches) >= 3
    anchored = 0
    for n, p in module.named_parameters():
        state = opt.regularizer_state(p)
        if "l2init_init" in state:
            torch.testing.assert_close(state["l2init_init"], theta0[n], rtol=0, atol=0)
            assert p.ndim >= 2, f"{n}: the authors pull Dense kernels only"
            anchored += 1
    hidden = [n for n, p in module.named_parameters() if p.ndim >= 2 and not any(
        n.startswith(h) for h in run.model.policy.head_names())]
    assert anchored == len(hidden) > 0  # every hidden kernel, no head


# -- 2. every arm of every preset carries its coefficients: the authors' table -------------------------------------
# (preset, arm) -> the method and network settings that arm must run with.
AUTHORS = {
    "adam": {"optimizer": "adam", "activation": "relu", "bias": True},
    "adamo_groupsort": {"optimizer": "adamo", "coef": 0.05, "target_scale": "auto", "activation": "groupsort",
                        "bias": False},  # their ortho_coeff 0.1 in ½‖·‖²
    "adamo_nobias": {"optimizer": "adamo", "coef": 0.05, "target_scale": "auto", "activation": "relu", "bias": False},
    "l2_init": {"optimizer": "l2_init", "coef": 1e-3, "weights_only": True, "activation": "relu", "bias": True},
    "cbp": {"units": {"name": "cbp", "replacement_rate": 1e-4, "maturity_threshold": 1000, "decay_rate": 0.99}},
    "reset_all": {"optimizer": "adam", "on_switch": {"reset": "all"}},
}
EXPECTED = {
    "adamo_paper": AUTHORS, "adamo_paper_small": AUTHORS,
    "cchain_dqn": {"adam": {"optimizer": "adam"}, "adamo": {"optimizer": "adamo", "coef": 1e-2},
                   "cbp": {"units": {"name": "cbp", "replacement_rate": 1e-5, "maturity_threshold": 10000}},
                   "reset_all": {"on_switch": {"reset": "all"}}},
    "cchain_dqn_small": {"adam": {"optimizer": "adam"}, "adamo": {"optimizer": "adamo", "coef": 1e-2},
                         "cbp": {"units": {"name": "cbp", "replacement_rate": 1e-5, "maturity_threshold": 5000}},
                         "reset_all": {"on_switch": {"reset": "all"}}},
    "dohare_ppo": {"adam": {"optimizer": "adam", "betas": [0.9, 0.999]},
                   "adam_equal_betas": {"betas": [0.99, 0.99]},
                   "l2": {"optimizer": "l2", "betas": [0.99, 0.99], "coef": 1e-3},
                   "cbp": {"betas": [0.99, 0.99], "weight_decay": 1e-4,
                           "units": {"replacement_rate": 1e-4, "maturity_threshold": 10000, "decay_rate": 0.99}}},
}
EXPECTED["dohare_ppo_small"] = {**EXPECTED["dohare_ppo"], "reset_all": {"on_switch": {"reset": "all"}}}
EXPECTED["dohare_ppo_small"]["cbp"] = {**EXPECTED["dohare_ppo"]["cbp"],
                                       "units": {"replacement_rate": 1e-4, "maturity_threshold": 1000}}
# Method options that are coefficients: an arm that has one must set it in the preset, not inherit a default.
COEFFICIENTS = ("coef", "weights_only")
UNIT_COEFFICIENTS = ("replacement_rate", "maturity_threshold")


def _arm(preset: str, method: str) -> dict:
    from agents.config.cli import compose_checked
    from agents.config.validation import with_arm
    return with_arm(compose_checked(CONF, "config", [f"experiment={preset}", f"method={method}"]))


def _sweep(preset: str, key: str) -> list[str]:
    return str(OmegaConf.load(CONF / "experiment" / f"{preset}.yaml").hydra.sweeper.params[key]).split(",")


def _subset(actual: dict, expected: dict, where: str) -> None:
    for key, value in expected.items():
        assert key in actual, f"{where}.{key} missing"
        if isinstance(value, dict):
            _subset(actual[key], value, f"{where}.{key}")
        else:
            assert actual[key] == (pytest.approx(value) if isinstance(value, float) else value), f"{where}.{key}"


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_every_arm_of_every_preset_runs_with_the_reference_coefficients(preset):
    arms = _sweep(preset, "method")
    assert sorted(arms) == sorted(EXPECTED[preset]), "the table must cover every arm of the preset"
    declared = OmegaConf.to_container(OmegaConf.load(CONF / "experiment" / f"{preset}.yaml")).get("arms", {})
    for arm in arms:
        cfg = _arm(preset, arm)
        want = dict(EXPECTED[preset][arm])
        net = {k: want.pop(k) for k in ("activation", "bias") if k in want}
        _subset(cfg["method"], want, f"{preset}:{arm}: method")
        _subset(cfg["agent"]["network"], net, f"{preset}:{arm}: agent.network")
        # explicit: a coefficient the arm runs with is written in the preset's arms, not a method default
        method = cfg["method"]
        for key in COEFFICIENTS:
            if key in method and arm not in ("reset_all",):
                assert key in declared.get(arm, {}), f"{preset}: arms.{arm}.{key} is not set explicitly"
        for key in UNIT_COEFFICIENTS:
            if (method.get("units") or {}).get(key) is not None:
                assert key in (declared.get(arm, {}).get("units") or {}), \
                    f"{preset}: arms.{arm}.units.{key} is not set explicitly"


# -- 3. the full preset's seeds: each game comes first in cycle 0 equally often -------------------------------------
def test_adamo_paper_seeds_put_each_game_first_twice_with_our_order_rng():
    from envs.curriculum import Schedule
    cfg = _arm("adamo_paper", "adam")
    games = [t if isinstance(t, str) else t["game"] for t in cfg["env"]["tasks"]]
    seeds = [int(s) for s in _sweep("adamo_paper", "seed")]
    first = Counter(games[Schedule(1, cycles=1, order="random", seed=s).visits(len(games))[0].task_id]
                    for s in seeds)
    assert sorted(first) == sorted(games) and set(first.values()) == {len(seeds) // len(games)}, first


def test_status_json_names_the_code_that_wrote_the_run(tmp_path):
    import subprocess

    from agents.run.status import read_status, write_status
    write_status(tmp_path, "running", step=0)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    code = read_status(tmp_path)["code"]
    assert code.removesuffix("+dirty") == head and len(head) == 40


# -- 4. PPO-loss parity options (rejax's update_actor / update_critic / GAE), off by default ------------------------
def _ppo(**options):
    from agents.algorithms.factory import make_ppo
    from agents.algorithms.vec_env import GymnasiumVecEnv
    from agents.methods import build_method
    from envs import make_curriculum
    env = GymnasiumVecEnv(make_curriculum({"tasks": ["breakout"], "steps_per_task": 10**6, "max_episode_steps": 7,
                                           "sticky_action_prob": 0.0}, 4, 0))
    from agents.algorithms.settings import PPOConfig
    cfg = PPOConfig(n_envs=4, n_steps=16, batch_size=64, n_epochs=1, ent_coef=0.0, max_grad_norm=1e-3,
                    fused_optimizer=False, network={"type": "mlp", "hidden": [16, 16], "separate": True}, **options)
    model = make_ppo(cfg, env, build_method({"name": "adam", "optimizer": "adam"}), 64, seed=0, device="cpu")
    model.lr_schedule = lambda _: 0.0  # parameters unchanged by the update: the loss is read on the same weights
    return model


def _learn_once(model, perturb_critic: float = 0.0):
    """One rollout and one update with lr 0 (parameters unchanged); the critic is moved between the two so that
    V differs from V_old, as after earlier minibatches."""
    train = model.train

    def perturbed_train():
        with torch.no_grad():
            for p in model.policy.mlp_extractor.value_net.parameters():
                p.add_(perturb_critic * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
        train()
    model.train = perturbed_train
    model.learn(64)
    data = next(model.rollout_buffer.get(64))
    values, _, _ = model.policy.evaluate_actions(data.observations, data.actions.long().flatten())
    return data, values.flatten().detach()


@pytest.mark.parametrize("half", [False, True])
def test_value_clip_is_the_larger_of_the_unclipped_and_the_clipped_error(half):
    model = _ppo(value_clip=0.2, value_loss_half=half)
    data, values = _learn_once(model, perturb_critic=0.5)
    clipped = data.old_values + (values - data.old_values).clamp(-0.2, 0.2)
    assert float((values - data.old_values).abs().max()) > 0.2  # the clip is active somewhere
    expected = torch.maximum((values - data.returns).square(), (clipped - data.returns).square()).mean()
    expected = 0.5 * expected if half else expected
    assert model.logger.name_to_value["train/value_loss"] == pytest.approx(float(expected), rel=1e-5)
    default = _ppo()
    data, values = _learn_once(default, perturb_critic=0.5)
    assert default.logger.name_to_value["train/value_loss"] == pytest.approx(
        float((values - data.returns).square().mean()), rel=1e-5)  # SB3: vf_coef·MSE, no clip


def test_per_network_clipping_clips_the_actor_and_the_critic_each_to_max_grad_norm():
    def norms(model):
        actor, critic = model.clip_groups() if model.grad_clip_per_network else _split(model)
        return [float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in g]))) for g in (actor, critic)]

    def _split(model):
        model.grad_clip_per_network = True
        groups = model.clip_groups()
        model.grad_clip_per_network = False
        return groups

    per = _ppo(grad_clip_per_network=True)
    _learn_once(per)
    assert norms(per) == pytest.approx([1e-3, 1e-3], rel=1e-4)  # each network at the bound
    joint = _ppo()
    _learn_once(joint)
    a, c = norms(joint)
    assert (a**2 + c**2) ** 0.5 == pytest.approx(1e-3, rel=1e-4) and min(a, c) < 0.9e-3  # SB3: the joint norm


def test_truncation_as_terminal_leaves_capped_episodes_unbootstrapped():
    default, terminal = _ppo(), _ppo(truncation_as_terminal=True)
    default.learn(64)
    terminal.learn(64)
    rewards_default, rewards_terminal = default.rollout_buffer.rewards, terminal.rollout_buffer.rewards
    assert (rewards_terminal == rewards_terminal.round()).all()  # MinAtar's integer rewards, nothing added
    bootstrapped = rewards_default != rewards_default.round()
    assert bootstrapped.any()  # an episode cut at its 7-step cap got r + γ·V(s_final)
    assert (rewards_default[~bootstrapped] == rewards_terminal[~bootstrapped]).all()


def test_the_parity_options_are_checked_up_front():
    from agents.config.cli import compose_checked
    from agents.config.validation import validate
    from agents.errors import ConfigError
    base = compose_checked(CONF, "config", ["agent=ppo"])
    for key, value, message in (("value_clip", -1, "agent.value_clip=-1"), ("value_loss_half", "yes", "true or false"),
                                ("grad_clip_per_network", True, "needs separate actor and critic networks")):
        bad = {**base, "agent": {**base["agent"], key: value}}
        with pytest.raises(ConfigError, match=message):
            validate(bad)
