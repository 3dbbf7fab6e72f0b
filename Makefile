# The two entry points: `make run` (the demo) and `make test` (the whole check).
# Both create .venv and install missing Debian packages (when run as root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := pci.ids python3-venv python3-dev gcc pkg-config libvirt-dev libvirt-clients libxml2-utils
# Only the tests need a browser: the dashboard is checked in headless Chromium.
TEST_DEB_PACKAGES := chromium chromium-driver
STAMP := $(VENV)/.installed-stamp
LAB_DIR ?= lab/cluster
PORT ?= 9696

.PHONY: all deps test-deps run test lint typecheck unit format clean

all: test

deps: $(STAMP)

$(STAMP): pyproject.toml scripts/install-debian-packages
	@scripts/install-debian-packages $(DEB_PACKAGES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

test-deps: deps
	@scripts/install-debian-packages $(TEST_DEB_PACKAGES)

run: deps
	rm -rf $(LAB_DIR)
	$(BIN)/vfplane up --data-dir $(LAB_DIR) --port $(PORT) --report-interval 5 --demo

lint: deps
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: deps
	$(BIN)/mypy

unit: test-deps
	$(BIN)/pytest -q

test: lint typecheck unit

format: deps
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) lab .mypy_cache .ruff_cache .pytest_cache
