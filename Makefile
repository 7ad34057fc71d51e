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

# pip compiles every installed module one file at a time (~50 s here); compileall does it on all
# cores (~28 s). A file that does not compile (torch ships a Python 3.12-only test helper) is left
# uncompiled, as pip leaves it.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile -r requirements.txt
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" > /dev/null || true
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
# builds it with warnings as errors into a temporary folder (`make test` does the same build in
# tests/docs/test_site.py, which also checks the generated pages)
docs: $(STAMP)
	$(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

docs-build: $(STAMP)
	site=$$(mktemp -d) && $(BIN)/mkdocs build --strict --quiet --site-dir "$$site"; rc=$$?; rm -rf "$$site"; exit $$rc

test: lint data
	$(BIN)/python -m pytest -q --doctest-modules tests samtrain sweeps examples

demo: $(STAMP) data
	bash scripts/demo.sh

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
