"""Every section's defaults in Hydra's ConfigStore, from the typed schema, so the YAML files in ``conf/`` hold only
what a preset changes and every key can be set with ``key=value`` (no ``+``).

==============================  ===========================================================================
node                            from
==============================  ===========================================================================
``run_schema`` (the root)       :class:`agents.training.settings.RunConfig`: seed, device, …, eval, checkpoint, …
``schema/agent/{ppo,dqn}``      :class:`agents.algorithms.settings.PPOConfig`, ``DQNConfig``
``schema/env/{minatar,ale,…}``  ``envs.spec``'s curricula (the kind's options ``null``: the env's defaults)
``schema/method/<optimizer>``   :class:`agents.methods.MethodConfig` and the optimizer's options with its
                                constructor's defaults (:mod:`plasticity.registry`); ``eps`` is the agent's
                                ``adam_eps``; ``seed`` is left out (the run's seed is used)
``schema/units/<unit method>``  the unit method's options with its constructor's defaults (``seed`` left out)
==============================  ===========================================================================

``conf/agent/ppo.yaml`` is then ``defaults: [/schema/agent/ppo@_here_, _self_]`` plus any changed value, and a
method config picks its optimizer's node (``/schema/method/adamo@_here_``) and, for a unit method,
``/schema/units/cbp@units``. :func:`register` runs before any composition (the command line, the Python API, the
tests); it is idempotent.
"""

from __future__ import annotations

import inspect
from typing import Any

_registered = False
SEEDED = ("seed",)  # options the run sets from its own seed


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def library_defaults(name: str) -> dict[str, Any]:
    """The options of a registry method with their constructor defaults (the seeded ones left out)."""
    from plasticity import registry
    return {k: _plain(o.default) for k, o in registry.spec(name).options().items()
            if k not in SEEDED and o.default is not inspect.Parameter.empty}


def nodes() -> dict[tuple[str | None, str], dict[str, Any]]:
    """``(group, name) → node`` of every schema node (see the module docstring)."""
    from agents.algorithms.settings import DQNConfig, PPOConfig
    from agents.methods import MethodConfig
    from agents.settings import defaults
    from agents.training.settings import RunConfig
    from envs.spec import KINDS
    from plasticity import registry
    out: dict[tuple[str | None, str], dict[str, Any]] = {
        (None, "run_schema"): defaults(RunConfig, exclude=("agent", "env", "method", "run_dir")),
        ("schema/agent", "ppo"): defaults(PPOConfig),
        ("schema/agent", "dqn"): defaults(DQNConfig),
    }
    for kind, model in KINDS.items():
        out[("schema/env", kind)] = {**defaults(model), "kind": kind}
    meta = defaults(MethodConfig)
    for name in registry.OPTIMIZERS:
        out[("schema/method", name)] = {**meta, "optimizer": name, **library_defaults(name),
                                        "eps": "${agent.adam_eps}"}
    for name in registry.UNIT_METHODS:
        out[("schema/units", name)] = {"name": name, **library_defaults(name)}
    return out


def register() -> None:
    """Put the schema nodes in Hydra's ConfigStore (once per process)."""
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore
    store = ConfigStore.instance()
    for (group, name), node in nodes().items():
        store.store(name=name, group=group, node=node)
    _registered = True
