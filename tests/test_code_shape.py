"""The shape that docs/ARCHITECTURE.md promises, checked so that it stays true.

No module is longer than a newcomer can read (issue 16: "no module over about 400 lines"), the
README stays the admins' page and not a design log (at most about 150 lines), measured figures
live in docs/PERFORMANCE.md and not in code comments, where they would go stale, commit subjects
stay short, and every test that the guarantees table names exists, so a renamed test cannot leave
the table pointing at nothing.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "parsers", "routing")
MOST_LINES = 400
README_MOST_LINES = 150
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`")
# What a measurement reads like: a rate, a time in milliseconds or of CPU, "took N", "N % faster".
MEASURED = re.compile(
    r"\b\d[\d.,]*\s?(?:ms|µs|msg/s|tickets/s|mails/s|messages/s|MB/s)\b"
    r"|\b\d[\d.,]*\s?s of CPU\b|\btook (?:about )?\d|\b\d[\d.,]*\s?% (?:faster|slower)\b"
)
# Figures a comment may state: what another program does, not what we measured.
NOT_MEASURED = ("busy handler sleeps up to 100 ms",)
# The last commit whose subject was a paragraph; issue 16 asked for short ones after it.
LAST_LONG_SUBJECT = "a29bcab"
SUBJECT_MOST = 72


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


def test_no_code_comment_carries_a_measured_figure() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {match}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for line, text in _comments_and_docstrings(path)
        for match in MEASURED.findall(text)
        if not any(allowed in text for allowed in NOT_MEASURED)
    ]
    assert found == [], "dated figures go in docs/PERFORMANCE.md"


def test_commit_subjects_are_short() -> None:
    if _git("cat-file", "-e", f"{LAST_LONG_SUBJECT}^{{commit}}").returncode != 0:
        pytest.skip("not a git checkout with the history (a shallow clone, an export)")
    log = _git("log", "--format=%h %s", f"{LAST_LONG_SUBJECT}..HEAD")
    assert log.returncode == 0, log.stderr
    long = [line for line in log.stdout.splitlines() if len(line.split(" ", 1)[1]) > SUBJECT_MOST]
    assert long == [], f"subjects over {SUBJECT_MOST} characters; the detail goes in the body"


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


def _comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [
        (token.start[0], token.string)
        for token in tokens
        if token.type == tokenize.COMMENT
        or (token.type == tokenize.STRING and token.string.lstrip("rbfRBF")[:3] in ('"""', "'''"))
    ]


def _git(*command: str) -> subprocess.CompletedProcess[str]:
    # safe.directory: CI runs as root in a clone that root may not own.
    git = ["git", "-c", "safe.directory=*", "-C", str(ROOT), *command]
    return subprocess.run(git, capture_output=True, text=True)
