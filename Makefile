# Checkpoints: `make run` serves the app, `make test` runs every test. Nothing else to install.
SHELL := /bin/bash
PYTHON ?= $(shell scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# uv installs exactly what uv.lock pins. Taken from PATH, else installed once with pip
# into .venv-tools (pinned here). It never downloads a Python: it uses $(PYTHON).
UV_VERSION := 0.13.9
TOOLS := .venv-tools
UV ?= $(or $(shell uv --version >/dev/null 2>&1 && command -v uv),$(TOOLS)/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install lock run run-neon-emulator test lint format openapi bench clean

install: $(STAMP)

$(STAMP): pyproject.toml uv.lock | $(UV)
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found (see scripts/find-python)." >&2; exit 1; }
	$(UV) sync --locked --extra dev --python "$(PYTHON)" --quiet
	@touch $@

$(TOOLS)/bin/uv:
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found (see scripts/find-python)." >&2; exit 1; }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
	  --target $(TOOLS) uv==$(UV_VERSION)

# After changing the dependencies in pyproject.toml: re-pin them in uv.lock (commit both).
lock: | $(UV)
	$(UV) lock --python "$(PYTHON)"

run: install
	$(BIN)/python -m checkpoints.launcher

# The neon engine offline: the app drives the Neon-API emulator over HTTP.
run-neon-emulator: install
	$(BIN)/python -m checkpoints.launcher --neon-emulator

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Check only; `make format` rewrites. The layers are import-linter contracts
# (pyproject.toml); mypy checks services/, jobs/ and engines/ with django-stubs.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# After changing an answer's shape (checkpoints/shapes): regenerate openapi.json's components.
openapi: install
	DJANGO_SETTINGS_MODULE=checkpoints.settings $(BIN)/python -c \
	  "import django; django.setup(); from checkpoints.api.openapi import components_write; components_write()"

bench: install
	$(BIN)/python -m checkpoints.launcher --exec benchmark $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) staticfiles .pytest_cache .ruff_cache
