# gatewayd: `make run` runs the daemon on config.toml; `make test` installs what the tests need
# and runs them all. Both work from a fresh clone on Debian with Python 3.11+.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the end-to-end tests start for real (installed only where missing).
DEBIAN_TEST_PACKAGES := swaks dovecot-imapd openssl procps postgresql

.PHONY: run test install test-deps system-deps lint unit e2e bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) gatewayd.py run --config config.toml

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test-deps: $(VENV)/.test-installed system-deps

lint: test-deps
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict parsers routing

test: test-deps lint
	$(PY) -m pytest -q

unit: test-deps
	$(PY) -m pytest -q -m "not e2e"

e2e: test-deps
	$(PY) -m pytest -q -m e2e

bench: test-deps
	$(PY) bench/smtp_intake.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
