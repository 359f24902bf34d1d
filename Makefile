# Mission Control — the two commands a new machine needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck compose-check pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	rm -f $(VENV)/.installed-*
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## run: install and start the service with its embedded defaults (SQLite, in-process bus,
## three simulated drones over loopback MAVLink); ARGS="--port 8080 --sim 5" adds flags
run: $(STAMP)
	$(BIN)/mission-control serve $(ARGS)

## test: install what the tests need, lint, type-check the pure packages, run the tests
test: lint typecheck compose-check pytest

# docker-compose.yml is validated offline by Debian's docker-compose (no engine needed);
# installed when missing and we may (root with apt-get).
compose-check:
	@if ! command -v docker-compose >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y -q docker-compose >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q docker-compose >/dev/null 2>&1); fi
	@if command -v docker-compose >/dev/null 2>&1; then \
		docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"; \
	else echo "docker-compose not installed (needs root + apt-get): docker-compose.yml not validated"; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy flight_plans mission_control sim

# PostgreSQL: MC_TEST_POSTGRES_URL, else the local server on 5432, else a private throwaway
# cluster (.ci/test-postgres installs Debian's postgresql when missing and running as root)
pytest: $(STAMP)
	@url=$$(.ci/test-postgres start) || exit 1; \
	MC_TEST_POSTGRES_URL="$$url" $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	.ci/test-postgres stop; exit $$rc

## bench: run every benchmark script; each prints lines "bench: NAME VALUE UNIT"
bench: $(STAMP)
	@set -e; for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
