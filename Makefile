# mamori — two commands matter: `make demo` and `make test` (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check venv clean bench bench-peers system-deps

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m compileall -q src   # bytecode even where PYTHONDONTWRITEBYTECODE is set
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@echo "== mamori scan examples/insecure: a small shop app with the usual mistakes =="
	-$(BIN)/mamori scan --config examples/mamori.yaml examples/insecure
	@echo
	@echo "== mamori scan examples/hardened: the same app under the same policy, hardened =="
	$(BIN)/mamori scan --config examples/mamori.yaml examples/hardened
	@echo
	@echo "== the policy gate (examples/mamori.yaml: fail-on medium) =="
	@$(BIN)/mamori scan --config examples/mamori.yaml --format sarif --output /dev/null examples/insecure; echo "insecure: exit $$? (1 = blocked)"
	@$(BIN)/mamori scan --config examples/mamori.yaml --format sarif --output /dev/null examples/hardened; echo "hardened: exit $$? (0 = allowed)"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

# Debian packages the end-to-end tests use (a Docker Engine, busybox-static for test images);
# installed only when missing, needs root. The tests start their own private daemons.
system-deps:
	bash scripts/install-system-deps.sh

test: $(STAMP) lint typecheck system-deps
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

-include bench/bench.mk
