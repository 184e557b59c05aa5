# Quick start:  make demo   (set up .venv, run the demo recipe, stages 0-7)
#               make demo-localization   (the same for the spoof localization demo)
#               make test   (set up .venv with test extras, run the test suite)
# The environment is built once and reused; it is rebuilt when setup.py or requirements.txt change.

PYTHON ?= python3
VENV ?= .venv
# The torch release we test with; `make TORCH=torch` takes the newest instead.
TORCH ?= torch==2.13.0
# two test processes, each test file kept in one (its module fixtures built once): the suite
# takes 5:33 instead of 9:09 on our 2-core machine (2026-12-07)
PYTEST_ARGS ?= -n 2 --dist loadfile

BIN := $(VENV)/bin
DEMO := egs/detection/demo/v03_resnet18
DEMO_LOCALIZATION := egs/localization/demo/v01_frame_cnn

.PHONY: all env test-env demo demo-localization test lint clean-demo gpu-wheels

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python setup.py requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q "$(TORCH)"
	$(BIN)/pip install --disable-pip-version-check -q -e ".[export]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --disable-pip-version-check -q -e ".[test]"
	touch $@

env: $(VENV)/.installed

test-env: $(VENV)/.installed-test

demo: env
	cd $(DEMO) && bash run.sh --stage 0 --stop_stage 7

demo-localization: env
	cd $(DEMO_LOCALIZATION) && bash run.sh --stage 0 --stop_stage 7

test: test-env
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests

# every shell script (recipes' run.sh, the stage templates, tools/*.sh); links are checked once,
# through the file they point at
lint: test-env
	$(BIN)/ruff check .
	find . \( -path ./.venv -o -path ./.git \) -prune -o -name '*.sh' -type f -print0 \
	  | xargs -0 $(BIN)/shellcheck -x

clean-demo:
	rm -rf $(DEMO)/corpus $(DEMO)/data $(DEMO)/exp

# Wheels that benchmarks/gpu_checks.sh installs on a GPU machine without network access (its
# image has torch and transformers but not these).
gpu-wheels:
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .whl soundfile webdataset braceexpand kaldiio cffi pycparser
