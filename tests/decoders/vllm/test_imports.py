"""Everything here but the vLLM adapter imports, and runs its docstring examples, without vLLM."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

# processor.py and backend.py import vLLM; only vLLM (and engine.load) import them.
PURE = [
    "lethe.decoders.vllm",
    "lethe.decoders.vllm.config",
    "lethe.decoders.vllm.extra_args",
    "lethe.decoders.vllm.state",
    "lethe.decoders.vllm.requests",
    "lethe.decoders.vllm.outputs",
    "lethe.decoders.vllm.engine",
]


def test_the_pure_modules_and_the_registry_never_import_vllm():
    code = (
        "import sys, importlib\n"
        f"for name in {PURE!r} + ['lethe.gateway.engines', 'lethe.gateway.settings']:\n"
        "    importlib.import_module(name)\n"
        "assert 'vllm' not in sys.modules, 'vllm was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", [n for n in PURE if n != "lethe.decoders.vllm"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
