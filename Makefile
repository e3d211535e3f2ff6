# Insiders — the two commands: `make run` (whole cycle on the shared data file) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The Spark extra (dbt-spark session + pyspark, ~500 MB, docs/spark.md) only when the engine is Spark or
# the Spark test suite is asked for (INSIDERS_SPARK_TESTS=1, as .ci/run does).
comma := ,
EXTRAS := dev$(if $(filter spark,$(INSIDERS_TARGET))$(filter 1,$(INSIDERS_SPARK_TESTS)),$(comma)spark)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)-$(subst $(comma),-,$(EXTRAS))
DATA ?= ../shared/data/online_retail_2010_2011.csv.gz

.PHONY: help install install-prod run test lint fmt bench db-start db-stop clean docs

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create the virtualenv and install the project (pinned by constraints.txt)

install-prod:  ## production install (deploy runbook): the project and its pinned dependencies, no dev extras
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .

run: install  ## install, start the embedded Postgres (unless INSIDERS_DATABASE_URL is set), run the whole cycle
	$(BIN)/insiders run $(DATA)

lint: install  ## ruff (Python) and sqlfluff (SQL, dbt templater)
	$(BIN)/ruff check python_jobs tests scripts
	$(BIN)/ruff format --check python_jobs tests scripts
	@# sqlfluff's dbt templater needs a database: an embedded one started here is stopped again here
	@if $(BIN)/insiders db status >/dev/null 2>&1; then started=; else started=1; fi; \
	$(BIN)/insiders db start >/dev/null && eval "$$($(BIN)/insiders db env)" && \
	$(BIN)/sqlfluff lint models macros tests/generic analyses --disable-progress-bar; rc=$$?; \
	if [ -n "$$started" ]; then $(BIN)/insiders db stop >/dev/null; fi; exit $$rc

test: lint  ## lint, then every test (real Postgres, moto S3 server, whole-file end-to-end)
	$(BIN)/pytest

fmt: install  ## apply ruff and sqlfluff fixes
	$(BIN)/ruff check --fix python_jobs tests scripts
	$(BIN)/ruff format python_jobs tests scripts
	@if $(BIN)/insiders db status >/dev/null 2>&1; then started=; else started=1; fi; \
	$(BIN)/insiders db start >/dev/null && eval "$$($(BIN)/insiders db env)" && \
	$(BIN)/sqlfluff fix models macros tests/generic analyses --disable-progress-bar; rc=$$?; \
	if [ -n "$$started" ]; then $(BIN)/insiders db stop >/dev/null; fi; exit $$rc

SCALE ?= 1
REPEAT ?= 0
bench: install  ## seconds per step, load vs plain COPY, peak RSS, database size: SCALE=1|10|100 [DAILY=1] [YEARS=1] [REPEAT=n] [INSIDERS_TARGET=spark: the Spark cycle beside]
	$(BIN)/python scripts/bench.py --data $(DATA) --scale $(SCALE) --repeat $(REPEAT) $(if $(DAILY),--daily) $(if $(YEARS),--years)

docs: install  ## dbt docs (target/index.html)
	$(BIN)/insiders dbt docs generate

db-start: install  ## start the embedded Postgres
	$(BIN)/insiders db start

db-stop: install  ## stop the embedded Postgres
	$(BIN)/insiders db stop

clean:  ## stop the embedded Postgres and remove generated folders (keeps the virtualenv)
	-$(BIN)/insiders db stop
	rm -rf .insiders target reports logs
