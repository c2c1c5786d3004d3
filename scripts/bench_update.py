"""The benchmark in :mod:`agents.bench.update` (``--help``: what it measures and its options)."""

from agents.bench.update import main

if __name__ == "__main__":
    main()
