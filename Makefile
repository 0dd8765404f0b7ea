# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint faults bench screenshots sandbox clean

$(BIN)/marketdata: pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,deploy]'  # deploy: the deployment files' tests resolve their launchers
	@touch $@

run: $(BIN)/marketdata  ## database + sandbox (unless POLYGON_API_KEY) + Dagster UI on http://127.0.0.1:3000
	$(BIN)/marketdata run

lint: $(BIN)/marketdata  ## ruff (lint + import order) and mypy (strict on client/ and storage/)
	$(BIN)/ruff check marketdata_pipeline marketdata_pipeline_tests
	$(BIN)/mypy marketdata_pipeline

test: $(BIN)/marketdata  ## the test suite, against DATABASE_URL or an embedded PostgreSQL
	$(BIN)/pytest -n 2  # two workers: most tests wait on subprocesses and HTTP, not CPU

faults: $(BIN)/marketdata  ## the fault suite on real processes; writes docs/reliability.json and docs/reliability.md
	$(BIN)/marketdata faults

screenshots: $(BIN)/marketdata  ## the README's UI pictures, taken by the browser test (needs Chromium)
	MARKETDATA_SCREENSHOT_DIR=docs/img $(BIN)/pytest marketdata_pipeline_tests/ui -k user_backfills

bench: $(BIN)/marketdata  ## the benchmark; writes docs/benchmarks.json and docs/benchmarks.md
	$(BIN)/marketdata bench

clean:
	rm -rf $(VENV) .data
