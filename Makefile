# Indblik — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: install
install: ## install system packages (as root) and the pinned Python packages into .venv
	@scripts/bootstrap.sh runtime

.PHONY: install-test
install-test:
	@scripts/bootstrap.sh test

.PHONY: demo
demo: install ## run the demo: SQLite, demo identity provider, 200 synthetic citizens
	INDBLIK_MODE=demo $(VENV)/bin/indblik demo

.PHONY: check
check: install-test ## lint (ruff) and type check (mypy with django-stubs)
	$(VENV)/bin/ruff check indblik tests
	$(VENV)/bin/ruff format --check indblik tests
	$(VENV)/bin/mypy indblik

.PHONY: test
test: check ## lint, type check and the whole test suite (browser tests included)
	$(VENV)/bin/pytest -n 2 $(PYTEST_ARGS)

.PHONY: bench
bench: ## run the benchmarks (see docs/benchmarks.md)
	@scripts/bootstrap.sh bench
	INDBLIK_MODE=test $(VENV)/bin/indblik bench all --patients 200 --runs 3

.PHONY: lock
lock: ## refresh requirements.lock from the current .venv
	$(VENV)/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

.PHONY: clean
clean: ## remove the virtualenv and the demo data
	rm -rf $(VENV) var

.PHONY: messages
messages: install ## extract and compile translations (needs Debian's gettext)
	cd indblik && ../$(VENV)/bin/django-admin makemessages -l da -l en --no-obsolete --ignore '*/tests/*' --ignore 'identity/*' && ../$(VENV)/bin/django-admin compilemessages --ignore 'identity/*'
	cd indblik/identity && ../../$(VENV)/bin/django-admin makemessages -l da --no-obsolete --ignore 'tests/*' && ../../$(VENV)/bin/django-admin compilemessages
