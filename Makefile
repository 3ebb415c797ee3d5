# Two entry points for a fresh machine (see README.md):
#   make run   - set up .venv, get and verify the data, run the main job
#   make test  - set up .venv with the dev tools, get the data, run all tests
# Both print a handful of lines; pip's and setuptools' output goes to $(LOG), which any error names.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
LOG     = $(VENV)/install.log

.PHONY: run test setup setup-dev torch hooks data export docs bench clean

# Without an NVIDIA GPU, `make run` installs PyTorch's CPU-only build (a few hundred MB instead of several GB
# of CUDA libraries). `make run TORCH_INDEX=` keeps the default index; any other index URL works too.
# tools/install_torch.py checks the installed pair (imports, a torchvision operator runs, versions match the
# pins and each other); a pair that fails, fresh or found in an existing $(VENV), is uninstalled and replaced by
# one from the default index, with one line saying why. If that fails too, it stops naming $(LOG) and `make clean`.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu)
TORCH_PINS   = 'torch>=2.4,<=2.14.1' 'torchvision>=0.19,<=0.29.1'   # as in settings.ini's requirements

# `$(PIP_INSTALL) ARGS` in a recipe: pip install ARGS into $(VENV), its output into $(LOG); one line if it fails
PIP_INSTALL = pip_install() { $(BIN)/pip install "$$@" >>$(LOG) 2>&1 \
	|| { echo "pip install $$* failed: see $(LOG), or start over with make clean"; exit 1; }; }; pip_install

# pip failing here is not fatal: the venv's own pip installs everything too, only with an older resolver
$(BIN)/python:
	@echo "Creating the virtual environment $(VENV) with $(PYTHON) ($$($(PYTHON) --version 2>&1))"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --upgrade pip >>$(LOG) 2>&1 || echo "note: pip could not upgrade itself (see $(LOG))"

# Runs on every `make run`/`make test` (a few seconds): an environment whose PyTorch broke is repaired, not reused
torch: $(BIN)/python
	@$(BIN)/python tools/install_torch.py $(VENV) "$(TORCH_INDEX)" $(TORCH_PINS)

# `setup-dev` depends on `torch` too, so `make test` never installs the extras beside an unchecked PyTorch: pip
# leaves a pair that satisfies the requirements alone, so the extras install no other torch.
setup: torch
	@echo "Installing fmnist_cnn into $(VENV)"
	@$(PIP_INSTALL) -e .

setup-dev: torch
	@echo "Installing fmnist_cnn with its dev and demo extras into $(VENV)"
	@$(PIP_INSTALL) -e '.[dev,demo]'

# nbdev's hooks: Jupyter cleans a notebook's metadata when it saves it (settings.ini: jupyter_hooks = True),
# and git fixes notebook merge conflicts. Writes ~/.jupyter/jupyter_server_config.py and .git/hooks.
hooks: setup-dev
	$(BIN)/nbdev_install_hooks

# The Debian/Ubuntu package is the offline source; elsewhere fmnist-cnn downloads through torchvision.
data:
	@sh tools/get_data.sh $(BIN)

run: setup data
	@$(BIN)/fmnist-cnn evaluate

# nbdev_test runs one notebook per core at once, so one PyTorch thread each (unless OMP_NUM_THREADS says otherwise):
# more threads than cores wait on each other, and the notebooks take several times as long
test: setup-dev data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/nbdev_test
	$(BIN)/pytest

# After editing a notebook: write the library from the notebooks and clean them (nbdev's own two commands; every
# module is the default_exp of one notebook, so they are exact and repeatable)
export: setup-dev
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

docs: setup-dev
	@$(PIP_INSTALL) -e '.[docs]'
	$(BIN)/python tools/build_docs.py

# the measurements that train no recipe (each appends its records to results/; see benchmarks/)
bench: setup
	$(BIN)/python benchmarks/bench_loader.py
	$(BIN)/python benchmarks/bench_training.py

clean:
	rm -rf $(VENV) _proc docs/_build
