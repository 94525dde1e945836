"""gateway/processing/triage_model.py: the cached model is named by all the code it depends on."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from types import ModuleType

import pytest

from gateway.processing import triage_model
from gateway.processing.triage_model import TRIAGE_CODE, corpus_files, model_key

PURE_PACKAGES = ("routing", "parsers")


def _imported(module: ModuleType) -> set[str]:
    """The modules of routing/ and parsers/ that `module` imports."""
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] in PURE_PACKAGES}


def test_the_key_covers_all_code_that_makes_the_features() -> None:
    seen: set[str] = set()
    waiting = ["routing.triage"]
    while waiting:
        name = waiting.pop()
        if name not in seen:
            seen.add(name)
            waiting.extend(_imported(importlib.import_module(name)))
    assert {module.__name__ for module in TRIAGE_CODE} == seen


def test_the_key_changes_with_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    files = corpus_files()
    before = model_key(files)
    monkeypatch.setattr(triage_model, "TRIAGE_CODE", TRIAGE_CODE[:-1])
    assert model_key(files) != before
