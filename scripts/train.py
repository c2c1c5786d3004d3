"""Train an agent on a curriculum: ``python scripts/train.py agent=ppo env=minatar_demo method=adam seed=0``.

Any config value can be overridden on the command line; ``-m`` runs a sweep (``seed=0,1,2``).
"""

import hydra
from omegaconf import DictConfig, OmegaConf

from agents.runner import train
from envs import make_curriculum


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    train(OmegaConf.to_container(cfg, resolve=True), make_env=make_curriculum)


if __name__ == "__main__":
    main()
