# The README's two commands: `make run` and `make test`. Everything else is a helper.
# `make run` installs the runtime packages only; `make test` and `make bench` add their tools.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUN_STAMP   := $(VENV)/.installed-run
TEST_STAMP  := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test lint bench clean-data

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	@echo "==> install: creating $(VENV)"
	@$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(PY)
	@echo "==> install: runtime packages into $(VENV) (the first time: a minute or two; pip lists each one)"
	$(PY) -m pip install -e .
	@touch $@
	@echo "==> install: done"

$(TEST_STAMP): $(RUN_STAMP)
	@echo "==> install: test tools (pytest, hypothesis, playwright, ruff ...)"
	$(PY) -m pip install -e '.[test]'
	@touch $@

$(BENCH_STAMP): $(RUN_STAMP)
	@echo "==> install: benchmark tools"
	$(PY) -m pip install -e '.[bench]'
	@touch $@

## start on the embedded default (or DATABASE_URL / REDIS_URL when set), demo loaded
run: $(RUN_STAMP)
	$(VENV)/bin/opdq dev

## the whole suite, against TEST_DATABASE_URL / TEST_REDIS_URL when set, else embedded servers
test: $(TEST_STAMP)
	$(VENV)/bin/ruff check server workers tests bench
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check server workers tests bench

bench: $(BENCH_STAMP)
	$(PY) -m bench.run

clean-data:
	rm -rf .opdq
