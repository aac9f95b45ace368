# Distributor Rollout for Airflow: every command a developer or CI needs.
# `make help` lists the targets; each installs what it needs first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# The live layer (tests/live): extra pytest arguments, and how many happy runs `make soak` makes.
LIVE_ARGS ?=
SOAK_RUNS ?= 100
# make rehearse / make ui: the plan (a name in include/rollouts/ or a plan file), awssim's
# organization (demo, field, synthetic:N or an org file) and fault scenario (a shipped name or a
# scenario file); make demo takes the scenario. The clock speeds are x real time.
PLAN ?= examplepackage
ORG ?= demo
SCENARIO ?= happy
DEMO_SPEED ?= 300
SPEED ?= $(DEMO_SPEED)
UI_PORT  ?= 8080
UI_SPEED ?= 60
# Locks resolve as PyPI stood on this date; `make upgrade LOCK_DATE=...` moves it forward.
LOCK_DATE ?= 2026-11-27T00:00:00Z
UV_COMPILE = $(BIN)/uv pip compile --python-version 3.11 --universal --no-header \
	--annotation-style=line --exclude-newer $(LOCK_DATE) --quiet

.DEFAULT_GOAL := help
.PHONY: help install live-deps screenshot test lint format typecheck unit live soak lock upgrade dist clean bench demo rehearse ui

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml include/awssim/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.txt -r requirements-dev.txt
	@# The two distributions, editable: distributor-rollout (plugins/distributor_rollout, with
	@# its Airflow plugin entry point) and awssim (include/awssim, with its pytest fixtures),
	@# built by the locked hatchling. (Earlier checkouts put plugins/ and include/ on the path
	@# with a .pth file; it goes.)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . -e include/awssim
	@rm -f $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/distributor_rollout_paths.pth
	$(BIN)/python -m pip check
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned locks (reuses an up-to-date .venv)

# The live layer needs two programs from Debian's packages: chromium with its chromedriver (same
# source version, so they always match; Selenium is given both paths and downloads nothing)
# for the browser tests, and PostgreSQL's server for the metadata DB of its Airflow stack. The
# build benchmark (make bench, and its --quick run in make test) compares with Info-ZIP's zip.
CHROMIUM     := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
LIVE_PACKAGES := chromium chromium-driver postgresql zip
live-deps: ## Install Debian's chromium, chromium-driver, postgresql (live layer) and zip (build benchmark) when missing (apt-get, as root)
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		&& command -v zip >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(LIVE_PACKAGES); \
	else \
		echo "The live layer (tests/live) needs Debian's $(LIVE_PACKAGES)" \
			"($(CHROMIUM), $(CHROMEDRIVER), /usr/lib/postgresql/<version>/bin):" \
			"run 'sudo apt-get install $(LIVE_PACKAGES)' (or 'make live-deps' as root)." >&2; \
		exit 1; \
	fi

lint: $(STAMP) ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy (strict on core)
	$(BIN)/mypy

# The live layer runs after the rest, as its own session (one Airflow stack, the whole
# machine); it runs even when the others failed, and either failing fails the target.
# The xdist run times tests out from a thread: pytest-timeout's default SIGALRM timer never
# fires in a test that parses DAG files in-process (every DagBag import runs under Airflow's
# own SIGALRM timeout, whose exit sets ITIMER_REAL to 0, cancelling pytest's), and a hung
# dag.test() rehearsal once sat there for ten minutes. The thread dumps every stack and
# ends the worker: xdist reports that test failed, with the stacks, and starts another.
test: lint typecheck live-deps ## Install, then lint, type-check and run the whole test suite (the live layer last)
	@status=0; \
	$(BIN)/python -m pytest -n 2 -m "not live" -o timeout_method=thread $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/python -m pytest tests/live $(LIVE_ARGS) || status=$$?; \
	exit $$status

unit: $(STAMP) ## Only the unit tests (fast, no network)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

live: $(STAMP) live-deps ## Only the live layer: real API server, scheduler, dag-processor, triggerer on awssim, over REST
	$(BIN)/python -m pytest tests/live $(LIVE_ARGS)

screenshot: $(STAMP) live-deps ## Refresh README's picture of the Rollout tab (tests/live/screenshots/rollout-tab.png) from the browser tests
	@mkdir -p tests/live/screenshots
	README_SCREENSHOT=$(CURDIR)/tests/live/screenshots/rollout-tab.png \
		$(BIN)/python -m pytest tests/live/test_live_ui.py -k rolled_back $(LIVE_ARGS)

soak: $(STAMP) ## The live layer's happy runs, SOAK_RUNS (100) of them, five plans side by side; not in make test
	LIVE_HAPPY_RUNS=$(SOAK_RUNS) $(BIN)/python -m pytest tests/live/test_live_rollouts.py -k happy $(LIVE_ARGS)

demo: $(STAMP) ## A whole staged rollout on an embedded awssim (SCENARIO=canary-failure|stackset-failure|throttling|unmanaged-nodes|offline-rollback)
	$(BIN)/python -m rollout_demo --scenario $(SCENARIO) --speed $(DEMO_SPEED)

# make demo with any plan, organization and scenario: checked against each other first (every
# OU the plan names must be in the organization), then the same run, progress and report.
rehearse: $(STAMP) ## Rehearse a plan on an embedded awssim as make demo does (PLAN=, ORG=, SCENARIO=: names or files; SPEED=)
	$(BIN)/python -m rollout_demo --plan "$(PLAN)" --org "$(ORG)" --scenario "$(SCENARIO)" \
		--speed $(SPEED)

# The UI opens on a finished demo run of PLAN, recorded at DEMO_SPEED before the components
# start (it replaces the one the last make ui recorded); the session then runs at UI_SPEED.
ui: $(STAMP) ## Airflow standalone + awssim, opening on a finished demo run; UI on http://127.0.0.1:8080 (PLAN=, ORG=, SCENARIO=, UI_PORT=, UI_SPEED=, DEMO_SPEED=)
	$(BIN)/python -m rollout_demo.ui --port $(UI_PORT) --plan "$(PLAN)" --org "$(ORG)" \
		--scenario "$(SCENARIO)" --speed $(UI_SPEED) --demo-run --demo-speed $(DEMO_SPEED)

# Every bench/*.py but the shared benchlib.py; BENCH_ARGS (for example --quick) goes to each.
BENCH_ARGS ?=
BENCH_SCRIPTS = $(filter-out bench/benchlib.py,$(sort $(wildcard bench/*.py)))
bench: $(STAMP) ## Run the benchmarks in bench/: each figure against its same-run baseline and budget (BENCH_ARGS=--quick: a smoke run)
	@status=0; for script in $(BENCH_SCRIPTS); do echo "== $$script"; \
		$(BIN)/python $$script $(BENCH_ARGS) || status=1; done; exit $$status

lock: $(STAMP) ## Re-lock after editing a .in file, keeping every pin the inputs did not change
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-dev.in -o requirements-dev.txt

upgrade: $(STAMP) ## Re-resolve both locks from scratch as PyPI stood on LOCK_DATE
	$(UV_COMPILE) --upgrade requirements.in -o requirements.txt
	$(UV_COMPILE) --upgrade requirements-dev.in -o requirements-dev.txt

dist: $(STAMP) ## Build both wheels (distributor-rollout, awssim) into dist/
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist . include/awssim
	@ls dist/*.whl

clean: ## Remove caches (keeps .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
