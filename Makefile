# TradeX: `make run` sets everything up and runs the ledger on its embedded default;
# `make test` sets everything up and runs the whole test suite. Both are safe to re-run.

VENV   ?= .venv
PYTHON ?= python3
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PG_DEB ?= postgresql-15

.PHONY: run test setup system-deps lint simulate bench-engine clean

run: setup
	$(VENV)/bin/tradex run

test: setup
	$(VENV)/bin/pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench-engine: setup
	$(VENV)/bin/tradex bench engine

setup: system-deps $(STAMP)

# PostgreSQL server binaries (initdb, pg_ctl) for the embedded store and the integration tests, and
# wrk, the HTTP load generator of `tradex bench api`.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing $(PG_DEB)"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
