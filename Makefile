# The two commands of the README:
#   make demo   the default model on a few sentences, then `minibert compare --quick`:
#               fine-tuning vs frozen features vs random init on 1,000 movie reviews
#   make test   run the test suite
# Both create (or refresh) the virtual environment .venv and install what they need, so
# they work on a fresh machine that has only Python 3.10+ and the package index.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test venv clean

venv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "minibert needs Python 3.10 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"

demo: venv
	$(PY) -m minibert demo
	$(PY) -m minibert compare --quick

test: venv
	$(PY) -m minibert download minilm
	$(PY) -m minibert download reviews
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
