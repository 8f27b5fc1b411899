# The two commands of the README, and the few others a developer wants.
# Each installs what it needs: uv (into .tools/ when it is not on PATH), then the locked deps.

UV_VERSION := 0.13.8
SYSTEM_UV := $(shell command -v uv 2>/dev/null)
ifeq ($(SYSTEM_UV),)
UV := $(CURDIR)/.tools/bin/uv
else
UV := $(SYSTEM_UV)
endif
PYTEST_WORKERS ?= 2
# Where `make run`, `make serve` and `make walkthrough` listen / look: `make run PORT=8011`.
HOST ?= 127.0.0.1
PORT ?= 8000
# Running the service installs only what it needs (the project's dependencies, no dev group);
# `uv run` syncs inexactly, so what `make test` installed stays. The test targets install the rest.
RUN := $(UV) run --frozen --no-dev

.PHONY: run serve walkthrough test lint format bench migrate clean fuzz

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

uv: $(UV)

run: $(UV)  ## the demo: the API on embedded defaults (SQLite + in-process Redis) at HOST:PORT, seeded
	$(RUN) healthbook demo --host $(HOST) --port $(PORT)

serve: $(UV)  ## the API on embedded defaults, without the demo
	$(RUN) healthbook serve --host $(HOST) --port $(PORT)

walkthrough: $(UV)  ## the whole demo story over HTTP, against the demo `make run` started
	$(RUN) healthbook demo --walkthrough --host $(HOST) --port $(PORT)

test: $(UV)  ## the whole suite, on SQLite/fakeredis and on the PostgreSQL/Redis servers when reachable
	$(UV) sync --frozen --quiet
	$(UV) run --frozen pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(UV)  ## ruff, the type checker ([tool.basedpyright]) and the layering contracts ([tool.importlinter])
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen basedpyright
	$(UV) run --frozen lint-imports

format: $(UV)
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

bench: $(UV)  ## loopback benchmarks against PostgreSQL + Redis (needs wrk: apt-get install -y wrk)
	@command -v wrk >/dev/null || (apt-get install -y wrk || (apt-get update && apt-get install -y wrk))
	$(UV) run --frozen python -m bench.run $(BENCH_ARGS)

FUZZ_MAX_EXAMPLES ?= 25
FUZZ_STATEFUL_STEPS ?= 20
fuzz: $(UV)  ## the schemathesis run, longer (FUZZ_BACKEND=servers, FUZZ_SERVED=1: see README)
	$(UV) sync --frozen --quiet
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) FUZZ_STATEFUL_STEPS=$(FUZZ_STATEFUL_STEPS) \
		FUZZ_TIMEOUT_SECONDS=7200 $(UV) run --frozen pytest -p no:cacheprovider -s \
		tests/integration/test_fuzz.py

migrate: $(UV)
	$(RUN) healthbook migrate

clean:
	rm -rf .tools .venv .pytest_cache .ruff_cache
