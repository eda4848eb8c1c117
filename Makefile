# Two commands set everything up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint run bench bench-engines bench-year clean bytecode

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The benchmark's naive baseline (bench/baseline.py) needs pandas, which the product does not use:
# it gets an environment of its own, so that the product is measured as it is installed. pyarrow
# imports pandas whenever it can, on its first array made from Python values (0.2 s of CPU and
# 80 MB a process).
BASELINE := bench/.cache/baseline-venv
$(BASELINE)/.installed: pyproject.toml
	$(PY) -m venv $(BASELINE)
	$(BASELINE)/bin/pip install --quiet --upgrade pip
	$(BASELINE)/bin/pip install --quiet -e '.[bench]'
	touch $@

# The package's modules compiled ahead: an editable install leaves them as source, and where
# PYTHONDONTWRITEBYTECODE is set every run compiled them again (0.07 s of each run's start-up).
# Only what changed is compiled again; Python ignores a compiled file older than its source.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q pipeline >/dev/null

install: $(STAMP) bytecode

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/mypy pipeline

run: $(STAMP) bytecode
	@if [ -z "$$(ls -A input 2>/dev/null | grep -v '^\.gitkeep$$' | grep -v '^archive$$')" ] && [ ! -d state ]; then \
		$(BIN)/pipeline demo input; \
	fi
	$(BIN)/pipeline run
	@echo "Reports are in $$(pwd)/output/"

bench: $(STAMP) bytecode $(BASELINE)/.installed
	$(BIN)/python bench/run.py --baseline-python $(BASELINE)/bin/python
	$(BIN)/python bench/engines.py

# The big office's week on SQLite and on PostgreSQL side by side, and 8 quarter offices on one
# server in parallel against one after another (bench/engines.py; part of `make bench`).
bench-engines: $(STAMP) bytecode
	$(BIN)/python bench/engines.py

# A year of Mondays at a quarter of the big office, run as cron would (bench/year.py).
bench-year: $(STAMP) bytecode
	$(BIN)/python bench/year.py

clean:
	rm -rf $(VENV) state output/*/ .pytest_cache .mypy_cache .ruff_cache
