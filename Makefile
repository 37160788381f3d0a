# The two commands of README.md: `make demo` and `make test`. Everything else is what they need.
# Each step is idempotent (stamp files), so a second run does only what changed.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
SAMPLE ?= ../shared/mrt-samples/ripe-ris/updates.20160811.1600.gz
SAMPLE_PATH ?= rrc00/bgpdata/2016.08/UPDATES/updates.20160811.1600.gz

.PHONY: setup demo backfill-demo test lint up down status clean-state

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

.venv-bq/.cloudz-setup-stamp: requirements-bigquery-emulator.lock scripts/setup-bigquery-emulator $(VENV)/.installed
	scripts/setup-bigquery-emulator

.venv-checkov/.cloudz-setup-stamp: requirements-checkov.lock scripts/setup-checkov
	scripts/setup-checkov

## set up the venvs (Airflow + project; the BigQuery emulator's own; checkov's own)
setup: $(VENV)/.installed .venv-bq/.cloudz-setup-stamp .venv-checkov/.cloudz-setup-stamp

## start the embedded stack, upload one sample, print the reply and its rows in BigQuery
demo: setup
	$(BIN)/cloudz-stack up
	scripts/demo "$(SAMPLE)" "$(SAMPLE_PATH)"

## backfill two days of a generated archive (3 collectors, served over HTTP) into the stack
backfill-demo: setup
	$(BIN)/cloudz-stack up
	scripts/backfill-demo

## the whole test suite (unit, DAG, stack, end-to-end, the >=1M-row differential tests and a 5M-row
## RIB through the stack, then the
## CeleryExecutor on a stack of its own); .ci/run calls this
test: setup
	scripts/ensure-bgpdump
	scripts/ensure-compose
	scripts/ensure-chromium
	$(BIN)/ruff check .
	# deploy/terraform scanned offline (--skip-download: no Prisma Cloud look-ups); skipped checks
	# carry their reasons in checkov:skip comments
	.venv-checkov/bin/checkov -d deploy/terraform --framework terraform --compact --quiet --skip-download
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# the big tests (-m big) in the same session: the 5M-row RIB shares the e2e tests' stack
	$(BIN)/pytest -m "not celery or big"
	$(BIN)/pytest -m celery tests/e2e/test_celery_workers.py

up: setup
	$(BIN)/cloudz-stack up
down:
	$(BIN)/cloudz-stack down
status:
	$(BIN)/cloudz-stack status
