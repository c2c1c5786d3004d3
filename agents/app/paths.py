"""Where the Hydra configs are: a clone or editable install reads ``conf/`` beside the packages; a wheel install
reads the copy pyproject installs under ``<prefix>/share/plasticity-rl/conf``; ``PLASTICITY_RL_CONF`` overrides both
(a directory of your own configs with the same layout)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agents.errors import ConfigError

ENV_VAR = "PLASTICITY_RL_CONF"


def config_dir() -> Path:
    """The config directory (holding ``config.yaml``); a one-line :class:`ConfigError` if there is none."""
    given = os.environ.get(ENV_VAR)
    if given:
        if not (Path(given) / "config.yaml").is_file():
            raise ConfigError(ENV_VAR, given, "must be a directory holding config.yaml (and agent/, env/, method/ …)")
        return Path(given).resolve()
    candidates = (Path(__file__).resolve().parents[2] / "conf", Path(sys.prefix) / "share" / "plasticity-rl" / "conf")
    for path in candidates:
        if (path / "config.yaml").is_file():
            return path
    raise ConfigError(ENV_VAR, None, "no config directory found (looked in " + ", ".join(map(str, candidates)) +
                      "); reinstall plasticity-rl or point this variable at a conf/ directory")
