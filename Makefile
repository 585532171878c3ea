# modelserve: `make demo` serves the demo models; `make test` runs the whole test suite.
# Both set everything up on a fresh machine with Python 3.11 (test: as root, for apt-get).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: demo test bench bench-batch install install-test system-deps lint translations clean

demo: install
	$(BIN)/modelserve demo

test: install-test system-deps
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

# Not part of `make test`: a few minutes of load on this machine (wrk from Debian's packages).
# FastAPI and uvicorn go into a side venv, benchmarks/.peers-venv, and BentoML into another,
# benchmarks/.bentoml-venv (run.py builds both on first use), never into the project's.
bench: install
	command -v wrk >/dev/null || apt-get install -y wrk
	$(BIN)/python benchmarks/run.py --output benchmarks/last-run.md

# Batch scoring of a 1,000,000-row CSV against a pandas notebook baseline (about 2 minutes).
bench-batch: install
	$(BIN)/python benchmarks/batch.py --output benchmarks/last-batch-run.md

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(VENV)/.installed
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
install-test: $(VENV)/.installed-test
$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test,keras,onnx]'
	touch $@

system-deps:
	scripts/system-deps

translations:
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output \
		-o src/modelserve/translations/messages.pot src
	$(BIN)/python scripts/translate_es.py src/modelserve/translations

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .mypy_cache
