"""``make demo`` (``python -m rollout_demo``) keeps Airflow inside the repository: its home
and metadata DB are the ones it names, whatever the caller's environment says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rollout_demo.__main__ import airflow_environment
from rollout_demo.dags_folder import DagsFolder

REPO = Path(__file__).resolve().parents[2]

# Applies the demo's environment the way main() does, then asks Airflow where it lives.
PROBE = """
import json, os, sys
from pathlib import Path
from rollout_demo.__main__ import airflow_environment
os.environ.update(airflow_environment(Path(sys.argv[1]), 300.0))
from airflow.configuration import AIRFLOW_HOME, conf
print(json.dumps({"home": AIRFLOW_HOME, "db": conf.get("database", "sql_alchemy_conn")}))
"""


def test_the_demo_runs_airflow_from_its_own_home_and_database(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    elsewhere = tmp_path / "elsewhere"
    # The caller's environment names another home and database: the demo must not use them.
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(elsewhere),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{elsewhere / 'other.db'}",
    }
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(home)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen["home"] == str(home)
    assert seen["db"] == f"sqlite:///{home.resolve() / 'airflow.db'}"
    assert not elsewhere.exists()


def test_the_demo_scales_the_rollouts_waits_by_the_clock_speed(tmp_path: Path) -> None:
    env = airflow_environment(tmp_path, 300.0)
    assert env["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"] == "300.0"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


def test_a_generated_dags_folder_brings_its_plan_settings(tmp_path: Path) -> None:
    default = airflow_environment(tmp_path, 300.0, project=REPO)
    assert default["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert "AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR" not in default
    folder = DagsFolder(
        tmp_path / "dags",
        generated=True,
        settings={"AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR": "/srv/plans"},
    )
    env = airflow_environment(tmp_path, 300.0, project=REPO, dags=folder)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(REPO / "plugins")
    assert env["AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR"] == "/srv/plans"
