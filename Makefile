# `make test` and `make demo` work from a clean clone: they create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_USAGE_STATS_ENABLED := 0
export MLFLOW_DISABLE_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv data test lint demo bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

data:
	bash scripts/ensure_fashion_mnist.sh

# ruff, and the layering contract of pyproject.toml [tool.importlinter] (import-linter)
lint: $(STAMP)
	$(BIN)/ruff check samtrain sweeps tests benchmarks examples
	$(BIN)/lint-imports --no-cache

test: lint data
	$(BIN)/python -m pytest -q --doctest-modules tests samtrain sweeps examples

demo: $(STAMP) data
	bash scripts/demo.sh

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
