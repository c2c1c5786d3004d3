"""Every option of every config group composes, resolves and builds its objects."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agents.methods import build_method
from envs import make_curriculum

CONF = Path(__file__).resolve().parents[1] / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_resolved(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "run_dir=/tmp/unused"])
    return OmegaConf.to_container(cfg, resolve=True)


def test_groups_have_the_required_options():
    assert {"ppo", "dqn"} <= set(options("agent"))
    assert {"adam"} <= set(options("method"))
    assert {"breakout", "minatar_switch", "minatar_demo"} <= set(options("env"))


@pytest.mark.parametrize("agent", options("agent"))
@pytest.mark.parametrize("method", options("method"))
def test_agent_method_combinations_compose(agent, method):
    cfg = compose_resolved(f"agent={agent}", f"method={method}")
    assert cfg["agent"]["name"] == agent and cfg["method"]["name"] == method
    assert cfg["method"]["eps"] == cfg["agent"]["adam_eps"]  # interpolated from the agent
    build_method(cfg["method"])


@pytest.mark.parametrize("env", options("env"))
def test_every_env_option_composes_and_builds(env):
    cfg = compose_resolved(f"env={env}")
    assert cfg["env"]["name"] == env
    venv = make_curriculum(cfg["env"], num_envs=2, seed=0)
    visits = len(cfg["env"]["tasks"]) * cfg["env"]["cycles"]
    if cfg["env"].get("frictions"):  # Slippery Ant: one task per friction of the seed's table row
        visits = cfg["env"]["frictions"]["changes"] * cfg["env"]["cycles"]
    assert venv.total_steps == cfg["env"]["steps_per_task"] * visits


def test_cli_overrides_reach_every_level():
    cfg = compose_resolved("agent=dqn", "env=breakout", "seed=7", "device=cpu", "total_timesteps=123",
                           "agent.batch_size=64", "env.steps_per_task=999", "method.betas=[0.99,0.99]")
    assert (cfg["seed"], cfg["device"], cfg["total_timesteps"]) == (7, "cpu", 123)
    assert cfg["agent"]["batch_size"] == 64 and cfg["env"]["steps_per_task"] == 999
    assert cfg["method"]["betas"] == [0.99, 0.99]


def test_defaults_are_the_demo():
    cfg = compose_resolved()
    assert (cfg["agent"]["name"], cfg["env"]["name"]) == ("ppo", "minatar_demo")
    assert len(set(cfg["env"]["tasks"])) >= 2

