# napari-focus: `make run` opens napari with the plugin, a sample leaf and the embedded model;
# `make test` runs the whole suite headless. Both set everything up first and are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.napari-focus-installed
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt

.PHONY: install sysdeps run screenshot test lint clean-venv

install: sysdeps $(STAMP)

sysdeps:
	@bash scripts/install_system_deps.sh

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) torch torchvision
	$(PIP_INSTALL) -e ".[dev]"
	@touch $@

run: install
	$(PY) -m napari_focus.launch

# render the main window under a virtual screen (for machines without a display, and the README)
screenshot: install
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m napari_focus.launch --screenshot docs/img/main_window.png

test: install
	QT_QPA_PLATFORM=xcb $(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check napari_focus tests scripts

clean-venv:
	rm -rf $(VENV)
