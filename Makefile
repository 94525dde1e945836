# gatewayd: `make run` runs the daemon on config.toml; `make test` installs what the tests need
# and runs them all. Both work from a fresh clone on Debian with Python 3.11+.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the end-to-end tests start for real (installed only where missing).
DEBIAN_TEST_PACKAGES := swaks dovecot-imapd openssl procps postgresql postfix
# Where `make install-service` puts the program, the config and the data (docs/OPERATIONS.md).
PREFIX ?= /opt/gatewayd
CONFIG_DIR ?= /etc/gatewayd
STATE_DIR ?= /var/lib/gatewayd

# Compiled modules are kept under .venv, even where the environment says not to write them: each
# daemon, worker and command the tests start imports the project again, and compiling it from
# source every time took a good part of each start's CPU.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache

.PHONY: run test install test-deps system-deps lint unit e2e bench clean install-service

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
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test-deps: $(VENV)/.test-installed system-deps

lint: test-deps
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict parsers routing

# The end-to-end tests mostly wait on servers: two workers halve their time. Each module stays on
# one worker (--dist loadfile), with its own daemon, ports and temporary folders. The unit tests
# are independent of each other and use both cores.
E2E_WORKERS ?= 2
UNIT_WORKERS ?= 2

# In this order: make runs the prerequisites one after another, as listed.
test: lint unit e2e

unit: test-deps
	$(PY) -m pytest -q -m "not e2e" -n $(UNIT_WORKERS)

e2e: test-deps
	$(PY) -m pytest -q -m e2e -n $(E2E_WORKERS) --dist loadfile

bench: test-deps
	$(PY) bench/smtp_intake.py

# As root: the gatewayd user, the program in $(PREFIX), the config in $(CONFIG_DIR) (kept when
# there), the data in $(STATE_DIR), and the systemd unit, started.
install-service:
	id -u gatewayd >/dev/null 2>&1 || useradd --system --home-dir $(STATE_DIR) \
	    --shell /usr/sbin/nologin gatewayd
	install -d -o gatewayd -g gatewayd -m 0750 $(STATE_DIR)
	install -d -m 0755 $(CONFIG_DIR)
	[ -e $(CONFIG_DIR)/config.toml ] || install -m 0640 -g gatewayd config.toml $(CONFIG_DIR)/
	ln -sfn $(STATE_DIR) $(CONFIG_DIR)/var
	$(PYTHON) -m venv $(PREFIX) && $(PREFIX)/bin/pip install --quiet .
	sed -e 's#/opt/gatewayd#$(PREFIX)#g' -e 's#/etc/gatewayd#$(CONFIG_DIR)#g' \
	    -e 's#/var/lib/gatewayd#$(STATE_DIR)#g' deploy/gatewayd.service \
	    > /etc/systemd/system/gatewayd.service
	systemctl daemon-reload
	systemctl enable --now gatewayd

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
