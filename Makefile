# The README's two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean-data

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

## start on the embedded default (or DATABASE_URL / REDIS_URL when set), demo loaded
run: $(STAMP)
	$(VENV)/bin/opdq dev

## the whole suite, against TEST_DATABASE_URL / TEST_REDIS_URL when set, else embedded servers
test: $(STAMP)
	$(VENV)/bin/ruff check server workers tests bench
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check server workers tests bench

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench.run

clean-data:
	rm -rf .opdq
