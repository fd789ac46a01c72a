"""Compare an engine's whole canonical output with its file in tests/golden/ (or rewrite the file
when CLOUDOPTIM_UPDATE_GOLDEN=1; see tests/golden/README.md)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = "CLOUDOPTIM_UPDATE_GOLDEN"
# Read at import: tests/conftest.py clears CLOUDOPTIM_* variables for every test.
UPDATING = os.environ.get(UPDATE) == "1"


def check_golden(name: str, got: str, *, what: str, test_file: str) -> None:
    """Fail with a unified diff when `got` differs from tests/golden/`name`.json."""
    path = GOLDEN / f"{name}.json"
    if UPDATING:
        path.write_text(got, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with {UPDATE}=1 (see tests/golden/README.md)", pytrace=False)
    want = path.read_text(encoding="utf-8")
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), str(path), what))
        pytest.fail(
            f"{what} differs from {path.name}:\n{diff}\nIf the change is intended, regenerate with "
            f"{UPDATE}=1 .venv/bin/python -m pytest {test_file} and review git diff.",
            pytrace=False,
        )
