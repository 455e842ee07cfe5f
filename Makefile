# The pipeline stages. `make run` is the main job; `make test` is what CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install browser lint typecheck unit bench load report gate lab clean

RUN ?= latest

run: install ## the main job: benchmarks, a load run, the reports and the gate, one results/runs/<run-id>/
	$(BIN)/perf run

# (Re)install when the venv is missing or pyproject.toml changed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Chromium (Debian package) for the real-browser test of the reports; idempotent and quiet.
# Needs root (CI runs .ci/run as root); without Chromium that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-dejavu-core >/dev/null; }
	@chromium --version

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

lab: install ## explore the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .benchmarks
