"""``python -m rollout_demo.ui``: the Airflow UI on this repository, against a local awssim.

Serves awssim (``--org``, by default the ``demo`` organization, and ``--scenario``) in this
process, then runs ``airflow standalone`` as a child whose ``aws_default`` connection points
at it, with this repository's plugins/, its own Airflow home and SQLite DB in .airflow/ui/,
and the DAGs folder of ``--plan`` (``rollout_demo.dags_folder``: this repository's dags/ for
the example plan and any plan of the project with a DAG file, else a folder generated in the
home with that plan's DAG alone). The plan, organization and scenario are checked before
anything starts, as ``make rehearse`` checks them (``rollout_demo.inputs``). Ctrl-C (or
SIGTERM) stops Airflow, then awssim; so does Airflow exiting by itself.

With ``--demo-run`` (``make ui``) the UI opens on a finished rollout: before Airflow's
components start, a child process records the plan's run into that DB
(``rollout_demo.demo_run``: ``dag.test()``, replacing the demo run an earlier call left).
It runs as ``make demo`` does, fast: awssim's clock at ``--demo-speed`` and the run's waits
scaled to match. Then the clock goes on at ``--speed`` from the simulated time it reached
(``continue_at``), so the stack set, packages and fleet the run left are the ones the
session works on, and the components, started only now, scale their waits by ``--speed``.
Once the API server reports every component healthy, the launcher prints the login and the
URL of the run's Rollout tab.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import quote

from awssim.clock import SimClock
from rollout_demo import aws_connection
from rollout_demo.__main__ import airflow_environment
from rollout_demo.dags_folder import DagsFolder, dags_folder
from rollout_demo.demo_run import DemoRun
from rollout_demo.inputs import Inputs, RehearsalInputError, add_input_arguments, resolve
from rollout_demo.project import ProjectNotFound, project_dir

if TYPE_CHECKING:
    from awssim.simulator import Simulator

STANDALONE = (sys.executable, "-m", "airflow", "standalone")
DEMO_RUN = (sys.executable, "-m", "rollout_demo.demo_run")
# How long Airflow gets to stop its components after SIGINT before they are killed.
STOP_TIMEOUT = 60.0
INTERRUPTED = 130
"""The exit status when interrupted (SIGINT, SIGTERM), as a shell reports Ctrl-C."""
USER = "admin"
"""standalone's user (``[core] simple_auth_manager_users`` left at ``admin:admin``)."""
HEALTH = "/api/v2/monitor/health"
READY_POLL_SECONDS = 2.0
# The UI's routes to the plugin's external views: plugin/<url_route> (plugin.py).
ROLLOUT_TAB = "plugin/distributor-rollout"
ROLLOUTS_VIEW = "plugin/distributor-rollouts"


def ui_home(repo: Path) -> Path:
    """Airflow's home for ``make ui`` (config, logs, SQLite DB): ignored by git."""
    return repo / ".airflow" / "ui"


def password_file(repo: Path) -> Path:
    """Where Airflow's simple auth manager keeps the generated admin password."""
    return ui_home(repo) / "simple_auth_manager_passwords.json.generated"


def ui_environment(
    repo: Path, endpoint_url: str, speed: float, port: int, dags: DagsFolder | None = None
) -> dict[str, str]:
    """The variables ``airflow standalone`` needs on top of the caller's environment; ``dags``
    is where the plan's DAG is (default: the repository's dags/)."""
    home = ui_home(repo)
    dags = dags or DagsFolder(repo / "dags")
    return {
        "AIRFLOW_HOME": str(home),
        # Explicit, as make demo's: the demo run and the components share this DB, and a
        # database configured in the caller's environment is never touched.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home.resolve() / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags.path),
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
        **dags.settings,
    }


def demo_run_environment(
    repo: Path, endpoint_url: str, speed: float, port: int, dags: DagsFolder | None = None
) -> dict[str, str]:
    """The variables the demo run's child needs on top of the caller's environment: the
    UI's (its home and DB, its DAGs, ``aws_default``), with ``make demo``'s settings for a
    run made by ``dag.test()`` at ``speed`` (its time scale, quiet logs, no deferral floor)."""
    return {
        **ui_environment(repo, endpoint_url, speed, port, dags),
        **airflow_environment(ui_home(repo), speed, project=repo, dags=dags),
    }


def main(argv: Sequence[str] | None = None, command: Sequence[str] = STANDALONE) -> int:
    """Serve awssim, record the demo run if asked, run ``command`` (``airflow standalone``)
    against awssim, stop both."""
    parser = argparse.ArgumentParser(prog="python -m rollout_demo.ui", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="Airflow UI/API port")
    parser.add_argument("--sim-port", type=int, default=5000, help="awssim port (0: any)")
    add_input_arguments(parser)
    parser.add_argument("--speed", type=float, default=60.0, help="awssim clock, x real time")
    parser.add_argument(
        "--demo-run",
        action="store_true",
        help="first record a finished run of the plan (replacing the last one)",
    )
    parser.add_argument(
        "--demo-speed", type=float, default=300.0, help="awssim clock while it is recorded"
    )
    args = parser.parse_args(argv)

    try:
        project = project_dir()
        inputs = resolve(project, plan=args.plan, org=args.org, scenario=args.scenario)
    except (ProjectNotFound, RehearsalInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in inputs.warnings:
        print(f"[ui] warning: {warning}", flush=True)

    from awssim.server import SimServer  # noqa: PLC0415 - moto loads slowly; parse args first
    from awssim.simulator import Simulator  # noqa: PLC0415

    try:
        sim = Simulator(
            inputs.org, inputs.scenario, speed=args.demo_speed if args.demo_run else args.speed
        )
        server = SimServer(sim, port=args.sim_port).start()
    except OSError as error:
        print(f"error: awssim: {error}", file=sys.stderr)
        return 2
    try:
        base = {
            **os.environ,
            # standalone starts its components as `airflow ...` from PATH: this interpreter's.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        }
        ui_home(project).mkdir(parents=True, exist_ok=True)
        dags = dags_folder(inputs.plan, project, ui_home(project))
        env = {**base, **ui_environment(project, server.endpoint_url, args.speed, args.port, dags)}
        demo: DemoRun | None = None
        if args.demo_run:
            demo_env = {
                **base,
                **demo_run_environment(
                    project, server.endpoint_url, args.demo_speed, args.port, dags
                ),
            }
            status, demo = record_demo_run(demo_env, inputs, args.demo_speed)
            if status == INTERRUPTED:
                return INTERRUPTED
            continue_at(sim, args.speed)
        print(
            f"awssim: org {inputs.org.name}, scenario {sim.scenario.name}, speed "
            f"x{args.speed:g}, on {server.endpoint_url}\n"
            f"DAGs: {dags.path}\n"
            f"Airflow UI: http://127.0.0.1:{args.port} once ready; user {USER}, password in "
            f"{password_file(project)}\n"
            "Ctrl-C stops both.",
            flush=True,
        )
        with announce_when_ready(f"http://127.0.0.1:{args.port}", demo, password_file(project)):
            return run(command, env)
    finally:
        server.stop()
        print("awssim stopped.", flush=True)


def record_demo_run(
    env: dict[str, str], inputs: Inputs, speed: float
) -> tuple[int, DemoRun | None]:
    """Record the demo run of the plan in ``inputs`` in a child process with Airflow's
    environment ``env`` (awssim's clock at ``speed``): its exit status and the run (None when
    it recorded none: Airflow then starts without it)."""
    org, scenario = inputs.org.name, inputs.scenario.name
    print(
        f"[ui] recording the demo run: plan {inputs.plan.name} on awssim (organization {org}, "
        f"scenario {scenario}, clock x{speed:g}), under a minute",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="rollout-demo-run-") as folder:
        result = Path(folder) / "demo-run.json"
        command = [*DEMO_RUN, "--result", str(result), "--plan", inputs.plan.name]
        status = run([*command, "--org", org, "--scenario", scenario], env)
        if status != 0 or not result.exists():
            print(f"[ui] no demo run recorded (exit status {status}, see above)", flush=True)
            return status, None
        demo = DemoRun.from_dict(json.loads(result.read_text()))
    replaced = f", replacing {', '.join(demo.replaced)}" if demo.replaced else ""
    print(f"[ui] demo run {demo.run_id}: {demo.state}, {demo.summary}{replaced}", flush=True)
    return status, demo


def continue_at(sim: Simulator, speed: float) -> None:
    """Run awssim's clock at ``speed`` from now on, from the simulated time it has reached.

    A ``SimClock``'s speed is fixed when it is made, and ``Simulator.load`` (which takes a
    new speed) starts AWS over; so the simulator gets a new clock with the old one's start
    and reading, and keeps everything else. Everything awssim schedules is due at a
    simulated time, so what was pending stays due, at the new pace.
    """
    with sim.lock:
        previous = sim.clock
        clock = SimClock(speed, start=previous.at(0.0))
        clock.advance(previous.seconds())
        sim.clock = clock


def rollout_tab_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The Airflow UI's page for a run's Rollout tab (run ids hold ':' and '+', which a URL
    path may keep as they are)."""
    return f"{base_url}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe=':+')}/{ROLLOUT_TAB}"


def ready_banner(base_url: str, demo: DemoRun | None, passwords: Path) -> str:
    """What to open once Airflow is up: the login, the demo run's tab, the rollouts view."""
    try:
        password = json.loads(passwords.read_text())[USER]
        login = f"user {USER}, password {password}"
    except (OSError, ValueError, KeyError, TypeError):
        login = f"user {USER}, password in {passwords}"
    lines = [f"[ui] Airflow is up on {base_url}: {login}"]
    if demo is not None:
        lines += [
            f"[ui] the demo run's Rollout tab ({demo.state}: {demo.summary}):",
            f"[ui]   {rollout_tab_url(base_url, demo.dag_id, demo.run_id)}",
        ]
    lines.append(f"[ui] every rollout DAG at a glance: {base_url}/{ROLLOUTS_VIEW}")
    return "\n".join(lines)


def healthy(base_url: str) -> bool:
    """Whether Airflow's API server answers and reports every component it knows healthy
    (metadata DB, scheduler, triggerer, DAG processor)."""
    try:
        with urllib.request.urlopen(base_url + HEALTH, timeout=5) as response:  # noqa: S310
            components = json.load(response)
    except (OSError, ValueError):  # not up yet, or not answering JSON yet
        return False
    statuses = [part.get("status") for part in components.values() if isinstance(part, dict)]
    return bool(statuses) and all(status == "healthy" for status in statuses)


@contextlib.contextmanager
def announce_when_ready(base_url: str, demo: DemoRun | None, passwords: Path) -> Iterator[None]:
    """While the block runs, print ``ready_banner`` once Airflow at ``base_url`` is healthy."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(READY_POLL_SECONDS):
            if healthy(base_url):
                print(ready_banner(base_url, demo, passwords), flush=True)
                return

    watcher = threading.Thread(target=watch, name="ui-ready", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=10)


def run(command: Sequence[str], env: dict[str, str]) -> int:
    """Run ``command`` in its own process group until it exits, or until this process is
    interrupted (SIGINT, SIGTERM): then ask it to stop with SIGINT, as Ctrl-C would, and
    kill whatever of its group is left after ``STOP_TIMEOUT``. Returns its exit code, or
    ``INTERRUPTED`` when interrupted."""
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
        return INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
        # Components Airflow left behind (it exited, or was killed before stopping them).
        _signal_group(child.pid, signal.SIGTERM)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


if __name__ == "__main__":
    sys.exit(main())
