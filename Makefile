# One command per habit. Every target that runs code creates the virtual environment first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-installed-stamp
ARGS   ?=
STRICT ?=

.PHONY: help venv ingest test soak lint stats report bench lock clean lake lake-ingest lake-compact

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@mkdir -p logs
	@touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the pinned dependencies

ingest: $(STAMP)  ## fetch the sites (or use the archive offline) and rebuild the warehouse; STRICT=1 fails on any fetch problem
	$(PY) -m pipeline ingest $(if $(STRICT),--strict) $(ARGS)

WORKERS ?= 4
LAKE_SPEC = $$(cat warehouse/lake.spec)

lake: $(STAMP)  ## start a local PostgreSQL for a DuckLake warehouse (apt-get install postgresql); prints its --warehouse value
	$(PY) -m pipeline lake start

lake-ingest: $(STAMP)  ## WORKERS ingest workers (default 4) split the sources and load the lake at once, then one dedup pass
	$(PY) -m pipeline lake workers -n $(WORKERS) --warehouse "$(LAKE_SPEC)" $(ARGS)

lake-compact: $(STAMP)  ## merge the lake's small files, expire snapshots older than an hour
	$(PY) -m pipeline lake compact --warehouse "$(LAKE_SPEC)" $(ARGS)

stats: $(STAMP)  ## what the warehouse holds, per source and kind
	$(PY) -m pipeline stats $(ARGS)

test: $(STAMP)  ## run the test suite on two workers, pyproject's -n auto (real DuckDB files, PostgreSQL and HTTP on 127.0.0.1)
	$(PY) -m pytest $(ARGS)

soak: $(STAMP)  ## the nightly soak over 30 nights of drift, a rebuild compared every third (make test runs 12)
	IOM_SOAK_NIGHTS=30 IOM_SOAK_REBUILD_EVERY=3 $(PY) -m pytest -n 0 tests/test_nightly_soak.py $(ARGS)

report: $(STAMP)  ## write the run report (one self-contained HTML page) to reports/report.html
	$(PY) -m pipeline report --out reports/report.html $(ARGS)

lint: $(STAMP)  ## ruff (style, imports, complexity) and mypy (types of pipeline/ and parsers/)
	$(PY) -m ruff check .
	$(PY) -m mypy

# the peers the benchmarks measure against (Scrapy, BeautifulSoup): requirements-bench.lock, a superset
# of requirements.lock with the same pins; never installed by venv/test
$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(PY) -m pip install --quiet -r requirements-bench.lock
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## benchmarks, printed as ratios against the peers users would pick, measured in the same run
	$(PY) -m bench $(ARGS)

lock:  ## re-pin requirements.lock and requirements-bench.lock from pyproject.toml (needs uv)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 \
		-c requirements.lock -o requirements-bench.lock

clean:  ## remove the virtual environment and caches (never raw/ or the warehouse)
	rm -rf $(VENV) .pytest_cache .ruff_cache
