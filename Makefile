# Two commands set everything up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint run bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/mypy pipeline

run: $(STAMP)
	@if [ -z "$$(ls -A input 2>/dev/null | grep -v '^\.gitkeep$$' | grep -v '^archive$$')" ] && [ ! -d state ]; then \
		$(BIN)/pipeline demo input; \
	fi
	$(BIN)/pipeline run
	@echo "Reports are in $$(pwd)/output/"

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) state output/*/ .pytest_cache .mypy_cache .ruff_cache
