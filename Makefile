# The two user-facing targets are `make demo` and `make test`; both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check lint format typecheck build-check demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Tests are independent, so they run on every core (pytest-xdist); a file's tests stay on one
# worker so module-scoped fixtures (a moto deployment, a `jobctl local`) are built once.
PYTEST_WORKERS ?= auto

test: $(STAMP)
	$(BIN)/jobctl build --check
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

demo: $(STAMP)
	$(BIN)/python -m jobctl.demo $(if $(SERVE),--serve)

bench: $(STAMP)
	$(BIN)/python benchmarks/compile_bench.py
	$(BIN)/python benchmarks/schedule_bench.py
	$(BIN)/python benchmarks/deploy_bench.py
	$(BIN)/python benchmarks/transitions_bench.py
	$(BIN)/python benchmarks/api_bench.py
	$(BIN)/python benchmarks/startup_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
