# webchat-server: `make run` serves the demo on http://127.0.0.1:8080, `make test` runs every test.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: run test test-fast lint fmt bench install web engines clean test-deploy wheel-smoke

run: install web  ## serve the demo page with an embedded Postgres, the demo bot and demo sign-in
	$(BIN)/webchat-server serve --demo

test: install web engines  ## everything: unit, widget units, API, real-time, scale-out and browser tests (Chromium, Firefox, WebKit)
	node --test tests/web/*.test.js
	$(BIN)/pytest -q

test-fast: install web  ## the unit floor, the widget's pure units (node --test) and the API tests without browsers: under a minute
	node --test tests/web/*.test.js
	$(BIN)/pytest -q -n 4 -m "not browser and not slow"

lint: install  ## mypy --strict and ruff
	$(BIN)/mypy webchat_server
	$(BIN)/ruff check webchat_server tests bench docs
	$(BIN)/ruff check setup.py .ci/wheel_smoke.py

test-deploy: install web  ## nginx + TLS in front of two servers, Gunicorn workers, rolling restart (in make test too)
	$(BIN)/pytest -q tests/test_deploy.py

wheel-smoke:  ## build wheel + sdist from a clean clone of HEAD, install outside the repo, smoke-test (CI runs it)
	PYTHON=$(PYTHON) bash .ci/wheel-smoke

fmt: install  ## apply ruff's fixes
	$(BIN)/ruff check --fix webchat_server tests bench docs

bench: install web  ## load generators; each prints one JSON summary
	$(BIN)/python -m bench.run_all

install: $(VENV)/.installed  ## virtualenv with pinned dependencies

web: web/node_modules/.installed  ## Lit + esbuild from npm (pinned by web/package-lock.json); bundles web/webchat.js
	npm --prefix web run build --silent

engines: tests/engines/node_modules/.installed  ## puppeteer-core (drives Firefox in tests), pinned

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

tests/engines/node_modules/.installed: tests/engines/package.json tests/engines/package-lock.json
	cd tests/engines && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:  ## remove the virtualenv, node_modules and the demo database
	rm -rf $(VENV) web/node_modules tests/engines/node_modules .webchat-data .mypy_cache .ruff_cache .pytest_cache
