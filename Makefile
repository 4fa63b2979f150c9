# Two commands set up everything on a fresh machine:
#   make demo   create the virtualenv if missing, install, train LT-TTD on the embedded synthetic data
#   make test-all   both stacks' virtualenvs, installed, and the whole test suite on each (CI)
#   make test   the same on the stack of the Python at hand only
#
# The TensorFlow stack follows the Python at hand (see setup.py for the pins):
#   Python 3.11       -> tf215 (TF 2.15.1 + TF-Ranking, the reference stack)
#   Python 3.12, 3.13 -> tf220 (TF 2.20 + tf-keras; TF 2.15 has no wheels there)
# Override with e.g. `make test STACK=tf220` or `make demo PYTHON=python3.12`.
PYTHON ?= python3
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
STACK ?= $(if $(filter 3.11,$(PY_VERSION)),tf215,tf220)
VENV ?= .venv-$(STACK)
BIN := $(VENV)/bin

.PHONY: demo test test-all install lint clean check-stack

check-stack:
	@case "$(STACK)-$(PY_VERSION)" in \
	  tf215-3.11|tf220-3.11|tf220-3.12|tf220-3.13) ;; \
	  *) echo "make: STACK=$(STACK) does not install on Python '$(PY_VERSION)' ($(PYTHON)):" \
	       "tf215 needs Python 3.11, tf220 Python 3.11 to 3.13." >&2; exit 2;; \
	esac

$(BIN)/python: | check-stack
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23" "setuptools>=64"
	$(BIN)/python -m pip install --quiet -e ".[$(STACK),test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/ltttd demo $(DEMO_ARGS)

# pytest exits 5 when it collected no test; make fails on any non-zero exit.
test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Both stacks side by side, one per core (what .ci/run runs).
test-all:
	./.ci/test-stacks

clean:
	rm -rf .venv-tf215 .venv-tf220 *.egg-info .pytest_cache

lint: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet "ruff>=0.4"
	$(BIN)/ruff check tfrs_ltttd benchmarks tests
