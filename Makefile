# HeatDesk — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
SCENARIO ?=
comma := ,
STAMP := $(VENV)/.installed

.PHONY: help venv run test test-pg lint fmt migrations-check bench e2e clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## Create the virtual environment with the pinned dependencies

run: $(STAMP) ## Run HeatDesk on SQLite with sandbox providers (PORT=8000)
	mkdir -p var
	$(BIN)/heatdesk migrate --noinput
	$(BIN)/heatdesk demo
	$(BIN)/heatdesk collectstatic --noinput --verbosity 0
	exec $(BIN)/heatdesk serve --port $(PORT)

test: $(STAMP) ## Run the whole test suite (SQLite; set DATABASE_URL=postgres://… for PostgreSQL)
	$(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile

e2e: $(STAMP) ## Browser journeys only, in Debian's Chromium (screenshots in var/screenshots/)
	$(BIN)/pytest -m e2e -p no:cacheprovider

lint: $(STAMP) ## ruff, mypy and the migrations check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy heatdesk
	mkdir -p var
	$(BIN)/heatdesk makemigrations --check --dry-run

fmt: $(STAMP) ## Format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## Benchmarks against the real server on PostgreSQL (SCENARIO=name for one)
	$(BIN)/python -m bench.run $(foreach s,$(subst $(comma), ,$(SCENARIO)),--scenario $(s))

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) var
