"""The examples in the module docstrings of ``lethe.indices`` run and stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lethe.indices

MODULES = sorted(m.name for m in pkgutil.iter_modules(lethe.indices.__path__, "lethe.indices."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
