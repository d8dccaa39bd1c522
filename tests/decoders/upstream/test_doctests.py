"""The examples in the module docstrings of ``lethe.decoders.upstream`` run and stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lethe.decoders.upstream

MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules(lethe.decoders.upstream.__path__, "lethe.decoders.upstream.")
)


@pytest.mark.parametrize("name", ["lethe.decoders.upstream", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
