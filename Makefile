# The two commands: `make serve` runs the gateway, `make test` runs the tests.
# Each bootstraps .venv (pinned by constraints.txt) when it is missing or out of date.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: serve test lint bench snapshot clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

serve: $(STAMP)
	$(BIN)/routeway serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check shared functions tests scripts
	$(BIN)/mypy
	for f in functions/*/app.py; do $(BIN)/mypy --strict $$f || exit 1; done
	$(BIN)/python -m pytest

snapshot: $(STAMP)
	$(BIN)/python scripts/build_bundled_snapshot.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
