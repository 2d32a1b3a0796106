# Tierdesk: `make run` starts everything on this machine, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Two workers on the two-core machines we target; `make test PYTEST_ARGS=` runs serially.
PYTEST_ARGS ?= -n auto
export PYTHONPATH := $(CURDIR)/src

.PHONY: run test lint typecheck check install messages clean

# The virtual environment is rebuilt only when the pinned requirements change.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py load_demo_data --url http://$(HOST):$(PORT)/
	HOST=$(HOST) PORT=$(PORT) exec $(VENV)/bin/honcho -f Procfile start

test: install
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck
	$(PY) manage.py makemigrations --check --dry-run

messages: install
	bin/update-messages

clean:
	rm -rf $(VENV) var
