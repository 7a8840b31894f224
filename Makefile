# The two ways in: `make quickstart` (a fresh machine to kubegym running) and
# `make test` (a fresh machine to every test passing). Both create .venv/ and
# install what they need; nothing else is assumed but Python ≥ 3.11.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Rebuild the venv when the dependencies change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: quickstart test lint crds docs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kubegym needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

quickstart: $(STAMP)
	$(BIN)/kubegym validate examples/toy-run.yaml
	$(BIN)/kubegym aup examples/mlgym-bench-scores.csv

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check kubegym operator agent_runner tests
	$(BIN)/ruff format --check kubegym operator agent_runner tests
	$(BIN)/mypy

crds: $(STAMP)
	$(BIN)/kubegym crds --out crds

docs: $(STAMP)
	$(BIN)/python -m kubegym.reference docs/reference

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
