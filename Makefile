# Each target bootstraps .venv on a fresh machine. torch is pinned to the CPU wheel that lies on
# disk here (any other spec would pull multi-GB CUDA packages); on a GPU host install the CUDA
# build of the same version into .venv first and `make` leaves it alone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODE := $(wildcard monitor models dashboard tests scripts)

.PHONY: install demo test lint typecheck eval-skab bench-sensor bench-dashboard clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/monitor demo

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: $(STAMP)
	$(BIN)/mypy monitor models

test: lint typecheck
	$(BIN)/python -m pytest -q -ra

eval-skab: $(STAMP)
	$(BIN)/python scripts/eval_skab.py

bench-sensor: $(STAMP)
	$(BIN)/monitor bench sensor

# PostgreSQL from MONITOR_TEST_POSTGRES_URL (default: the test database); minutes, a schema of its own.
bench-dashboard: $(STAMP)
	nice -n 10 $(BIN)/python scripts/bench_dashboard.py --out docs/benchmarks.md

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
