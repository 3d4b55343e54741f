# Two commands do all set-up on a fresh machine:
#   make quickstart   creates .venv, installs mrekit, trains + evaluates an mre model on the bundled SNIPS data
#                     (into mrekit-quickstart/; running it again starts that run again: --overwrite)
#   make test         creates .venv if needed, installs mrekit with its test extras, runs the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch where a local file offers it; elsewhere pip fetches this version.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.mrekit-installed

.PHONY: quickstart test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

quickstart: $(STAMP)
	$(BIN)/mrekit quickstart --overwrite

test: $(STAMP)
	@bash .ci/install-browser.sh || echo "Chromium could not be installed: the browser test will be skipped"
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
