"""The benchmark in :mod:`agents.bench.suite` (``--help``: what it measures and its options)."""

from agents.bench.suite import main

if __name__ == "__main__":
    main()
