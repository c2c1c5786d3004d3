# Every target creates or updates the virtual environment first, so a fresh clone needs only `make demo`
# and `make test`. torch is installed first and pinned (constraints.txt): an unpinned torch pulls CUDA wheels.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: venv demo test lint bench bench-returns clean

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

bench-returns: $(STAMP)  ## learning curve of PPO on MinAtar Breakout, 1M steps
	$(BIN)/python scripts/bench_returns.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
