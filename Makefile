# The short task list: `make up` (install + run everything), `make test`, `make lint`, `make bench`.
.PHONY: install up demo test test-fast lint mypy bench

install:
	./scripts/install.sh

up: install
	.venv/bin/leadnet up

demo: install
	.venv/bin/leadnet up --demo

# Tests mostly wait on brokers and databases: two workers (each with its own PostgreSQL and Kafka, whole files per
# worker) finish in about half the time on two cores. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
test: install
	.venv/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# Pure-rule tests only: no PostgreSQL, no Kafka.
test-fast: install
	.venv/bin/python -m pytest -q -m "not postgres and not kafka"

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(MAKE) --no-print-directory mypy

# Also the pre-commit hook (.pre-commit-config.yaml): no install step, the .venv must exist.
mypy:
	.venv/bin/mypy shared/leadnet_shared leadnet services/lead-intake/lead_intake services/dedup-router/dedup_router services/followup-scheduler/followup_scheduler services/rewards-ledger/rewards_ledger services/hq-console/hq_console services/notifier/notifier clients/python/leadnet_client bench

bench: install
	for b in bench/*.py; do .venv/bin/python "$$b" --quick || exit 1; done
