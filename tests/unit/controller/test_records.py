"""A key's record changes in one place: `outcome.conclude`, from what the outcome carries."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

import hopper_operator
from hopper_operator.controller.records import KeyRecord

PACKAGE = Path(hopper_operator.__file__).parent


def _functions_calling(name: str) -> Iterator[tuple[str, str]]:
    """(module path, enclosing function) of every call of a method or function `name`."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if not isinstance(node, ast.Call):
                    continue
                called = node.func
                called_name = called.attr if isinstance(called, ast.Attribute) else None
                if isinstance(called, ast.Name):
                    called_name = called.id
                if called_name == name:
                    yield str(path.relative_to(PACKAGE)), function.name


def test_only_conclude_settles_a_record() -> None:
    assert set(_functions_calling("set_record")) == {("controller/outcome.py", "conclude")}


def test_nothing_sets_a_field_around_the_frozen_record() -> None:
    assert list(_functions_calling("__setattr__")) == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        KeyRecord().expected = 1  # type: ignore[misc]
