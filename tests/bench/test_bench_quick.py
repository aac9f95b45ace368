"""Every benchmark in bench/ runs in its ``--quick`` mode: the scripts stay runnable, and
their count budgets (API calls, bytes uploaded, XCom sizes: deterministic figures) hold.

Timings are never asserted (DESIGN.md §5): a time, CPU or memory figure over its budget is
printed OVER by the script and ignored here. ``make bench`` runs the same scripts at full
size. Each script starts its own awssim process(es) where it needs AWS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
SCRIPTS = sorted(path for path in BENCH.glob("*.py") if path.name != "benchlib.py")
QUICK_TIMEOUT_SECONDS = 240


def test_every_benchmark_is_found() -> None:
    names = {path.stem for path in SCRIPTS}
    assert {
        "build",
        "republish",
        "org_resolution",
        "compliance_poll",
        "compliance_feed",
        "dag_parse",
        "rollout_scale",
    } <= names


@pytest.mark.timeout(QUICK_TIMEOUT_SECONDS + 30)
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_quick_run_meets_every_count_budget(script: Path, tmp_path: Path) -> None:
    figures_file = tmp_path / "figures.json"
    # The worker's own Airflow home (tests/conftest.py); each script names its own AWS.
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_AWS_DEFAULT"}
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(figures_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_SECONDS,
        check=False,
    )
    output = done.stdout[-4000:] + done.stderr[-4000:]
    assert done.returncode == 0, output
    figures = json.loads(figures_file.read_text())["figures"]
    assert figures, output
    counts = [figure for figure in figures if figure["kind"] == "count"]
    over = [
        figure["name"] for figure in counts if figure["budget"] is not None and not _met(figure)
    ]
    assert not over, output


def _met(figure: dict[str, float]) -> bool:
    """A count figure's budget, as benchlib.Figure.met decides it."""
    value, baseline, budget = figure["value"], figure["baseline"], figure["budget"]
    if baseline is None:
        return value <= budget
    if baseline == 0:
        return value == 0
    return value / baseline <= budget
