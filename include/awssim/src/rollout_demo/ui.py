"""``python -m rollout_demo.ui``: the Airflow UI on this repository, against a local awssim.

Serves awssim (the ``demo`` organization) in this process, then runs ``airflow standalone``
as a child whose ``aws_default`` connection points at it, with this repository's dags/ and
plugins/ and its own Airflow home in .airflow/ui/. Ctrl-C (or SIGTERM) stops Airflow, then
awssim; so does Airflow exiting by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from awssim.orgspec import OrgSpecError
from awssim.scenario import ScenarioError, shipped_scenarios
from rollout_demo import aws_connection
from rollout_demo.project import ProjectNotFound, project_dir

ORG = "demo"
STANDALONE = (sys.executable, "-m", "airflow", "standalone")
# How long Airflow gets to stop its components after SIGINT before they are killed.
STOP_TIMEOUT = 60.0


def password_file(repo: Path) -> Path:
    """Where Airflow's simple auth manager keeps the generated admin password."""
    return repo / ".airflow" / "ui" / "simple_auth_manager_passwords.json.generated"


def ui_environment(repo: Path, endpoint_url: str, speed: float, port: int) -> dict[str, str]:
    """The variables ``airflow standalone`` needs on top of the caller's environment."""
    return {
        "AIRFLOW_HOME": str(repo / ".airflow" / "ui"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file(repo)),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # Tasks reach the API server here; its default assumes port 8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(endpoint_url),
        # awssim's clock runs `speed` times real time: the rollout's own waits follow it.
        "AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE": f"{speed:g}",
    }


def main(argv: Sequence[str] | None = None, command: Sequence[str] = STANDALONE) -> int:
    """Serve awssim, run ``command`` (``airflow standalone``) against it, stop both."""
    parser = argparse.ArgumentParser(prog="python -m rollout_demo.ui", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="Airflow UI/API port")
    parser.add_argument("--sim-port", type=int, default=5000, help="awssim port (0: any)")
    parser.add_argument(
        "--scenario", default="happy", help=f"awssim scenario: a YAML path or {shipped_scenarios()}"
    )
    parser.add_argument("--speed", type=float, default=60.0, help="awssim clock, x real time")
    args = parser.parse_args(argv)

    try:
        project = project_dir()
    except ProjectNotFound as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from awssim.server import SimServer  # noqa: PLC0415 - moto loads slowly; parse args first
    from awssim.simulator import Simulator  # noqa: PLC0415

    try:
        sim = Simulator(ORG, args.scenario, speed=args.speed)
        server = SimServer(sim, port=args.sim_port).start()
    except (OrgSpecError, ScenarioError, OSError) as error:
        print(f"error: awssim: {error}", file=sys.stderr)
        return 2
    try:
        env = {
            **os.environ,
            **ui_environment(project, server.endpoint_url, args.speed, args.port),
            # standalone starts its components as `airflow ...` from PATH: this interpreter's.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        }
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        print(
            f"awssim: org {ORG}, scenario {sim.scenario.name}, speed x{args.speed:g}, on "
            f"{server.endpoint_url}\n"
            f"Airflow UI: http://127.0.0.1:{args.port} once ready; user admin, password in "
            f"{password_file(project)}\n"
            "Ctrl-C stops both.",
            flush=True,
        )
        return run(command, env)
    finally:
        server.stop()
        print("awssim stopped.", flush=True)


def run(command: Sequence[str], env: dict[str, str]) -> int:
    """Run ``command`` in its own process group until it exits, or until this process is
    interrupted (SIGINT, SIGTERM): then ask it to stop with SIGINT, as Ctrl-C would, and
    kill whatever of its group is left after ``STOP_TIMEOUT``. Returns its exit code, or 130
    when interrupted."""
    child = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(STOP_TIMEOUT)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            _signal_group(child.pid, signal.SIGKILL)
            child.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        # Components Airflow left behind (it exited, or was killed before stopping them).
        _signal_group(child.pid, signal.SIGTERM)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


if __name__ == "__main__":
    sys.exit(main())
