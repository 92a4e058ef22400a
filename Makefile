# The two commands of README.md:
#   make book   build the HTML book into _build/html (notebooks executed in quick mode)
#   make test   unit tests, every notebook under nbval, browser tests over a fresh book
# Both create or update the virtual environment at .venv/ first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.capslib-installed

export CAPSLIB_MODE ?= quick
# The complete MNIST beside the clone (as on CI), unless CAPSLIB_DATA names another folder;
# without it the notebooks use the MNIST sample bundled with capslib (and say so).
ifeq ($(origin CAPSLIB_DATA),undefined)
ifneq ($(wildcard ../shared/data/mnist),)
export CAPSLIB_DATA := $(abspath ../shared/data)
endif
endif
# (No MPLBACKEND here: the book's kernels must use the inline backend, or figures vanish.)
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PYTHON

# The system packages each command needs, with a test for each: one list, also read by .ci/run.
SYSTEM_PACKAGES := .ci/system-packages.txt

# $(call system_packages,NEEDS,COMMAND): install the packages of $(SYSTEM_PACKAGES) needed by NEEDS
# ("book", "book test") that fail their test: as root, or with passwordless sudo, Debian's apt-get;
# otherwise stop with one line that names the packages and the command to install them.
define system_packages
missing=$$(while read -r pkg need check; do \
    case "$$pkg" in ""|\#*) continue;; esac; \
    case " $(1) " in *" $$need "*) sh -c "$$check" >/dev/null 2>&1 || printf '%s ' "$$pkg";; esac; \
  done < $(SYSTEM_PACKAGES)); \
missing=$${missing% }; \
[ -z "$$missing" ] && exit 0; \
if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
else echo "$(2): missing system package(s) $$missing; install with: sudo apt-get install -y --no-install-recommends $$missing" >&2; exit 1; fi; \
command -v apt-get >/dev/null 2>&1 || { echo "$(2): missing system package(s) $$missing and no apt-get here: install them with your package manager (a Chromium elsewhere: CHROMIUM=/path/to/chromium)" >&2; exit 1; }; \
echo "$(2): installing system package(s) $$missing (apt-get, from $(SYSTEM_PACKAGES))"; \
$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing
endef

.PHONY: book test unit lint notebooks clean venv system-packages-book system-packages-test

venv: $(STAMP)

system-packages-book:
	@$(call system_packages,book,make book)

system-packages-test:
	@$(call system_packages,book test,make test)

$(STAMP): pyproject.toml | system-packages-book
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going

# Form and architecture: ruff (lint and format, configured in pyproject.toml) and import-linter
# (capslib never imports capsbook; no import cycles; capslib's layers).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(PY) -m pytest tests -m "not browser"

notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider notebooks

# First the system packages (Chromium for the browser tests: installed here when root or `sudo -n`
# works, else make stops before any test with the command to run). Then unit tests and every
# notebook under nbval; then a fresh book (pages rebuilt from scratch, the notebooks' executions
# reused from jupyter-cache when their code is unchanged) and the browser tests over it: headless
# Chromium opens every page from localhost with every other origin blocked; screenshots go to
# _build/screenshots/.
test: system-packages-test $(STAMP) lint
	$(PY) -m pytest tests notebooks -m "not browser" --nbval-lax --nbval-current-env --nbval-cell-timeout=600
	rm -rf _build/html _build/.doctrees _build/screenshots
	$(MAKE) book
	$(PY) -m pytest tests/book/test_browser.py tests/book/test_browser_slider.py -m browser

clean:
	rm -rf _build
