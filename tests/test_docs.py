"""The examples in the docstrings run (those that need data or a model are marked +SKIP)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import taskmix

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(taskmix.__path__, "taskmix.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
