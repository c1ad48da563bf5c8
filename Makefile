# a2q-flow — `make demo` installs everything and runs the default benchmark; `make test` runs
# the test suite. Every benchmark config in configs/ gets a target named after its file
# (configs/tfc_digits.yaml -> `make tfc-digits`).

PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
A2Q     = $(VENV)/bin/a2q
STAMP   = $(VENV)/.installed
# The CPU wheel of torch; installed first and alone so that no resolver ever picks a CUDA build.
TORCH_SPEC  ?= torch==2.13.0
TORCH_PIP_ARGS ?=
FINN_SPEC   ?= finn-plus==1.6.1
# Optional extras of pyproject.toml: `make install EXTRAS=dev,ray` adds Ray (a2q sweep --engine ray).
EXTRAS      ?= dev
DEFAULT_CONFIG ?= configs/tfc_digits.yaml

CONFIGS := $(wildcard configs/*.yaml)
BENCHMARKS := $(subst _,-,$(basename $(notdir $(CONFIGS))))
SWEEPS := $(addprefix sweep-,$(subst _,-,$(basename $(notdir $(wildcard configs/sweeps/*.yaml)))))
CONFIG ?= $(DEFAULT_CONFIG)
IMAGE ?= a2q-flow

.PHONY: install demo test test-all lint format clean bench docker-build docker-run \
	$(BENCHMARKS) $(SWEEPS)

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; a2q-flow needs Python 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	$(PY) -m pip install -q --no-deps "$(FINN_SPEC)"
	$(PY) -c "import torch; assert torch.version.cuda is None or '$(ALLOW_CUDA)', 'a CUDA torch was installed: ' + torch.__version__"
	touch $@

demo: install
	$(A2Q) run $(DEFAULT_CONFIG)
	$(A2Q) inspect build/$(basename $(notdir $(DEFAULT_CONFIG)))

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m ""

lint: install
	$(VENV)/bin/ruff check flow tests
	$(VENV)/bin/ruff format --check flow tests

format: install
	$(VENV)/bin/ruff format flow tests
	$(VENV)/bin/ruff check --fix flow tests

# SET passes config overrides, e.g. make resnet18-cifar10 SET="data.path=/data/cifar-10-batches-py"
$(BENCHMARKS): install
	$(A2Q) run configs/$(subst -,_,$@).yaml $(foreach s,$(SET),--set $(s))
	$(A2Q) report build/$(subst -,_,$@)

# SWEEP_ARGS="--engine ray" runs a sweep on a local Ray cluster (make install EXTRAS=dev,ray)
SWEEP_ARGS ?= --jobs 2
$(SWEEPS): install
	$(A2Q) sweep configs/sweeps/$(subst -,_,$(patsubst sweep-%,%,$@)).yaml $(SWEEP_ARGS)

bench: install
	$(A2Q) bench --out build/bench.json

# No Docker engine runs on our own machines; these are for users who have one.
docker-build:
	docker build -f docker/Dockerfile --build-arg TORCH_PIP_ARGS="$(TORCH_PIP_ARGS)" -t $(IMAGE) .

# build/ is created here first: a mount point that does not exist is created by Docker, as root.
docker-run:
	mkdir -p build
	docker run --rm -v "$(CURDIR)/build:/home/a2q/a2q-flow/build" $(IMAGE) run $(CONFIG)

clean:
	rm -rf build
