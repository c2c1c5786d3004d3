"""The run loop and its files: building a run, checkpoints and exact resume, status, logs, console, summary, the
non-finite guard."""
