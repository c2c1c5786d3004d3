# Every target creates or updates the virtual environment first, so a fresh clone needs only `make demo`
# and `make test`. torch is installed first and pinned (constraints.txt): an unpinned torch pulls CUDA wheels.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: venv demo test lint bench bench-plasticity bench-returns clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)  ## train PPO on the demo MinAtar curriculum (a few minutes on a laptop CPU)
	$(BIN)/python scripts/train.py $(ARGS)

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)  ## throughput ratios vs vanilla SB3, per method, metrics, envs -> docs/benchmarks.md (~13 min)
	$(BIN)/python scripts/bench.py $(ARGS)

bench-plasticity: $(STAMP)  ## continual supervised benchmark -> docs/plasticity_benchmark.md (minutes)
	$(BIN)/python scripts/bench_plasticity.py $(ARGS)

bench-returns: $(STAMP)  ## learning curve of PPO on MinAtar Breakout, 1M steps
	$(BIN)/python scripts/bench_returns.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
