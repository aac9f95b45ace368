"""Every module of both distributions opens with a docstring saying what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = (REPO / "plugins" / "distributor_rollout", REPO / "include" / "awssim" / "src")
MODULES = sorted(path for root in SOURCES for path in root.rglob("*.py"))


def test_both_distributions_are_found() -> None:
    names = {path.name for path in MODULES}
    assert {"dag_factory.py", "plugin.py", "simulator.py", "rehearsal.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(REPO)))
def test_module_has_a_docstring(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.relative_to(REPO)} has no module docstring"
    assert len(docstring.split()) >= 3, f"{path.relative_to(REPO)}: say what the module is for"
