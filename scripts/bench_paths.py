"""The benchmark in :mod:`agents.bench.paths` (``--help``: what it measures and its options)."""

from agents.bench.paths import main

if __name__ == "__main__":
    main()
