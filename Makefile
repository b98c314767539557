# napari-focus: `make run` opens napari with the plugin, a sample leaf and the embedded model;
# `make test` runs the whole suite headless. Both set everything up first and are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.napari-focus-installed
# --no-cache-dir: the venv alone is ~7 GB (torch's CUDA build is the only one that pairs with a working
# torchvision here), and a CI run once ran out of disk in this install: no second copy of each wheel in a cache.
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check --no-cache-dir -c requirements/constraints.txt
NEED_FREE_GB := 8
# small venvs layered on $(VENV) (scripts/overlay_venv.sh): only what differs is installed into them
QT6_VENV ?= .venv-pyqt6
QT6_STAMP := $(QT6_VENV)/.napari-focus-installed
NAPARI_MIN_VENV ?= .venv-napari-min
NAPARI_MIN_STAMP := $(NAPARI_MIN_VENV)/.napari-focus-installed
GUI_TESTS := tests/napari tests/_qt

.PHONY: install sysdeps run screenshot test test-napari-min lint clean-venv

install: sysdeps $(STAMP)

sysdeps:
	@bash scripts/install_system_deps.sh

$(STAMP): pyproject.toml requirements/constraints.txt
	@free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); \
	  if [ "$$free" -lt $(NEED_FREE_GB) ]; then \
	    echo "warning: $${free} GB free here; installing torch and napari needs about $(NEED_FREE_GB) GB" >&2; fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) torch torchvision
	$(PIP_INSTALL) -e ".[dev]"
	@touch $@

run: install
	$(PY) -m napari_focus.launch

# render the main window under a virtual screen (for machines without a display, and the README)
screenshot: install
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m napari_focus.launch --screenshot docs/img/main_window.png

# PyQt6: the suite runs under PyQt5, and tests/test_qt_bindings.py runs the GUI tests again in $(QT6_VENV)
$(QT6_STAMP): $(STAMP) requirements/constraints.txt scripts/overlay_venv.sh
	bash scripts/overlay_venv.sh $(VENV) $(QT6_VENV) -c requirements/constraints.txt PyQt6
	@touch $@

test: install $(QT6_STAMP)
	QT_QPA_PLATFORM=xcb NAPARI_FOCUS_PYQT6_PYTHON=$(QT6_VENV)/bin/python $(PY) -m pytest

# the lowest napari pyproject.toml accepts, with the GUI tests (minutes; not part of `make test`)
$(NAPARI_MIN_STAMP): $(STAMP) requirements/napari-min.txt scripts/overlay_venv.sh
	bash scripts/overlay_venv.sh $(VENV) $(NAPARI_MIN_VENV) -r requirements/napari-min.txt
	@touch $@

test-napari-min: install $(NAPARI_MIN_STAMP)
	QT_QPA_PLATFORM=xcb $(NAPARI_MIN_VENV)/bin/python -m pytest -p no:cacheprovider $(GUI_TESTS)

lint: install
	$(VENV)/bin/ruff check napari_focus tests scripts

clean-venv:
	rm -rf $(VENV) $(QT6_VENV) $(NAPARI_MIN_VENV)
