"""``core`` decides; it must not reach for Airflow or the AWS SDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "plugins" / "distributor_rollout" / "core"
FORBIDDEN = ("airflow", "boto3", "botocore", "aiobotocore", "moto", "awssim")


def test_no_forbidden_import_statement() -> None:
    offenders = []
    for module in sorted(CORE.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{module.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_all_of_core_loads_no_forbidden_package() -> None:
    modules = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    assert len(modules) > 10
    code = "\n".join(
        [
            *(f"import distributor_rollout.core.{m}" for m in modules),
            "import sys",
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
