# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: run test lint bench screenshots install system-packages clean

$(RUNTIME): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV): $(RUNTIME) requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(DEV)

## Debian packages the tests use (nginx, redis-server), installed when missing.
system-packages:
	bash .ci/system-packages

## Start the whole service on 127.0.0.1:8000 (HOST/PORT override); Ctrl-C stops it.
run: $(RUNTIME)
	$(PY) -m bot run

## Lint, type-check and run the whole test suite.
test: $(DEV) system-packages
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: $(DEV)
	$(PY) -m ruff check .
	$(PY) -m mypy

## Benchmarks (figures go in the README).
bench: $(DEV)
	bash bench/run.sh

## Screenshots of the console (desktop and phone) into docs/screenshots/, from demo data of its own.
screenshots: $(DEV) system-packages
	$(PY) docs/make_screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
