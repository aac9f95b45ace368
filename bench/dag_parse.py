"""Benchmark: how long Airflow takes to parse a rollout DAG file, against a trivial DAG.

Budget (DESIGN.md §5): a rollout DAG file parses in well under a second, with no network
at parse time. Each measurement is a fresh Python process that imports Airflow, then
times ``DagBag`` over a folder holding one file, as the DAG processor does per file:
the shipped ``dags/rollout_examplepackage.py`` (plan validation, the params form, 19
tasks) against a baseline folder with a two-task DAG in the same process setup. Printed:
the median of ``--runs`` parses of each, and the ratio rollout / baseline. The baseline
imports nothing beyond Airflow; most of the rollout file's time is importing the plugin and
the amazon provider's hooks (boto3, botocore), once per parse process.

Run: ``.venv/bin/python bench/dag_parse.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE_DAG = '''"""A trivial Airflow DAG: the parse-time baseline."""
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="baseline", schedule=None):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
'''
TIMER = """
import time, sys
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
assert len(bag.dags) == 1, list(bag.dags)
print(elapsed)
"""


def parse_seconds(folder: Path, home: Path) -> float:
    """One fresh process: seconds spent in DagBag over ``folder`` (imports excluded)."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
    }
    out = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", TIMER, str(folder)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    """Measure and print both medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        baseline, rollout = root / "baseline", root / "rollout"
        baseline.mkdir()
        rollout.mkdir()
        (baseline / "baseline_dag.py").write_text(BASELINE_DAG)
        (rollout / "rollout_examplepackage.py").write_text(
            (REPO / "dags" / "rollout_examplepackage.py").read_text()
        )
        home = REPO / ".airflow" / "bench"
        base = [parse_seconds(baseline, home) for _ in range(args.runs)]
        ours = [parse_seconds(rollout, home) for _ in range(args.runs)]
    base_median, ours_median = statistics.median(base), statistics.median(ours)
    print(
        f"baseline DAG file (2 tasks):        {base_median * 1000:7.1f} ms (median of {args.runs})"
    )
    print(
        f"rollout DAG file (example plan):    {ours_median * 1000:7.1f} ms (median of {args.runs})"
    )
    print(f"ratio rollout / baseline:           {ours_median / base_median:7.2f}")
    print(f"budget: well under 1 s              {'OK' if ours_median < 0.5 else 'OVER'}")


if __name__ == "__main__":
    main()
