# mamori — two commands matter: `make demo` and `make test` (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check venv clean bench bench-peers

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@echo "== mamori scan examples/insecure (a project with the usual mistakes) =="
	-$(BIN)/mamori scan --no-config examples/insecure
	@echo
	@echo "== mamori scan examples/hardened (the same project, hardened) =="
	$(BIN)/mamori scan --no-config examples/hardened
	@echo
	@echo "== exit code with --fail-on high: 1 for insecure, 0 for hardened =="
	-$(BIN)/mamori scan --no-config --fail-on high --format json --output /dev/null examples/insecure; echo "insecure: exit $$?"
	$(BIN)/mamori scan --no-config --fail-on high --format json --output /dev/null examples/hardened; echo "hardened: exit $$?"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

test: $(STAMP) lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

-include bench/bench.mk
