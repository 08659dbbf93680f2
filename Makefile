# Two commands do everything on a fresh Debian machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CJ := $(VENV)/bin/chengjian
# Debian packages the project needs on the machine (installed when missing).
DEB_PACKAGES := postgresql-15 postgresql-15-postgis-3 gdal-bin chromium fonts-noto-cjk poppler-utils poppler-data zbar-tools
# `make run` is a developer's map: anonymous visitors may read every layer (read-only). A task-queue worker runs
# beside the app (scheduled jobs: experts' deadline reminders, overdue-report site statuses; exports, imports) with
# the modules' long-running services (the HJ 212 listener on CHENGJIAN_HJ212_PORT, 9212, and a small simulator of
# CHENGJIAN_HJ212_DEMO_MONITORS monitors so readings move); Ctrl-C stops both.
RUN_ENV := CHENGJIAN_ANONYMOUS_ROLES=$${CHENGJIAN_ANONYMOUS_ROLES:-leader} \
	CHENGJIAN_HJ212_DEMO_MONITORS=$${CHENGJIAN_HJ212_DEMO_MONITORS:-20}

.PHONY: run test lint stop install system-deps db demo bench clean-var

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	@touch $@

install: $(VENV)/.installed

system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# node and npm run the tests' OpenID provider and MapLibre's style validator; any recent Node.js will do (a
	@# machine may have it from elsewhere than Debian, whose npm package would conflict with it).
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "installing Debian packages: nodejs npm"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; \
	fi

db: install system-deps
	$(CJ) db start
	$(CJ) db migrate

demo: db
	$(CJ) demo --if-empty

run: demo
	@$(RUN_ENV) $(CJ) worker --services & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(RUN_ENV) $(CJ) serve

# Style and the shape of the code: ruff (lint + format), import-linter contracts (core below, modules on top),
# type checks of the core and the tiles (mypy).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy geo tiles

test: lint system-deps
	$(PY) -m pytest -q

stop:
	-$(CJ) db stop
	-@test -d var/test-pg && $(PY) -c "from geo.cluster import Cluster; Cluster('var/test-pg').stop()" || true

# Benchmarks print ratios to baselines measured in the same run (each takes minutes; tiles ~20 min).
bench: db
	$(PY) bench/storage.py
	$(PY) bench/import_points.py
	$(PY) bench/geofence.py
	$(PY) bench/tiles.py
	$(PY) -m bench.sewage
	$(PY) -m bench.registers
	$(PY) -m bench.drawing_review
	$(PY) bench/villages.py
	$(PY) bench/county_push.py
	$(PY) bench/provincial.py
