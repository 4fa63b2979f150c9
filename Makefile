# Two commands set up everything on a fresh machine:
#   make demo   create .venv if missing, install, train LT-TTD on the embedded synthetic data
#   make test   create .venv if missing, install, run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.py $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23" "setuptools>=64"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/ltttd demo $(DEMO_ARGS)

# pytest exits 5 when it collected no test; make fails on any non-zero exit.
test: $(VENV)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

lint: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet "ruff>=0.4"
	$(BIN)/ruff check tfrs_ltttd benchmarks tests
