# The two commands in the README are `make demo` and `make test`; everything else serves them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test

.PHONY: setup models demo test lint bench clean

setup: $(VENV)/.installed-$(EXTRAS)

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel "setuptools>=69"
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

# The demo's models: SmolLM2 (tests), Qwen 0.5B (default small tier), Qwen 1.5B (large tier).
models: setup
	$(BIN)/smallfirst pull smollm2-135m
	$(BIN)/smallfirst pull qwen2.5-coder-0.5b
	$(BIN)/smallfirst pull qwen2.5-coder-1.5b

demo: models
	$(BIN)/smallfirst demo

test: setup
	$(BIN)/smallfirst pull smollm2-135m
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

bench: models
	$(BIN)/python benchmarks/local_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
