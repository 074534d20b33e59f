# pybpf — the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv native demo test test-full test-corpus bench lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The verifier's hot modules compiled by mypyc (rebuilt only when a source they use changed); a failed
# build leaves the pure-Python verifier, and test_native.py then fails to say so.
native: venv
	-$(PY) -m pybpf.verifier.native_build

demo: venv
	$(PY) -m pybpf.demo

# everything on the compiled verifier, then the verifier's own tests again on its pure-Python reference
test: native
	PYBPF_EXPECT_NATIVE=1 $(PY) -m pytest -q -p no:cacheprovider
	PYBPF_NATIVE=0 $(PY) -m pytest -q -p no:cacheprovider tests/verifier

# the slow tests too, on a sample of each long corpus (about half an hour on 2 cores)
test-full: native
	PYBPF_EXPECT_NATIVE=1 $(PY) -m pytest -q -p no:cacheprovider -m ''

# test-full with the whole corpora (PYBPF_FULL=1: every seed and case; over an hour)
test-corpus: native
	PYBPF_EXPECT_NATIVE=1 PYBPF_FULL=1 $(PY) -m pytest -q -p no:cacheprovider -m ''

bench: native
	$(PY) benchmarks/run.py

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build src/*.egg-info
