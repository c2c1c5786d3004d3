"""The benchmark in :mod:`agents.bench.versus_sb3` (``--help``: what it measures and its options)."""

from agents.bench.versus_sb3 import main

if __name__ == "__main__":
    main()
