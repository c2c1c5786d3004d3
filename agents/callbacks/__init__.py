"""SB3 callbacks every run installs: run logs and task switches, evaluation on every task, plasticity metrics."""
