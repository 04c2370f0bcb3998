# The project's commands. `make test` and `make demo` work on a fresh machine with Python 3.11+:
# they create .venv and install the project into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: venv browser java test lint demo bench-load bench-serve bench-ingest bench-outage bench-scale bench-scale-quick bench-profile clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

venv: $(STAMP)

# the dashboard's browser test drives Debian's chromium through playwright's Python package (the test extra);
# `playwright install` is never run: it downloads browsers, and the system's chromium is used instead
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# `recs train --engine spark` (and its test) runs pyspark (the spark extra) on a Java runtime: Debian's
# headless JRE, installed only where no `java` is found
java:
	@command -v java >/dev/null 2>&1 || { \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			openjdk-17-jre-headless; }

test: venv browser java
	$(BIN)/ruff check recommender training serving tests benchmarks
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check recommender training serving tests benchmarks
	$(BIN)/ruff format --check recommender training serving tests benchmarks

demo: venv
	$(BIN)/recs demo

bench-load: venv
	$(BIN)/python -m benchmarks.load_speed

bench-serve: venv
	$(BIN)/python -m benchmarks.serve_speed

bench-ingest: venv
	$(BIN)/python -m benchmarks.event_ingest

bench-outage: venv
	$(BIN)/python -m benchmarks.redis_outage

bench-scale: venv
	$(BIN)/python -m benchmarks.scale --completejourney
	$(BIN)/python -m benchmarks.scale_spark --sizes 1,4

bench-scale-quick: venv
	$(BIN)/python -m benchmarks.scale --quick

bench-profile: venv
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.scale --sizes 2 --profile

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
