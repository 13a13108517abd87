# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-pg demo deps migrate bench bench-smoke translations clean

$(STAMP): requirements.txt tests/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r tests/requirements.txt
	touch $(STAMP)

## deps: create the virtualenv and install the requirements (what run and test do first)
deps: $(STAMP)

## run: migrate and start web, worker and clock (SQLite + embedded Redis unless DATABASE_URL/REDIS_URL are set)
run: $(STAMP)
	$(PY) -m integration.devserver

## demo: start everything on the sandbox (var/demo/), walk a return to its refund on Shopify and WooCommerce, check the result; ARGS=--keep to look around after
demo: $(STAMP)
	$(PY) -m sandbox.demo $(ARGS)

## test: lint for errors, then the whole suite (embedded SQLite + Redis unless DATABASE_URL/REDIS_URL are set)
test: $(STAMP)
	$(VENV)/bin/ruff check --quiet --select F,E9 integration adapters webhooks jobs sandbox benchmarks tests migrations
	$(PY) -m pytest -q tests

## test-pg: the suite against this machine's PostgreSQL and Redis
test-pg:
	DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 $(MAKE) test

## migrate: apply migrations to DATABASE_URL
migrate: $(STAMP)
	$(VENV)/bin/flask --app wsgi db upgrade

## bench: every benchmark side by side on this machine's PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL), and the targets
bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

## bench-smoke: the same at small sizes, in about two minutes (CI)
bench-smoke: $(STAMP)
	$(PY) -m benchmarks --smoke $(ARGS)

## translations: gather every translatable text into the fi/sv/en catalogues, then compile them (commit both)
translations: $(STAMP)
	mkdir -p var
	$(VENV)/bin/pybabel -q extract -F integration/translations/babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o var/messages.pot .
	for lang in fi sv en; do \
	  test -f integration/translations/$$lang/LC_MESSAGES/messages.po \
	    && $(VENV)/bin/pybabel -q update --no-fuzzy-matching -i var/messages.pot -d integration/translations -l $$lang \
	    || $(VENV)/bin/pybabel -q init -i var/messages.pot -d integration/translations -l $$lang; \
	done
	$(VENV)/bin/pybabel -q compile --use-fuzzy -d integration/translations

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
