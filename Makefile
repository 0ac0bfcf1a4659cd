# Developer entry points. Nothing here needs Docker; docs/operations.md explains the
# dev infrastructure these targets start and stop.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
TACHIGO := $(VENV)/bin/tachigo
RUFF := $(VENV)/bin/ruff
# `make bench BENCH=ledger` runs one benchmark instead of all three.
BENCH ?= ingest pipeline ledger
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k dev_infra -x"`.
PYTEST_ARGS ?=

.PHONY: help bootstrap demo test down status bench lint

help:
	@echo "make demo     start Postgres, Kafka, worker and API; replay one day of sessions"
	@echo "make test     start Kafka, Postgres and migrations, then run pytest"
	@echo "make status   show what runs, on which port, with which pid"
	@echo "make down     stop the API, worker, Kafka and Postgres"
	@echo "make bench    start everything, then print benchmark figures (BENCH=$(BENCH))"
	@echo "make lint     ruff check and ruff format --check"

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	$(TACHIGO) dev up
	$(TACHIGO) replay --days 1
	@echo "[demo] the services are still running: 'make status' lists them," \
		"'make down' (or .venv/bin/tachigo dev down) stops them"

# pytest exits 5 when it collects no tests; that is a broken suite, so it fails too.
test: bootstrap
	$(TACHIGO) dev up --infra-only
	@status=0; $(PYTHON) -m pytest -q $(PYTEST_ARGS) || status=$$?; \
	if [ "$$status" -eq 5 ]; then echo "[test] pytest collected no tests: failing"; fi; \
	exit "$$status"

down:
	@if [ -x $(TACHIGO) ]; then $(TACHIGO) dev down; \
	else echo "[down] $(TACHIGO) is missing, so nothing was started"; fi

status:
	$(TACHIGO) dev status

bench: bootstrap
	$(TACHIGO) dev up
	@for target in $(BENCH); do $(TACHIGO) bench "$$target"; done

lint: bootstrap
	$(RUFF) check .
	$(RUFF) format --check .
