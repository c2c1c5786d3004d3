"""Train an agent on a curriculum: ``python scripts/train.py agent=ppo env=minatar_demo method=adamo seed=0``.

Any config value can be overridden on the command line; ``-m`` runs a sweep (``seed=0,1,2``). The command line
is checked first (every swept value included): a bad key or value exits with status 2 and one line on stderr,
before anything is imported or written. The same command is installed as ``plasticity-rl train`` and callable
from Python as ``agents.train([...])`` (agents/app/train.py).
"""

from agents.app.train import main

if __name__ == "__main__":
    main()
