# Two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
# `make docs` builds the documentation site into site/; `make wheel` builds dist/ and
# checks the wheel in a new virtualenv. `.ci/run` runs test, docs and wheel in a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench docs wheel clean

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
	$(PY) -m ruff check perception tests benchmarks analyses docs .ci conftest.py
	$(PY) -m mypy

# the documentation site: README, docs/*.md and the API reference from the docstrings
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

$(VENV)/.docs-installed: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

# sdist + wheel into dist/, then checked: package data present, the wheel installed in a
# new virtualenv outside the repository runs `perception figures --demo`
wheel: $(VENV)/.dist-installed
	rm -rf dist
	$(PY) -m build --quiet --outdir dist .
	$(PY) .ci/check_wheel.py dist

$(VENV)/.dist-installed: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dist]"
	touch $@

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/suite.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache site dist build
