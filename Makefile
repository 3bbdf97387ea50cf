# Two commands for a newcomer: `make demo` (tables from the local sandbox) and `make test` (lint + all tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

MIN_PYTHON := 3.11
VERSION_OF = -c 'import sys; print("%d.%d" % sys.version_info[:2])'

.PHONY: demo test lint unit functional bench clean venv check-python docs

# Before anything is installed: the right Python, in one sentence (pip would fail deep inside otherwise).
check-python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < tuple(map(int, "$(MIN_PYTHON)".split("."))))' 2>/dev/null \
	  || { echo "This project needs Python $(MIN_PYTHON) or newer, but '$(PYTHON)' is $$($(PYTHON) --version 2>/dev/null \
	  || echo 'not installed'): install Python $(MIN_PYTHON)+ or point make at it, e.g. make PYTHON=python3.11 demo."; \
	  exit 1; }

# A virtual environment made by another Python (or a broken one) is rebuilt, not reused.
venv: check-python
	@want=$$($(PYTHON) $(VERSION_OF)); have=$$($(PY) $(VERSION_OF) 2>/dev/null); \
	if [ -e $(VENV) ] && [ "$$have" != "$$want" ]; then \
	  echo "Rebuilding $(VENV): it was made by Python $${have:-(broken)}, and $(PYTHON) is Python $$want."; \
	  rm -rf $(VENV); fi
	@$(MAKE) --no-print-directory $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: venv
	$(PY) scripts/demo.py

# Four test processes on any machine: the functional tests mostly wait on the sandbox's rate limit and latency (about
# 2.7 CPU minutes in a 12-minute serial run on two cores), so four at once cut the wall time by half.
test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest tests -n 4

# The form, the README's tables and the demo configuration, written from the datasets' registry.
docs: venv
	$(PY) scripts/generate_docs.py

lint: venv
	$(PY) -m ruff check .

unit: venv
	$(PY) -m pytest tests/unit

functional: venv
	$(PY) -m pytest tests/functional tests/test_functional.py

$(VENV)/.bench: $(VENV)/.installed requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

bench: venv
	@$(MAKE) --no-print-directory $(VENV)/.bench
	$(PY) bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) data
