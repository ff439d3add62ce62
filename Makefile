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

.PHONY: help install build-dev format lint typecheck test test-rust test-python bench demo clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP_DEPS): $(VENV)/bin/python pyproject.toml
	$(PIP) install -q "maturin>=1.7,<2"
	@# Every dependency of the package and of its extras and dev tools, one per line.
	$(PY) -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); o = d['project']['optional-dependencies']; \
		reqs = d['project']['dependencies'] + [r for k in sorted(o) for r in o[k] if not r.startswith('ferroflow')]; \
		print('\\n'.join(reqs))" > $(VENV)/requirements.txt
	$(PIP) install -q -r $(VENV)/requirements.txt
	touch $@

$(EXT_STAMP): $(STAMP_DEPS) $(RUST_SRC)
	$(VENV)/bin/maturin develop --release -q
	touch $@

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

test-python: install ## pytest
	$(VENV)/bin/pytest -q

test: install lint typecheck test-rust test-python ## Everything CI runs

bench: install ## Benchmarks side by side with peers, with ratio tables (BENCH_ARGS=--quick for a short pass)
	$(PY) benches/compare.py $(BENCH_ARGS)

demo: install ## The showcase
	$(VENV)/bin/ferroflow demo

clean: ## Remove build products and the virtual environment
	rm -rf $(VENV) target .pytest_cache .mypy_cache .ruff_cache
