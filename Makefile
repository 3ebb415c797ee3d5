# Two entry points for a fresh machine (see README.md):
#   make run   - set up .venv, get and verify the data, run the main job
#   make test  - set up .venv with the dev tools, get the data, run all tests
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test setup setup-dev data docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e .

setup-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

# The Debian/Ubuntu package is the offline source; elsewhere fmnist-cnn downloads through torchvision.
data:
	@sh scripts/get_data.sh $(BIN)

run: setup data
	$(BIN)/fmnist-cnn evaluate

test: setup-dev data
	$(BIN)/nbdev_test
	$(BIN)/pytest

docs: setup-dev
	$(BIN)/pip install -q -e '.[docs]'
	$(BIN)/python scripts/build_docs.py

bench: setup
	$(BIN)/python scripts/bench_loader.py
	$(BIN)/python scripts/bench_training.py

clean:
	rm -rf $(VENV) _proc docs/_build
