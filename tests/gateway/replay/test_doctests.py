"""The examples in the replay modules' docstrings run and stay true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lethe.gateway.replay

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(lethe.gateway.replay.__path__, "lethe.gateway.replay.")
    if not m.name.endswith(".verify")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
