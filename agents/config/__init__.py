"""Checking a run config before any heavy work: the validation rules and the command-line pre-check."""
