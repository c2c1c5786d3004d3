"""The benchmark in :mod:`agents.bench.gpu` (``--help``: what it measures and its options)."""

from agents.bench.gpu import main

if __name__ == "__main__":
    raise SystemExit(main())
