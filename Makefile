# One way to run everything, the same locally and in CI.
# Every target builds .venv on first use and reinstalls only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The PostgreSQL half of the store and services tests; skipped (visibly) when nothing listens.
export PHYSIOTRIAL_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: demo test lint format bench oracle clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3-venv missing: installing it with apt-get"; \
	  rm -rf $(VENV); apt-get update -q && apt-get install -y -q python3-venv python3-pip && \
	  $(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/physiotrial demo demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/randomisation.py
	$(BIN)/python benchmarks/capture.py
	$(BIN)/python benchmarks/mmrm.py
	$(BIN)/python benchmarks/web_latency.py
	$(BIN)/python benchmarks/clinic.py

# Regenerates the R golden files under tests/oracle/ (needs Rscript; the tests read the committed outputs).
# kr.R and mmrm_data.R are sourced by mmrm.R, not run alone.
oracle: $(STAMP)
	@command -v Rscript >/dev/null || { echo "Rscript not found: apt-get install r-base-core"; exit 1; }
	@set -e; for script in tests/oracle/*.R; do \
	  case $$script in */kr.R|*/mmrm_data.R) continue;; esac; \
	  echo "Rscript $$script"; (cd tests/oracle && Rscript $$(basename $$script)); done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
