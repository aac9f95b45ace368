"""Airflow loads Distributor Rollout's plugin from the installed distribution's entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# In a fresh interpreter: plugins are loaded once per process and cached.
PROBE = """
import json
from airflow import plugins_manager
plugins, errors = plugins_manager._get_plugins()
print(json.dumps({
    "plugins": {p.name: f"{type(p).__module__}.{type(p).__qualname__}" for p in plugins},
    "sources": {p.name: str(p.source) for p in plugins},
    "errors": errors,
}))
"""


def test_airflow_registers_the_plugin_once_from_its_entry_point(tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
        # The repository's plugins folder is scanned too: its .airflowignore keeps the package
        # from being loaded a second time as plugin files.
        env={
            **os.environ,
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        },
    )
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen["errors"] == {}
    assert seen["plugins"]["distributor_rollout"] == (
        "distributor_rollout.plugin.DistributorRolloutPlugin"
    )
    assert "distributor-rollout" in seen["sources"]["distributor_rollout"]


def test_loading_the_plugin_leaves_the_ui_app_unimported(tmp_path: Path) -> None:
    """Task processes load every plugin (for macros): they must not pay for the API stack."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, distributor_rollout.plugin as p;"
            "print(sorted(m for m in sys.modules if m.startswith('distributor_rollout.ui.')"
            " or m == 'airflow.api_fastapi.core_api.security'))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    assert probe.stdout.strip().splitlines()[-1] == "[]"
