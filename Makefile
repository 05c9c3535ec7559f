# Build glue. `make demo` and `make test` are the two fresh-machine commands of the README.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format dev full-sync bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The main job end to end on local defaults: simulator + local Elasticsearch, full sync, incremental sync, summary.
demo: $(STAMP)
	$(BIN)/python -m sandfly_assets.dev.demo

## Lint and the whole test suite (starts its own local Elasticsearch and simulators).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Local simulator + Elasticsearch + `dagster dev` (the UI at http://127.0.0.1:3000). Ctrl-C stops all.
dev: $(STAMP)
	$(BIN)/python -m sandfly_assets.dev.serve

## The full sync against the configured servers (SANDFLY_*, ELASTICSEARCH_* variables).
full-sync: $(STAMP)
	$(BIN)/python -m sandfly_assets.full_sync

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) .local .pytest_cache .ruff_cache *.egg-info
