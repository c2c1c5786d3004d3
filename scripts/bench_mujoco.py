"""The benchmark in :mod:`agents.bench.mujoco` (``--help``: what it measures and its options)."""

from agents.bench.mujoco import main

if __name__ == "__main__":
    main()
