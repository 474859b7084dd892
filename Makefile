# Modelboard. `make run` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every runtime and dev dependency, pinned with hashes (make lock updates it).
LOCK := requirements/lock.txt
HOST ?= 127.0.0.1
PORT ?= 8000
# Development commands run in DEBUG unless told otherwise: production (DEBUG
# off) refuses to start without a SECRET_KEY. The suite sets its own key
# (pyproject.toml, [tool.pytest.ini_options] env) and runs with DEBUG off.
DEV := DEBUG=$${DEBUG:-1}

.PHONY: run test check lint format lock migrate demo worker beat replay bench-ingest e2e-deps clean

# The lock first (hashes checked), then the project itself without resolving
# anything: what runs is exactly what the lock says. Its build backend is in
# the lock too, so nothing unpinned is fetched to build it.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## lock: re-resolve $(LOCK) after a change to pyproject.toml's dependencies, keeping
## the other pins; `make lock UPGRADE=1` moves every pin to the newest allowed
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'pip-tools>=7.4,<8'
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --extra dev \
	  --generate-hashes --allow-unsafe --all-build-deps --strip-extras \
	  --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) \
	  --output-file $(LOCK) pyproject.toml

## run: install, migrate, load the demo and serve http://$(HOST):$(PORT) (SQLite, no services)
run: $(STAMP)
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py demo --if-empty
	@echo ""
	@echo "  Modelboard:  http://$(HOST):$(PORT)/"
	@echo "  API (v3):    http://$(HOST):$(PORT)/api/v3/leaderboard"
	@echo "  Admin:       http://$(HOST):$(PORT)/admin/  (login: admin / modelboard)"
	@echo ""
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

## test: lint, migration and system checks, then the whole suite
test: $(STAMP) check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(DEV) $(BIN)/python manage.py check
	$(DEV) $(BIN)/python manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP)
	$(DEV) $(BIN)/python manage.py migrate

demo: $(STAMP)
	$(DEV) $(BIN)/python manage.py demo --reset

## worker / beat: Celery, with REDIS_URL set
worker: $(STAMP)
	$(DEV) $(BIN)/celery -A registry worker -Q default,refresh,webhooks_priority,webhooks -l info

beat: $(STAMP)
	$(DEV) $(BIN)/celery -A registry beat -l info

## replay: serve the demo Hub on :8900 (HF_ENDPOINT=http://127.0.0.1:8900 make ... to use it)
replay: $(STAMP)
	$(DEV) $(BIN)/python manage.py hub_replay --demo --port 8900

## bench-ingest: time a 100k-model ingest (set DATABASE_URL for PostgreSQL)
bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

## e2e-deps: the headless Chromium that tests/e2e drives (Debian's package; apt needs root)
e2e-deps:
	@if command -v chromium >/dev/null 2>&1; then \
	  echo "chromium: $$(command -v chromium)"; \
	else \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	    || { echo "could not install chromium: run 'make e2e-deps' as root" >&2; exit 1; }; \
	fi

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
