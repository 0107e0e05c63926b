# The two commands of the quick start: `make run` and `make test`.
# Both create (or update) the same virtualenv in .venv and install every distribution
# of the repository in editable mode.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2

PLUGIN_DISTS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
EXAMPLE_DISTS := $(sort $(dir $(wildcard examples/*/pyproject.toml)))
PYPROJECTS := pyproject.toml core/pyproject.toml sdk/pyproject.toml \
	$(wildcard plugins/*/pyproject.toml) $(wildcard examples/*/pyproject.toml)

.PHONY: run test install lint bench clean

install: $(STAMP)

$(STAMP): $(PYPROJECTS) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e './core[postgres,redis]' -e ./sdk \
		$(foreach d,$(PLUGIN_DISTS) $(EXAMPLE_DISTS),-e ./$(d)) --group dev
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/vintry init
	$(BIN)/vintry demo
	$(BIN)/vintry serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check core sdk tests templates benchmarks $(wildcard plugins/*/src plugins/*/tests examples/*/src examples/*/tests)
	$(BIN)/mypy core/src/vintry sdk/src/vintry_sdk

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) var
