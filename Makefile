# Task runner. The README names `make serve` and `make test`; both set up .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install serve test lint protos check-protos bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -e '.[test]'
	touch $@

install: $(VENV)/.installed

serve: install
	$(VENV)/bin/aios serve

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

protos: install
	$(PIP) install -q -e '.[protos]'
	$(PY) scripts/gen_protos.py

# Fails when the committed stubs are not what the pinned grpcio-tools generates.
check-protos: protos
	git diff --exit-code --stat -- aios/_proto
	test -z "$$(git status --porcelain -- aios/_proto)"

bench: install
	$(PY) bench/kernel.py
