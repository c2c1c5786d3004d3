"""Train an agent on a curriculum: ``python scripts/train.py agent=ppo env=minatar_demo method=adamo seed=0``.

Any config value can be overridden on the command line; ``-m`` runs a sweep (``seed=0,1,2``). The command line
is checked first (every swept value included): a bad key or value exits with status 2 and one line on stderr,
before anything is imported or written.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from agents.config.cli import check_cli
from agents.config.validation import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf"


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from agents.run.runner import run
    from agents.run.status import RunStateError
    from envs import make_curriculum

    try:
        run(OmegaConf.to_container(cfg, resolve=True), make_env=make_curriculum)
    except (ConfigError, RunStateError) as err:  # found once the run directory is known (in use, damaged, …)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    try:
        check_cli(sys.argv[1:], CONF)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    main()
