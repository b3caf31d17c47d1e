# Chorus: `make serve` runs the server on the embedded defaults; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DASHBOARD := client-examples/dashboard

.PHONY: serve test install install-test lint dashboard bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"

# The dashboard is built when Node.js is there; without it the server says how at `/`.
dashboard:
	@if [ -f $(DASHBOARD)/package.json ] && command -v npm >/dev/null 2>&1; then \
		cd $(DASHBOARD) && npm ci --no-audit --no-fund --loglevel=error && npm run build; \
	else \
		echo "Node.js/npm not found: skipping the dashboard build (the API works without it)"; \
	fi

serve: install dashboard
	$(BIN)/chorus serve

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint dashboard
	$(BIN)/pytest

# Needs MariaDB and Redis; writes bench/RESULTS.md. See bench/README.md.
bench: install-test
	$(BIN)/python -m bench

bench-smoke: install-test
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis chorus.db* chorus-data
