# pybpf — the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-full test-corpus bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(PY) -m pybpf.demo

test: venv
	$(PY) -m pytest -q -p no:cacheprovider

# the slow tests too, on a sample of each long corpus (about half an hour on 2 cores)
test-full: venv
	$(PY) -m pytest -q -p no:cacheprovider -m ''

# test-full with the whole corpora (PYBPF_FULL=1: every seed and case; over an hour)
test-corpus: venv
	PYBPF_FULL=1 $(PY) -m pytest -q -p no:cacheprovider -m ''

bench: venv
	$(PY) benchmarks/run.py

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build src/*.egg-info
