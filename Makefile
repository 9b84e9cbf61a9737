# The two commands a newcomer needs: `make run` (portal with demo data) and `make test`.
# Only Python 3.11+ is required; everything else is installed into .venv.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | cksum | cut -d' ' -f1)
PORT ?= 8000

.PHONY: run test install lint format bench messages check-deploy clean

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

## Run the portal with demo data, a Celery worker and beat on http://127.0.0.1:$(PORT)
run: install
	DEBUG=true $(PY) manage.py migrate --no-input
	DEBUG=true $(PY) manage.py seed_demo --if-empty
	DEBUG=true $(PY) manage.py devserver --port $(PORT)

## Run the whole test suite (SQLite and an embedded broker, or DATABASE_URL / REDIS_URL when set)
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit -c pyproject.toml -r portal submissions feedback -ll -q

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Benchmarks; results are written up in docs/benchmarks.md
bench: install
	$(PY) -m bench

## Extract new strings into locale/nb/LC_MESSAGES/django.po and recompile django.mo (needs GNU gettext)
messages: install
	DEBUG=true $(PY) manage.py makemessages -l nb --ignore=.venv --ignore=var --ignore=static --ignore=tests --ignore=bench --no-wrap
	DEBUG=true $(PY) manage.py compilemessages -l nb --ignore=.venv

check-deploy: install
	DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	  ALLOWED_HOSTS=portal.example.no $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var .pytest_cache
