"""Every method runs in SB3 PPO and DQN from Hydra, and the agent's optimizer is the method's."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from agents.algorithms.factory import DQN, PPO
from agents.methods import build_method
from agents.run.logs import read_csv
from plasticity import registry
from plasticity.optim import RegularizedAdam

CONF = Path(__file__).resolve().parents[1] / "conf"
METHODS = sorted(p.stem for p in (CONF / "method").glob("*.yaml"))
# What an agent changes is how a method acts on the network (unit methods, switch-time resets) and, for an
# optimizer, nothing but the parameters it is given: DQN trains those methods and one regularized optimizer.
ACTS_ON_THE_NETWORK = sorted(p.stem for p in (CONF / "method").glob("*.yaml")
                             if {"units", "on_switch"} & set(OmegaConf.load(p))
                             or any(str(d).endswith("@units") for d in OmegaConf.load(p).get("defaults", [])))
BY_AGENT = {"ppo": METHODS, "dqn": [*ACTS_ON_THE_NETWORK, "adamo", "l2_init"]}
TINY = {
    "ppo": ["agent=ppo", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2",
            "total_timesteps=256"],
    "dqn": ["agent=dqn", "agent.learning_starts=64", "agent.buffer_size=2000", "total_timesteps=200"],
}


def _method_cfg(name: str) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"method={name}", "run_dir=/tmp/unused"])
    return OmegaConf.to_container(cfg, resolve=True)["method"]


def test_every_issue_3_method_has_a_config():
    assert set(registry.OPTIMIZERS) <= set(METHODS)
    assert {"adamo", "iso_adam", "l2", "l2_init", "spectral", "wasserstein", "shrink_perturb", "adam_equal_betas",
            "adam", "adamw"} <= set(METHODS)
    assert {"cbp", "redo", "reset_head", "reset_all", "shrink_perturb_switch", "injection"} <= set(METHODS)


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_every_method_trains_ppo_and_dqn_from_hydra(tmp_path, agent):
    from agents import sweep
    assert len(ACTS_ON_THE_NETWORK) >= 7  # cbp, cbp_dohare_ppo, redo, injection, reset_head, reset_all, …
    result = sweep([f"method={','.join(BY_AGENT[agent])}", *TINY[agent], "progress=false", "env=minatar_demo",
                    "metrics.enabled=false", "eval.enabled=false", "env.steps_per_task=128",
                    f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=${method.name}"])
    assert [r.status for r in result.runs] == ["completed"] * len(BY_AGENT[agent])
    cls = {"ppo": PPO, "dqn": DQN}[agent]
    for method in BY_AGENT[agent]:
        run = tmp_path / method
        assert read_csv(run / "metrics.csv"), method
        model = cls.load(run / "checkpoints" / "final.zip", device="cpu")
        opt = model.policy.optimizer
        assert type(opt) is registry.spec(_method_cfg(method)["optimizer"]).cls
        assert [g["regularize"] for g in opt.param_groups][:2] == [True, False]
        assert all(torch.isfinite(p).all() for p in model.policy.parameters())
        assert opt.state_dict()["state"], f"{method}: optimizer state was not saved"


def test_method_overrides_reach_the_optimizer():
    method = build_method({"name": "adamo", "optimizer": "adamo", "coef": 0.05, "betas": [0.9, 0.99],
                           "eps": 1e-5, "regularize_heads": True})
    assert method.optimizer_kwargs == {"coef": 0.05, "betas": (0.9, 0.99), "eps": 1e-5}
    assert method.regularize_heads


@pytest.mark.parametrize("cfg, message", [
    ({"name": "x", "optimizer": "sgd"}, "method.optimizer='sgd': valid choices: adam, adamw, adamo"),
    ({"name": "x", "optimizer": "adam", "coef": 1.0}, "method.coef=1.0: unknown option of 'adam'; valid options"),
    ({"name": "x", "optimizer": "spectral", "k": 2}, "method.k=2: unknown option of 'spectral'"),
    ({"name": "x", "optimizer": "adam", "lr": 0.01},
     "method.lr=0.01: the learning rate is the agent's: set agent.learning_rate"),
    ({"name": "x", "optimizer": "adam", "amsgrad": "maybe"}, "method.amsgrad='maybe': must be true or false"),
    ({"name": "x", "optimizer": "adam", "fused": "abc"}, "method.fused='abc': must be true or false or null"),
    ({"name": "x", "optimizer": "adam", "betas": [1.5, 0.9]}, r"method.betas=\[1.5, 0.9\]: Invalid beta"),
    ({"name": "x", "optimizer": "adam", "units": {"name": "cbp", "replacement_rate": 2}},
     r"method.units.replacement_rate=2: must be in \[0, 1\] \(CBP\)"),
])
def test_bad_method_configs_fail_clearly(cfg, message):
    with pytest.raises(ValueError, match=message):
        build_method(cfg)


def test_sb3_learning_rate_schedule_drives_the_isometry_step():
    """SB3 rewrites group["lr"] before each update; the decoupled step must use it."""
    from stable_baselines3.common.utils import update_learning_rate

    from plasticity.regularizers import Isometry
    w = torch.nn.Parameter(torch.randn(6, 4, dtype=torch.float64))
    opt = registry.spec("adamo").cls([w], lr=1.0, coef=0.1)
    assert isinstance(opt, RegularizedAdam)
    for lr in (1e-3, 1e-2):
        update_learning_rate(opt, lr)
        before = w.detach().clone()
        w.grad = torch.zeros_like(w)
        opt.step()
        torch.testing.assert_close(before - w.detach(), lr * 0.1 * Isometry(1.0).grad(before, {}), rtol=1e-10,
                                   atol=1e-14)


def test_the_documented_policy_import_paths_work():
    """docs/methods.md names ``agents.policies.PlasticActorCriticPolicy`` (issue 31: it raised ImportError)."""
    from agents.policies import PlasticActorCriticPolicy, PlasticDQNPolicy
    from agents.policies.plastic import PlasticActorCriticPolicy as Actor
    from agents.policies.plastic import PlasticDQNPolicy as Q
    assert (PlasticActorCriticPolicy, PlasticDQNPolicy) == (Actor, Q)
    with pytest.raises(ImportError, match="Nope"):
        from agents.policies import Nope  # noqa: F401
