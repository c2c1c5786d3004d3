"""The benchmark in :mod:`agents.bench.plasticity_suite` (``--help``: what it measures and its options)."""

from agents.bench.plasticity_suite import main

if __name__ == "__main__":
    main()
