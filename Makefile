# Chorus: `make serve` runs the server on the embedded defaults; `make test` runs every check;
# `make test-fast` the unit and integration tests on SQLite, for day-to-day work.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DASHBOARD := client-examples/dashboard

.PHONY: serve test test-fast install install-test lint dashboard dashboard-lint dashboard-test bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

# The dashboard is built when Node.js is there; without it the server says how at `/`. Its
# packages are installed again only when package-lock.json changes.
NPM := $(shell command -v npm 2>/dev/null)
DASHBOARD_PACKAGES := $(DASHBOARD)/node_modules/.package-lock.json

ifdef NPM
$(DASHBOARD_PACKAGES): $(DASHBOARD)/package-lock.json
	cd $(DASHBOARD) && npm ci --no-audit --no-fund --loglevel=error

dashboard: $(DASHBOARD_PACKAGES)
	cd $(DASHBOARD) && npm run build

# Checks the GraphQL documents against schema/schema.graphql, the types and the formatting.
dashboard-lint: $(DASHBOARD_PACKAGES)
	cd $(DASHBOARD) && npm run lint

dashboard-test: $(DASHBOARD_PACKAGES)
	cd $(DASHBOARD) && npm test
else
dashboard dashboard-lint dashboard-test:
	@echo "Node.js/npm not found: skipping $@ (the API works without the dashboard)"
endif

serve: install dashboard
	$(BIN)/chorus serve

lint: install-test dashboard-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint dashboard dashboard-test
	$(BIN)/pytest

# tests/unit and tests/integration on SQLite with the in-memory broadcast: no MariaDB, Redis,
# server processes or browser, and no lint. The levels and servers are markers (tests/conftest.py).
test-fast: install-test
	$(BIN)/pytest -m "not mariadb and not redis" tests/unit tests/integration

# Needs MariaDB and Redis; writes bench/RESULTS.md. See bench/README.md.
bench: install-test
	$(BIN)/python -m bench

bench-smoke: install-test
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis chorus.db* chorus-data
