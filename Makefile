# The Makefile is the interface: every target creates/reuses .venv and builds
# the extension first, so each works on a fresh machine.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP_DEPS := $(VENV)/.deps-stamp
RUST_SRC := $(shell find rust -name '*.rs') Cargo.toml pyproject.toml
EXT_STAMP := $(VENV)/.ext-stamp
WHEEL_VENV := .venv-wheel
# Quiet installs: `make demo` on a fresh clone shows the demo, not pip's progress.
export PIP_QUIET := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install build-dev format lint typecheck test test-rust test-python docs wheel test-wheel bench demo clean browser terminal

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/bin/python:
	@echo "Creating $(VENV) (the first build takes 1.5 to 3 minutes)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip

$(STAMP_DEPS): $(VENV)/bin/python pyproject.toml
	@echo "Installing the dependencies into $(VENV)"
	@$(PIP) install -q "maturin>=1.7,<2"
	@# Every dependency of the package and of its extras and dev tools, one per line.
	@$(PY) -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); o = d['project']['optional-dependencies']; \
		reqs = d['project']['dependencies'] + [r for k in sorted(o) for r in o[k] if not r.startswith('ferroflow')]; \
		print('\\n'.join(reqs))" > $(VENV)/requirements.txt
	@$(PIP) install -q -r $(VENV)/requirements.txt
	@touch $@

$(EXT_STAMP): $(STAMP_DEPS) $(RUST_SRC)
	@echo "Building the Rust extension (release mode)"
	@$(VENV)/bin/maturin develop --release -q > $(VENV)/build.log 2>&1 || { cat $(VENV)/build.log; exit 1; }
	@touch $@

install: $(EXT_STAMP) ## Create .venv, install all dependencies, build the extension

build-dev: $(STAMP_DEPS) ## Rebuild the extension (release mode)
	$(VENV)/bin/maturin develop --release -q
	touch $(EXT_STAMP)

format: $(STAMP_DEPS) ## Format Python and Rust
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	cargo fmt --all

lint: $(STAMP_DEPS) ## ruff, ruff format --check, import-linter layer contracts, cargo fmt --check, clippy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	cargo fmt --all -- --check
	cargo clippy --all-targets --all-features -- -D warnings

typecheck: install ## mypy --strict on the package and stubtest of ferroflow._core
	$(VENV)/bin/mypy python/ferroflow
	$(PY) -m mypy.stubtest ferroflow._core

test-rust: ## cargo test (the pure core, no Python)
	cargo test --quiet

browser: ## Debian's chromium for the dashboard's browser tests (Playwright drives it; no browser download)
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

terminal: ## tmux: the real terminal the live-display tests draw in
	@command -v tmux >/dev/null 2>&1 || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tmux; }

test-python: install browser terminal ## pytest
	$(VENV)/bin/pytest -q

docs: $(STAMP_DEPS) ## Build the documentation into site/ (mkdocs --strict: a broken reference fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

wheel: $(STAMP_DEPS) ## Build the abi3 manylinux wheel into dist/
	rm -f dist/ferroflow-*.whl
	$(VENV)/bin/maturin build --release --quiet --compatibility pypi --auditwheel check --out dist
	@ls dist/ferroflow-*-cp311-abi3-manylinux_*.whl

test-wheel: wheel ## Install the wheel into a fresh .venv-wheel; run the CLI, the demo and every module from it
	rm -rf $(WHEEL_VENV)
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install "$$(ls dist/ferroflow-*.whl)[all]"
	$(WHEEL_VENV)/bin/python -I tests/wheel/check_installed.py .

test: install lint typecheck docs test-rust test-python test-wheel ## Everything CI runs

bench: install ## Benchmarks side by side with peers, with ratio tables (BENCH_ARGS=--quick for a short pass)
	$(PY) benches/compare.py $(BENCH_ARGS)

demo: install ## The showcase
	$(VENV)/bin/ferroflow demo

clean: ## Remove build products and the virtual environment
	rm -rf $(VENV) $(WHEEL_VENV) target dist site .pytest_cache .mypy_cache .ruff_cache
