# Two commands for a newcomer: `make demo` (tables from the local sandbox) and `make test` (lint + all tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint unit functional bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m pytest tests

lint: $(VENV)/.installed
	$(PY) -m ruff check .

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

functional: $(VENV)/.installed
	$(PY) -m pytest tests/functional tests/test_functional.py

$(VENV)/.bench: $(VENV)/.installed requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench
	$(PY) bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) data
