# Chorus: `make serve` runs the server on the embedded defaults; `make test` runs every check;
# `make test-fast` the unit and integration tests on SQLite, for day-to-day work.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DASHBOARD := client-examples/dashboard

.PHONY: serve serve-dashboard test test-fast install install-test lint dashboard dashboard-lint dashboard-test bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Chorus is installed in editable mode, so its packages are installed again only when
# pyproject.toml changes; each stamp records the last install. The test extras include the rest.
INSTALLED := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(INSTALLED_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@ $(INSTALLED)

install: $(INSTALLED)

install-test: $(INSTALLED_TEST)

# The dashboard is built when Node.js is there; without it the server says how at `/`. Its
# packages are installed again only when package-lock.json changes (from npm's cache when it
# has them), and it is built again only when its sources or the schema change.
NPM := $(shell command -v npm 2>/dev/null)
DASHBOARD_PACKAGES := $(DASHBOARD)/node_modules/.package-lock.json
DASHBOARD_BUILT := $(DASHBOARD)/dist/index.html
DASHBOARD_SOURCES := schema/schema.graphql \
	$(wildcard $(DASHBOARD)/*.html $(DASHBOARD)/*.ts $(DASHBOARD)/*.json) \
	$(shell find $(DASHBOARD)/src -path $(DASHBOARD)/src/api/generated -prune -o -type f -print)
DASHBOARD_LOG := $(VENV)/dashboard-build.log

ifdef NPM
$(DASHBOARD_PACKAGES): $(DASHBOARD)/package-lock.json
	cd $(DASHBOARD) && npm ci --prefer-offline --no-audit --no-fund --loglevel=error

$(DASHBOARD_BUILT): $(DASHBOARD_PACKAGES) $(DASHBOARD_SOURCES)
	cd $(DASHBOARD) && npm run build

dashboard: $(DASHBOARD_BUILT)

# For `make serve`: a dashboard that cannot be built (npm's registry out of reach, say) is one
# line, not the end of `make serve`; the one built before is served, or the API alone. npm gives
# up at its first failed request here, where it would retry each package for minutes.
serve-dashboard:
	@$(MAKE) --no-print-directory --question $(DASHBOARD_BUILT) 2>/dev/null || { \
	  echo "Building the dashboard (output in $(DASHBOARD_LOG))"; \
	  npm_config_fetch_retries=0 npm_config_fetch_timeout=20000 \
	  $(MAKE) --no-print-directory $(DASHBOARD_BUILT) > $(DASHBOARD_LOG) 2>&1 || \
	  if [ -f $(DASHBOARD_BUILT) ]; then \
	    echo "Could not rebuild the dashboard (see $(DASHBOARD_LOG)): serving the one built before."; \
	  else \
	    echo "Could not build the dashboard (see $(DASHBOARD_LOG)): serving the API without it; / says how to build it."; \
	  fi; }

# Checks the GraphQL documents against schema/schema.graphql, the types and the formatting.
dashboard-lint: $(DASHBOARD_PACKAGES)
	cd $(DASHBOARD) && npm run lint

dashboard-test: $(DASHBOARD_PACKAGES)
	cd $(DASHBOARD) && npm test
else
dashboard dashboard-lint dashboard-test:
	@echo "Node.js/npm not found: skipping $@ (the API works without the dashboard)"

serve-dashboard:
	@echo "Node.js/npm not found: serving the API without the dashboard; / says how to build it."
endif

serve: install serve-dashboard
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
