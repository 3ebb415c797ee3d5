# Two entry points for a fresh machine (see README.md):
#   make run   - set up .venv, get and verify the data, run the main job
#   make test  - set up .venv with the dev tools, get the data, run all tests
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test setup setup-dev torch hooks data docs bench clean

# Without an NVIDIA GPU, `make run` installs PyTorch's CPU-only build (a few hundred MB instead of several GB
# of CUDA libraries). `make run TORCH_INDEX=` keeps the default index; any other index URL works too.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)
TORCH_PINS   = 'torch>=2.4,<=2.14.1' 'torchvision>=0.19,<=0.29.1'   # as in settings.ini's requirements

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

torch: $(BIN)/python
	@if [ -n "$(TORCH_INDEX)" ] && ! $(BIN)/python -c 'import torch' 2>/dev/null; then \
	  echo "no NVIDIA GPU found: installing PyTorch's CPU-only build from $(TORCH_INDEX)"; \
	  $(BIN)/pip install -q --retries 1 --timeout 20 --index-url $(TORCH_INDEX) $(TORCH_PINS) \
	  || echo "note: $(TORCH_INDEX) could not be reached; pip installs PyTorch from the default index instead"; fi

setup: torch
	$(BIN)/pip install -q -e .

setup-dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,demo]'

# nbdev's hooks: Jupyter cleans a notebook's metadata when it saves it (settings.ini: jupyter_hooks = True),
# and git fixes notebook merge conflicts. Writes ~/.jupyter/jupyter_server_config.py and .git/hooks.
hooks: setup-dev
	$(BIN)/nbdev_install_hooks

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
