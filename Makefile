# kinko: `make demo` and `make test` bootstrap everything they need on first use; `make check`
# is the fast loop while changing code (`make help` lists the targets).
PYTHON ?= python3
# Python writes its bytecode caches (__pycache__, ignored by git) even where the environment
# asks it not to: without them each of the suite's hundreds of Python processes compiles
# every module it imports again (`kinko --help`: 1.8 s with them, 4.9 s without)
unexport PYTHONDONTWRITEBYTECODE
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)

.PHONY: help all demo check test lint typecheck unit bench clean sysdeps softhsm catalogs messages
.DEFAULT_GOAL := help

help:
	@echo "make demo       the Coincheck theft replayed against a demo exchange of 260,000 customers"
	@echo "make catalogs   compile the message catalogs (.po to .mo; every target does it)"
	@echo "make messages   add the message ids the code uses to both catalogs, then check them"
	@echo "make check      the fast loop: lint, types and the tests not marked slow (about a minute)"
	@echo "make test       everything: lint, types and every test (PostgreSQL, anvil, Chromium)"
	@echo "make lint       ruff and the layering contracts (import-linter)"
	@echo "make typecheck  mypy --strict"
	@echo "make unit       every test, without lint and types"
	@echo "make bench      the benchmarks; rewrites benchmarks/RESULTS.md"
	@echo "make clean      remove the virtual environment, node_modules, demo output and caches"
	@echo "make all        the virtual environment and the compiled catalogs (no test, no demo)"
	@echo "make sysdeps    the Debian packages the PDF report, Spark and the browser tests need"
	@echo "make softhsm    SoftHSM2, the PKCS#11 token the HSM tests and the demo use"

# The packages are installed by uv (itself pinned in constraints.txt, installed by pip): on 2
# cores it installs them in about 40 s where pip takes 70-100 s, mostly building pyspark's
# wheel. No cache: a second copy of the 1.6 GB environment is not kept on disk.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt uv
	$(BIN)/uv pip install --quiet --no-cache --system-certs --python $(BIN)/python \
	  -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# The message catalogs (every word kinko shows, English and Japanese): gettext .po files,
# compiled to .mo by Babel (kinko compiles a missing or stale one in memory too).
# `make messages` adds the ids the code uses to both catalogs, to be filled in, and checks.
PO := $(wildcard src/kinko/locale/*/LC_MESSAGES/kinko.po)
MO := $(PO:.po=.mo)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel --quiet compile --domain kinko --input-file $< --output-file $@

catalogs: $(MO)

all: $(STAMP) catalogs

messages: $(STAMP)
	$(BIN)/python -m kinko.i18n.catalogs add
	$(BIN)/python -m kinko.i18n.catalogs check

NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | sha1sum | cut -c1-12)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@rm -f node_modules/.installed-*
	@touch $(NODE_STAMP)

# the FSA report's PDF: WeasyPrint needs Pango; Japanese needs a CJK font (the CSS names
# IPAexGothic first). Installed from Debian once, when missing; quiet and idempotent.
SYSDEPS := fontconfig fonts-ipaexfont-gothic libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0

# The trace's Spark engine (pyspark) runs on a Java runtime: Debian's, installed once, when
# missing.
JAVA := openjdk-17-jre-headless

# The dashboard's browser tests (tests/e2e) drive Debian's Chromium headless through
# Playwright (its own browser download does not work here): installed once, when missing.
BROWSER := /usr/bin/chromium

sysdeps:
	@(command -v fc-list >/dev/null && fc-list :family=IPAexGothic family | grep -q . \
	  && ldconfig -p | grep -q libpangoft2-1.0) || (apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  $(SYSDEPS) >/tmp/kinko-apt.log 2>&1 || (cat /tmp/kinko-apt.log >&2; exit 1))
	@command -v pdftotext >/dev/null || (apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  poppler-utils >/tmp/kinko-apt.log 2>&1 || (cat /tmp/kinko-apt.log >&2; exit 1))
	@command -v java >/dev/null || (apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  $(JAVA) >/tmp/kinko-apt.log 2>&1 || (cat /tmp/kinko-apt.log >&2; exit 1))
	@test -x $(BROWSER) || (apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  chromium >/tmp/kinko-apt.log 2>&1 || (cat /tmp/kinko-apt.log >&2; exit 1))

# Keys in an HSM: the tests, the benchmarks and the demo use SoftHSM2 (a PKCS#11 token in
# files) from Debian, each in a token directory of its own; installed once, when missing.
SOFTHSM := /usr/lib/softhsm/libsofthsm2.so

# after sysdeps: Debian's installs one at a time (they share dpkg's lock), when `make test`
# bootstraps its parts side by side
softhsm: sysdeps
	@test -e $(SOFTHSM) && command -v softhsm2-util >/dev/null || (apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  softhsm2 >/tmp/kinko-apt.log 2>&1 || (cat /tmp/kinko-apt.log >&2; exit 1))

demo: $(STAMP) catalogs sysdeps softhsm
	$(BIN)/kinko demo

lint: $(STAMP) catalogs
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP) catalogs
	$(BIN)/mypy

unit: $(STAMP) catalogs $(NODE_STAMP) sysdeps softhsm
	$(BIN)/pytest -q -n 2 --dist loadgroup

# The bootstrap's parts (the virtual environment, npm's packages, Debian's) are made side by
# side, mostly downloads; then mypy runs beside the linters and the tests (one process,
# while they keep both cores busy): it costs the suite about half its own time, not all of it
test:
	@$(MAKE) --no-print-directory -j3 lint typecheck unit

# the tests that need no service (PostgreSQL, anvil, Chromium) and take at most a few seconds;
# which are slow is decided in tests/fastloop.py and by @pytest.mark.slow
check: lint typecheck $(NODE_STAMP) sysdeps softhsm
	$(BIN)/pytest -q -n 2 --dist loadgroup -m "not slow"

bench: $(STAMP) catalogs $(NODE_STAMP) softhsm sysdeps
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) node_modules demo .pytest_cache .mypy_cache .ruff_cache $(MO)
