"""The benchmark in :mod:`agents.bench.env_speed` (``--help``: what it measures and its options)."""

from agents.bench.env_speed import main

if __name__ == "__main__":
    main()
