"""The base of every typed config section of ``agents``, each declared beside the code it configures:
``agents/training/settings.py`` (the run), ``agents/run/settings.py`` (checkpoint, W&B),
``agents/callbacks/settings.py`` (eval, metrics), ``agents/algorithms/settings.py`` (PPO, DQN),
``agents/policies/settings.py`` (the network), ``agents/methods.py`` (the method).

Sections are pydantic models: an unknown key, a value of the wrong type (no silent casts: ``"abc"`` is not a
bool, ``1.5`` not an integer), NaN, ±inf and an out-of-range value are refused by the schema itself, and each
default is stated once, in the field. Pydantic rather than Hydra's structured configs: it checks ranges and
discriminated unions (PPO or DQN, MinAtar, ALE or CartPole curricula) declaratively, and its errors carry the path
of the bad key, which :func:`agents.config.validation.effective_config` turns into one line. Hydra still composes
the YAML: :mod:`agents.config.store` registers every section's defaults in its ConfigStore, so every key exists
for ``key=value`` overrides and the YAML files hold only what a preset changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: unknown keys, values of the wrong type, NaN and ±inf are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_default=True)


def defaults(model: type[BaseModel], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The section's defaults as plain data (nested sections included; a required field is ``???``, Hydra's
    missing value, for a preset to fill)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in exclude:
            continue
        if field.is_required():
            out[name] = "???"
            continue
        value = field.get_default(call_default_factory=True)
        out[name] = value.model_dump(mode="json") if isinstance(value, BaseModel) else (
            list(value) if isinstance(value, tuple) else value)
    return out
