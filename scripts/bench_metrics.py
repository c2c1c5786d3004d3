"""The benchmark in :mod:`agents.bench.metrics_cost` (``--help``: what it measures and its options)."""

from agents.bench.metrics_cost import main

if __name__ == "__main__":
    main()
