# Everything runs from .venv, which `make install` (scripts/_setup_venv.sh) creates and
# refreshes whenever pyproject.toml changes.
VENV := .venv

.PHONY: install lint types test demo bench workers

install:
	bash scripts/_setup_venv.sh

lint: install
	$(VENV)/bin/ruff check .

types: install
	$(VENV)/bin/mypy

# Lint, types and pytest against the real Redis and PostgreSQL (started when down).
test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

bench: install
	$(VENV)/bin/python bench/run.py --json

# One worker pool per module queue plus Flower (Procfile); set ORCH_BROKER_URL in .env first.
# .venv/bin goes first on PATH so honcho's processes find `celery`.
workers: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start
