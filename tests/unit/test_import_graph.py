"""The layers of ``distributor_rollout`` point one way (DESIGN.md §2): sensors and
operators never import each other, hooks and triggers import neither, and no two
subpackages import each other in a cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import distributor_rollout

PACKAGE = Path(distributor_rollout.__file__).resolve().parent
FORBIDDEN = {
    ("sensors", "operators"),
    ("operators", "sensors"),
    ("hooks", "operators"),
    ("hooks", "sensors"),
    ("hooks", "triggers"),
    ("triggers", "operators"),
    ("triggers", "sensors"),
}


def _part(module: str) -> str | None:
    """The subpackage (or top-level module) of a ``distributor_rollout`` module name."""
    parts = module.split(".")
    return parts[1] if parts[0] == "distributor_rollout" and len(parts) > 1 else None


def import_graph() -> dict[str, set[str]]:
    """Subpackage → the other subpackages its modules import (at any depth of the file)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("")
        source = relative.parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                target = _part(name)
                if target and target != source and (PACKAGE / target).exists():
                    graph[source].add(target)
    return graph


def test_no_layer_imports_one_it_must_not() -> None:
    graph = import_graph()
    found = sorted((a, b) for a, targets in graph.items() for b in targets if (a, b) in FORBIDDEN)
    assert found == []


def test_subpackages_import_each_other_without_cycles() -> None:
    graph = import_graph()
    packages = {name for name in graph if (PACKAGE / name).is_dir()}
    cycles = sorted(
        (a, b) for a in packages for b in graph[a] if b in packages and a in graph.get(b, set())
    )
    assert cycles == []
