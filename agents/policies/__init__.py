"""SB3 policies with what plasticity methods need, their networks, and the categorical arithmetic of PPO.

``agents.policies.PlasticActorCriticPolicy`` and ``agents.policies.PlasticDQNPolicy`` (docs/methods.md) are
imported on first use, so importing a submodule (the networks, the Gaussian arithmetic) does not import SB3's
policies.
"""

from typing import Any

__all__ = ["PlasticActorCriticPolicy", "PlasticDQNPolicy"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from agents.policies import plastic
        return getattr(plastic, name)
    raise AttributeError(f"module 'agents.policies' has no attribute {name!r}")
