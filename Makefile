# Every target creates or updates the virtual environment first, so a fresh clone needs only `make demo`
# and `make test`. torch is installed first and pinned (constraints.txt): an unpinned torch pulls CUDA wheels.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: venv demo test test-benchmarks lint bench bench-gpu gpu-wheels bench-plasticity bench-returns clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[rl,dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)  ## train PPO on the demo MinAtar curriculum (a few minutes on a laptop CPU)
	$(BIN)/python scripts/train.py $(ARGS)

test: $(STAMP)  ## the whole test suite, one worker per CPU core (pytest-xdist)
	$(BIN)/python -m pytest -q -n auto --dist loadgroup $(ARGS)

test-benchmarks: $(STAMP)  ## the verdicts of real training the default run leaves out (minutes)
	$(BIN)/python -m pytest -q -n auto -m benchmark $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)  ## throughput ratios vs vanilla SB3, per method, metrics, envs -> docs/benchmarks.md (~13 min)
	$(BIN)/python scripts/bench.py $(ARGS)

# On a CUDA machine that has torch but no package index (docs/scaling.md): `make gpu-wheels` here first, carry .whl/.
GPU_PYTHON ?= python3
OUT ?= .
GPU_WHEELS := stable-baselines3==2.9.2 gymnasium==1.4.0 farama-notifications==0.0.4 minatar==1.0.15 \
	hydra-core==1.3.8 omegaconf==2.3.0

bench-gpu:  ## on a CUDA machine: the CUDA tests, then the GPU benchmark -> $(OUT)/bench_gpu.md (≈ 5 min on an H100)
	if ls .whl/*.whl >/dev/null 2>&1; then $(GPU_PYTHON) -m pip install -q --no-index --no-deps --no-compile \
		--no-cache-dir --upgrade --target /tmp/site .whl/*.whl; fi; \
	export PYTHONPATH=/tmp/site:$$PWD:$$PYTHONPATH; \
	$(GPU_PYTHON) -m pytest -q -p no:cacheprovider --continue-on-collection-errors -k cuda tests/ 2>&1 \
		| tee $(OUT)/cuda_tests.txt; \
	$(GPU_PYTHON) scripts/bench_gpu.py --out $(OUT)/bench_gpu.md

gpu-wheels:  ## download the pure-Python packages bench-gpu needs into .whl/ (for a machine without an index)
	mkdir -p .whl && $(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp -d .whl $(GPU_WHEELS)
	$(PYTHON) -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3  # hydra's parser: no wheel on PyPI

bench-plasticity: $(STAMP)  ## continual supervised benchmark -> docs/plasticity_benchmark.md (minutes)
	$(BIN)/python scripts/bench_plasticity.py $(ARGS)

bench-returns: $(STAMP)  ## learning curve of PPO on MinAtar Breakout, 1M steps
	$(BIN)/python scripts/bench_returns.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
