"""The benchmark in :mod:`agents.bench.returns` (``--help``: what it measures and its options)."""

from agents.bench.returns import main

if __name__ == "__main__":
    main()
