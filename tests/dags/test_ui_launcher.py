"""``python -m rollout_demo.ui`` (``make ui``): its environment, as Airflow reads it, and its
lifecycle: awssim up while Airflow runs, Airflow stopped with SIGINT, awssim stopped after.

The lifecycle tests run the launcher in a subprocess with a stand-in for ``airflow
standalone`` (a small script that records what it sees), so they take seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from own_rollout import write_own_rollout

from rollout_demo.project import PROJECT_ENV
from rollout_demo.ui import password_file, ui_environment

REPO = Path(__file__).resolve().parents[2]

# The stand-in for `airflow standalone`: records its environment and what awssim answers, then
# exits 3 ("exit") or waits for SIGINT ("wait").
CHILD = """
import json, os, signal, sys, time, urllib.request
record_path, mode = sys.argv[1], sys.argv[2]
endpoint = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"]
with urllib.request.urlopen(endpoint + "/_awssim/health", timeout=10) as response:
    record = {"health": json.load(response), "endpoint": endpoint, "env": dict(os.environ),
              "pid": os.getpid()}
def write(**extra):
    with open(record_path + ".tmp", "w") as out:
        json.dump({**record, **extra}, out)
    os.replace(record_path + ".tmp", record_path)
if mode == "exit":
    write()
    sys.exit(3)
def on_sigint(signum, frame):
    write(stopped_by="SIGINT")
    sys.exit(0)
signal.signal(signal.SIGINT, on_sigint)
write(waiting=True)
time.sleep(300)
"""
LAUNCH = """
import json, sys
from rollout_demo.ui import main
sys.exit(main(sys.argv[2:], command=json.loads(sys.argv[1])))
"""
LAUNCHER_ARGS = ["--port", "8123", "--sim-port", "0", "--speed", "120", "--scenario", "happy"]


def launcher(record: Path, mode: str) -> list[str]:
    """The command that runs the launcher with the stand-in child."""
    child = [sys.executable, "-c", CHILD, str(record), mode]
    return [sys.executable, "-c", LAUNCH, json.dumps(child), *LAUNCHER_ARGS]


def launcher_env() -> dict[str, str]:
    """This environment, run from the repository (the project the launcher finds)."""
    return dict(os.environ)


def wait_for(path: Path, timeout: float = 60.0) -> dict[str, Any]:
    """The JSON the stand-in wrote at ``path``, once it is there."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"nothing written to {path} in {timeout}s"
        time.sleep(0.1)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def assert_stopped(endpoint: str) -> None:
    """Nothing serves ``endpoint`` any more."""
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(endpoint + "/_awssim/health", timeout=5)  # noqa: S310


# --- the environment ----------------------------------------------------------------------


def test_ui_environment_points_airflow_at_the_repo_and_the_simulator(tmp_path: Path) -> None:
    env = ui_environment(tmp_path, "http://127.0.0.1:5123", 120.0, 8089)
    assert env["AIRFLOW_HOME"] == str(tmp_path / ".airflow" / "ui")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(tmp_path / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"] == "120"
    connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection["conn_type"] == "aws"
    assert connection["extra"] == {
        "endpoint_url": "http://127.0.0.1:5123",
        "region_name": "us-east-1",
    }
    # Airflow's own default name in its home, so the printed path holds even if the
    # explicit setting were ignored.
    assert password_file(tmp_path) == (
        Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    )
    # Everything stays inside the repository's ignored .airflow/.
    assert Path(env["AIRFLOW_HOME"]).relative_to(tmp_path).parts[0] == ".airflow"


@pytest.mark.parametrize(("speed", "text"), [(60.0, "60"), (0.5, "0.5"), (600.0, "600")])
def test_time_scale_is_the_simulator_speed(speed: float, text: str) -> None:
    env = ui_environment(REPO, "http://127.0.0.1:5000", speed, 8080)
    assert env["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"] == text


# Importing the auth manager imports starlette's test client, which warns about httpx.
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")
def test_airflow_reads_the_environment_as_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each variable lands on the setting it is meant for, read by Airflow and the provider."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (  # noqa: PLC0415
        SimpleAuthManager,
    )
    from airflow.configuration import conf  # noqa: PLC0415
    from airflow.models.connection import Connection  # noqa: PLC0415
    from airflow.providers.amazon.aws.utils.connection_wrapper import (  # noqa: PLC0415
        AwsConnectionWrapper,
    )

    from distributor_rollout.settings import time_scale  # noqa: PLC0415

    env = ui_environment(tmp_path, "http://127.0.0.1:5123", 120.0, 8089)
    for key, value in env.items():
        if key != "AIRFLOW_HOME":  # read once, when Airflow is imported
            monkeypatch.setenv(key, value)
    assert conf.get("core", "dags_folder") == str(tmp_path / "dags")
    assert conf.get("core", "plugins_folder") == str(tmp_path / "plugins")
    assert conf.getboolean("core", "load_examples") is False
    assert conf.getint("api", "port") == 8089
    assert conf.get("core", "execution_api_server_url") == "http://127.0.0.1:8089/execution/"
    assert SimpleAuthManager.get_generated_password_file() == str(password_file(tmp_path))
    assert time_scale() == 120.0
    aws = AwsConnectionWrapper(
        Connection.from_json(env["AIRFLOW_CONN_AWS_DEFAULT"], conn_id="aws_default")
    )
    assert aws.endpoint_url == "http://127.0.0.1:5123"
    assert aws.region_name == "us-east-1"
    assert aws.aws_access_key_id  # boto3 needs some key; awssim takes any


# --- the lifecycle ------------------------------------------------------------------------


def test_airflow_runs_against_a_live_simulator_that_stops_with_it(tmp_path: Path) -> None:
    record_path = tmp_path / "record.json"
    result = subprocess.run(
        launcher(record_path, "exit"),
        env=launcher_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr  # the child's exit code
    record = wait_for(record_path, timeout=1)
    assert record["health"]["ok"] is True
    assert record["health"]["org"] == "demo"
    assert record["health"]["scenario"] == "happy"
    assert record["health"]["speed"] == 120.0
    env = record["env"]
    assert env["AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE"] == "120"
    assert env["AIRFLOW__API__PORT"] == "8123"
    assert env["AIRFLOW_HOME"] == str(REPO / ".airflow" / "ui")
    # The example plan's DAG is the repository's: the UI lists its dags/ as it is.
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    assert "AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR" not in env
    # standalone starts `airflow` from PATH: this interpreter's comes first.
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert "http://127.0.0.1:8123" in result.stdout
    assert str(password_file(REPO)) in result.stdout
    assert_stopped(record["endpoint"])


def test_sigterm_stops_airflow_with_sigint_then_the_simulator(tmp_path: Path) -> None:
    record_path = tmp_path / "record.json"
    process = subprocess.Popen(
        launcher(record_path, "wait"),
        env=launcher_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    record: dict[str, Any] = {}
    try:
        record = wait_for(record_path, timeout=90)
        assert record["waiting"] is True
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        # Whatever the launcher did, leave no process behind (the stand-in has its own group).
        if process.poll() is None:
            process.kill()
            process.communicate()
        if "pid" in record:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record["pid"], signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert wait_for(record_path, timeout=1)["stopped_by"] == "SIGINT"
    assert "awssim stopped." in stdout
    assert_stopped(record["endpoint"])


def test_unknown_scenario_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = subprocess.run(
        [*launcher(tmp_path / "record.json", "exit"), "--scenario", "no-such-scenario"],
        env=launcher_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "no-such-scenario" in result.stderr
    assert not (tmp_path / "record.json").exists()


def own_project(root: Path) -> Path:
    """A project of one's own with no plan and no DAG yet (its .airflow/ui is the UI's home)."""
    (root / "dags").mkdir(parents=True)
    (root / "include" / "rollouts").mkdir(parents=True)
    return root


def test_ones_own_plan_org_and_scenario_are_what_the_ui_serves(tmp_path: Path) -> None:
    own = write_own_rollout(tmp_path / "mine")
    project = own_project(tmp_path / "project")
    record_path = tmp_path / "record.json"
    result = subprocess.run(
        [
            *launcher(record_path, "exit"),
            *("--plan", str(own.plan), "--org", str(own.org), "--scenario", str(own.scenario)),
        ],
        env={**launcher_env(), PROJECT_ENV: str(project)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    record = wait_for(record_path, timeout=1)
    assert (record["health"]["org"], record["health"]["scenario"]) == ("acme", "a-few-lost-agents")
    env = record["env"]
    home = project / ".airflow" / "ui"
    assert env["AIRFLOW_HOME"] == str(home)
    # The UI's DAGs folder is generated in its home, with the plan's DAG file alone.
    dags = home / "dags"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(dags)
    assert [path.name for path in dags.glob("*.py")] == ["rollout_acme_agent.py"]
    assert repr(str(own.plan.parent)) in (dags / "rollout_acme_agent.py").read_text()
    assert env["AIRFLOW__DISTRIBUTOR_ROLLOUT__PLANS_DIR"] == str(own.plan.parent)
    assert env["AIRFLOW__DISTRIBUTOR_ROLLOUT__PACKAGES_ROOT"] == str(
        own.plan.parent.parent / "packages"
    )
    assert "awssim: org acme, scenario a-few-lost-agents" in result.stdout
    assert f"DAGs: {dags}" in result.stdout
    assert_stopped(record["endpoint"])


def test_a_plan_that_does_not_fit_the_org_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    own = write_own_rollout(tmp_path / "mine")
    result = subprocess.run(
        [*launcher(tmp_path / "record.json", "exit"), "--plan", str(own.plan), "--org", "field"],
        env=launcher_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "does not fit organization field" in result.stderr
    assert "wave pilot: OU /Apps/Pilot is not in the organization" in result.stderr
    assert not (tmp_path / "record.json").exists()
