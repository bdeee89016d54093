# Boxes — the two commands of README.md are `make run` and `make test`; the rest are their steps.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup install assets translations migrate demo bench lint extract-messages clean

run: setup migrate
	$(BIN)/boxes run

test: setup
	$(BIN)/python -m pytest

setup: install assets translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Front-end assets from the npm registry (package-lock.json pins them), copied into the
# git-ignored static/vendor/. Nothing is ever loaded from a CDN. (axe-core, a devDependency, stays in
# node_modules/: the accessibility tests inject it into the pages they check.)
static/vendor/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor/htmx static/vendor/bootstrap
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/css/bootstrap.min.css.map static/vendor/bootstrap/
	touch $@

assets: static/vendor/.stamp

translations: install
	$(BIN)/pybabel -q compile -d boxes/translations

extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 --no-location -o boxes/translations/messages.pot .
	$(BIN)/pybabel update -i boxes/translations/messages.pot -d boxes/translations --no-fuzzy-matching

migrate: install
	$(BIN)/boxes db upgrade

demo: migrate
	$(BIN)/boxes demo

# Benchmarks on PostgreSQL (BOXES_BENCH_DATABASE_URL, default the local server); SCALE=group for the big one.
# Board lists and badges vs their raw SQL, then DMS ingest vs COPY, then the campaign manager, then the
# OEM simulator's raw feed read and bare status endpoint (the references of the OEM import and relay).
# Each prints medians and ratios measured in the same run (docs/benchmarks.md).
bench: setup
	$(BIN)/python -m bench $(if $(SCALE),--scale $(SCALE),)
	$(BIN)/python -m bench.ingest --sizes 50000,200000
	$(BIN)/python -m bench.campaigns
	$(BIN)/python -m bench.oem

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) node_modules static/vendor
