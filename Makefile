# `make test` and `make demo` work from a clean clone: they create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_USAGE_STATS_ENABLED := 0
export MLFLOW_DISABLE_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: venv data test lint docs docs-build demo bench clean

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

# the documentation site (mkdocs.yml): `docs` builds and serves it on 127.0.0.1, `docs-build`
# builds it with warnings as errors into a temporary folder (part of `make test`)
docs: $(STAMP)
	$(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

docs-build: $(STAMP)
	site=$$(mktemp -d) && $(BIN)/mkdocs build --strict --quiet --site-dir "$$site"; rc=$$?; rm -rf "$$site"; exit $$rc

test: lint data docs-build
	$(BIN)/python -m pytest -q --doctest-modules tests samtrain sweeps examples

demo: $(STAMP) data
	bash scripts/demo.sh

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
