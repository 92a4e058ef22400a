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

.PHONY: book test unit notebooks clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going

unit: $(STAMP)
	$(PY) -m pytest tests -m "not browser"

notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider notebooks

# Unit tests and every notebook under nbval; then a fresh book (pages rebuilt from scratch, the
# notebooks' executions reused from jupyter-cache when their code is unchanged) and the browser
# tests over it: headless Chromium (Debian's `chromium`, which .ci/run installs) opens every
# page from localhost with every other origin blocked; screenshots go to _build/screenshots/.
test: $(STAMP)
	$(PY) -m pytest tests notebooks -m "not browser" --nbval-lax --nbval-current-env --nbval-cell-timeout=600
	rm -rf _build/html _build/.doctrees _build/screenshots
	$(MAKE) book
	$(PY) -m pytest tests/test_browser.py -m browser

clean:
	rm -rf _build
