"""The shape that docs/ARCHITECTURE.md promises, checked so that it stays true.

No module is longer than a newcomer can read (issue 16: "no module over about 400 lines"), the
README stays the admins' page and not a design log (at most about 150 lines), and every test
that the guarantees table names exists, so a renamed test cannot leave the table pointing at
nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "parsers", "routing")
MOST_LINES = 400
README_MOST_LINES = 150
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`")


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MOST_LINES
    }
    assert long == {}, f"split these modules (over {MOST_LINES} lines): {long}"


def test_the_readme_is_at_most_150_lines() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MOST_LINES, "contributors' detail goes in docs/, not the README"


def test_every_test_the_architecture_names_exists() -> None:
    missing = []
    for line in (ROOT / "docs" / "ARCHITECTURE.md").read_text().splitlines():
        module = None  # "`::name`" refers to the module named before it on the same line
        for match in TEST_REFERENCE.finditer(line):
            path, name, same_module_name = match.groups()
            module = path or module
            name = name or same_module_name
            if module is None:
                missing.append(f"::{name} without a module")
            elif not (ROOT / module).exists():
                missing.append(module)
            elif name and name not in _functions(ROOT / module):
                missing.append(f"{module}::{name}")
    assert missing == []


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
