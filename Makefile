# The pipeline stages. `make run` is the main job; `make test` is what CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install browser iproute2 valgrind lint typecheck unit bench load report gate compare lab clean

RUN ?= latest
BASE ?= HEAD

run: install ## the main job: benchmarks, a load run, the reports and the gate, one results/runs/<run-id>/
	$(BIN)/perf run

# (Re)install when the venv is missing or pyproject.toml changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages some stages need, installed when their command is missing (root: CI runs
# .ci/run as root); idempotent and quiet, the apt log shown only on failure. Without one, the
# tests that need it skip and say why.
#   $(call debian,COMMAND,PACKAGES)
debian = @command -v $(1) >/dev/null 2>&1 || { \
	  log=$$(mktemp) && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $(2); } >"$$log" 2>&1 || \
	  { cat "$$log" >&2; rm -f "$$log"; exit 1; }; rm -f "$$log"; }

browser: ## Chromium, for the real-browser test of the reports
	$(call debian,chromium,chromium fonts-dejavu-core)
	@chromium --version 2>/dev/null

iproute2: ## iproute2's `ip`, for the multi-host test (network namespaces, root)
	$(call debian,ip,iproute2)
	@ip -V

valgrind: ## valgrind, for `perf compare --instructions`
	$(call debian,valgrind,valgrind)
	@valgrind --version

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest --benchmark-disable

test: lint typecheck unit

bench: install
	$(BIN)/perf bench

load: install
	$(BIN)/perf load

report: install ## the notebooks, executed against $(RUN): <run>/report/*.html + summary.md
	$(BIN)/perf report $(RUN)

gate: install ## $(RUN) against the targets: <run>/gate.json; exit 0 pass, 1 fail, 2 bad input
	$(BIN)/perf gate $(RUN)

compare: install ## the working tree against $(BASE), interleaved: exit 1 if anything is slower
	$(BIN)/perf compare $(BASE) --quick

# JupyterLab on the notebooks for any user, root included (containers run as root), on
# loopback only; it prints the URL (with its token) to open in a browser.
LAB_PORT ?= 8888
LAB_ROOT = $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

lab: install ## explore the notebooks in JupyterLab
	@echo "JupyterLab on notebooks/: point your browser at the http://127.0.0.1:.../lab?token=..."
	@echo "URL it prints below (port $(LAB_PORT), or the next free one); Ctrl-C stops it."
	$(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --port $(LAB_PORT) $(LAB_ROOT) --notebook-dir notebooks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .benchmarks
