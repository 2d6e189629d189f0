# The two set-up commands (README): `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast deps venv bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

deps:
	bash .ci/install-deps

# Build the example package from customizations/ with an ODJ blob composed offline, then inspect it.
demo: $(STAMP)
	bash scripts/demo.sh $(VENV)

# The whole suite, including the tests that start a real Samba AD DC on loopback.
test: deps $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

# Unit tests only (no DC).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not dc" tests

bench: deps $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
