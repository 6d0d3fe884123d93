# Two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/perception simulate --out demo_output/waves
	$(VENV)/bin/perception figures --demo --out demo_output/figures

# lint and types first, then the docstring examples and the test suite in one run (the
# demo survey is built once for both); the first failure stops
test: lint
	MPLBACKEND=Agg $(PY) -m pytest --doctest-modules perception tests

lint: $(STAMP)
	$(PY) -m ruff check perception tests benchmarks analyses conftest.py
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/suite.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache
