"""The live stack: awssim and Airflow's own components as separate processes, the way a
user runs them, each logging to a file under one folder.

``LiveStack.start()`` serves awssim over HTTP (``python -m awssim serve``), starts a
throwaway PostgreSQL server (tests/live/postgres.py) and migrates its fresh metadata DB,
writes the simple auth manager's password file, then starts ``airflow api-server``,
``scheduler`` (LocalExecutor), ``dag-processor`` and ``triggerer`` and waits until the API
server reports all three healthy. Every component runs in its own process group, so
``kill()`` takes a component down with its children (the scheduler's LocalExecutor workers)
the way a crashed container would, and ``stop()`` leaves nothing behind. Nothing here talks
to Airflow's DB or internals: tests use ``LiveApi`` (REST v2).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from postgres import PostgresCluster

REPO = Path(__file__).resolve().parents[2]
LIVE = Path(__file__).resolve().parent
PYTHON = sys.executable
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN = "admin"
APPROVER = "approver"
"""A second user: the live plans' approvals name only them, so the admin who triggers a run
cannot approve its waves."""
OUTSIDER = "outsider"
"""A third user, a viewer denied the DAGs ``DENIED_ENV`` names for them (the browser tests'
403 check)."""
DENIED_ENV = "TEST_DENIED_DAGS"
"""``user=dag_a|dag_b,...``: what tests/support/denying_auth.py's auth manager refuses each
user (its DENIED_ENV)."""
SUPPORT_PATH = LIVE.parent / "support"
"""Test-only modules the components import (on their PYTHONPATH): the auth manager."""
# How long a component gets to stop on SIGTERM before it is killed.
STOP_TIMEOUT = 20.0
# How long the stack gets to come up (migrate + four components importing Airflow on 2 cores).
START_TIMEOUT = 180.0


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


class StackError(RuntimeError):
    """The stack did not come up (the message names the component and its log)."""


@dataclass
class Component:
    """One process of the stack, logging stdout and stderr to ``log``."""

    name: str
    command: tuple[str, ...]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, env: Mapping[str, str], cwd: Path) -> None:
        """Start it (again), appending to its log."""
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n===== live stack: start #{self.starts} of {self.name} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.command,
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        """Whether its process is alive."""
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to its whole process group."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL it and its children, as a crash would; no chance to clean up."""
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; also reaps leftover children."""
        if self.process is None:
            return
        if self.running:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@dataclass
class LiveStack:
    """awssim + Airflow (PostgreSQL, LocalExecutor) in ``root``; see the module docstring."""

    root: Path
    dags_folder: Path
    scenario: str | Path = "happy"
    speed: float = 300.0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    sim_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    worker_log_port: int = field(default_factory=free_port)
    trigger_log_port: int = field(default_factory=free_port)
    db_port: int = field(default_factory=free_port)
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        """AIRFLOW_HOME (airflow.cfg, task logs under logs/)."""
        return self.root / "home"

    @property
    def logs(self) -> Path:
        """One log file per component."""
        return self.root / "logs"

    @property
    def sim_url(self) -> str:
        """awssim's endpoint."""
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def api_url(self) -> str:
        """The API server's base URL."""
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        """The environment every Airflow component gets (the same for all of them)."""
        # Test-session settings (AIRFLOW_HOME, the DB of tests/conftest.py) must not leak in.
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        from rollout_demo import aws_connection  # noqa: PLC0415 - keep the module light

        return {
            **base,
            "PATH": os.pathsep.join([str(Path(PYTHON).parent), base.get("PATH", "")]),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database.url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # SimpleAuthManager (users, roles, login form, tokens) that also denies a user
            # single DAGs (DENIED_ENV), which SimpleAuthManager alone cannot.
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(SUPPORT_PATH), base.get("PYTHONPATH")])
            ),
            "AIRFLOW__CORE__AUTH_MANAGER": "denying_auth.DenyingAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": (
                f"{ADMIN}:admin,{APPROVER}:op,{OUTSIDER}:viewer"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.password_file),
            # Shared by every component: tokens one signs, another must accept.
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
            "AIRFLOW__API__SECRET_KEY": self._secret("api"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            # Two cores: a few task processes at a time is what the machine can run.
            "AIRFLOW__CORE__PARALLELISM": "8",
            # The scheduler's and the triggerer's log servers, each on a port of its own.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(self.sim_url),
            "AIRFLOW__DISTRIBUTOR_ROLLOUT__TIME_SCALE": f"{self.speed:g}",
            **self.extra_env,
        }

    def _secret(self, name: str) -> str:
        path = self.root / f".{name}-secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(64), encoding="utf-8")
        return path.read_text(encoding="utf-8")

    @property
    def database(self) -> PostgresCluster:
        """The metadata DB's PostgreSQL cluster (its files under ``root``)."""
        return PostgresCluster(self.root / "postgres", self.db_port)

    @property
    def password_file(self) -> Path:
        """The simple auth manager's passwords (written by us, so we know the password)."""
        return self.home / "simple_auth_manager_passwords.json"

    def log_file(self, name: str) -> Path:
        """The log file of component ``name`` (``awssim``, ``migrate`` or an Airflow one)."""
        return self.logs / f"{name}.log"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LiveStack:
        """Bring up awssim and Airflow; raise ``StackError`` (with log tails) if it fails."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        passwords = {ADMIN: self.password, APPROVER: self.password, OUTSIDER: self.password}
        self.password_file.write_text(json.dumps(passwords) + "\n", encoding="utf-8")
        env = self.env()
        sim = Component(
            "awssim",
            (
                PYTHON,
                "-m",
                "awssim",
                "serve",
                "--port",
                str(self.sim_port),
                "--scenario",
                str(self.scenario),
                "--speed",
                f"{self.speed:g}",
            ),
            self.log_file("awssim"),
        )
        self.components["awssim"] = sim
        sim.start(env, REPO)
        database = self.database
        database.init()
        server = Component("postgres", database.server_command(), self.log_file("postgres"))
        self.components["postgres"] = server
        server.start(env, REPO)
        database.wait_and_create_database()
        migrate = self.log_file("migrate")
        with migrate.open("wb") as out:
            done = subprocess.run(
                (PYTHON, "-m", "airflow", "db", "migrate"),
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=START_TIMEOUT,
            )
        if done.returncode != 0:
            raise StackError(f"airflow db migrate failed:\n{tail(migrate)}")
        for name in COMPONENTS:
            self.components[name] = Component(
                name, (PYTHON, "-m", "airflow", name), self.log_file(name)
            )
            self.components[name].start(env, REPO)
        self.wait_ready(("awssim", *COMPONENTS))
        return self

    def wait_ready(
        self, names: Iterable[str], since: datetime | None = None, timeout: float = START_TIMEOUT
    ) -> None:
        """Wait until awssim answers and the API server reports the components healthy,
        with a heartbeat after ``since`` when given (a killed component's job looks
        healthy until its last heartbeat ages out)."""
        names = tuple(names)
        deadline = time.monotonic() + timeout
        last = "nothing answered yet"
        while time.monotonic() < deadline:
            for name in names:
                component = self.components[name]
                if not component.running:
                    raise StackError(
                        f"{name} exited with {component.process and component.process.returncode}"
                        f" while starting; its log ({component.log}):\n{tail(component.log)}"
                    )
            try:
                last = self._readiness(names, since)
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            if last == "":
                return
            time.sleep(1)
        raise StackError(f"the stack was not ready after {timeout:.0f}s ({last})\n{self.tails()}")

    def _readiness(self, names: tuple[str, ...], since: datetime | None) -> str:
        """'' when ready, else what is missing."""
        if "awssim" in names:
            httpx.get(f"{self.sim_url}/_awssim/health", timeout=5).raise_for_status()
        response = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        response.raise_for_status()
        health = response.json()
        wanted = {"scheduler", "triggerer", "dag-processor"} & set(names)
        unhealthy = []
        for name in sorted(wanted):
            status = health.get(name.replace("-", "_")) or {}
            beat = status.get(f"latest_{name.replace('-', '_')}_heartbeat")
            fresh = since is None or (beat is not None and datetime.fromisoformat(beat) > since)
            if status.get("status") != "healthy" or not fresh:
                unhealthy.append(name)
        return f"not healthy yet: {unhealthy}" if unhealthy else ""

    def kill(self, *names: str) -> None:
        """SIGKILL the named components (with their children)."""
        for name in names:
            self.components[name].kill()

    def restart(self, *names: str) -> None:
        """Start the named components again and wait until the API reports them healthy."""
        env = self.env()
        since = datetime.now(UTC)
        for name in names:
            self.components[name].start(env, REPO)
        self.wait_ready(names, since)

    def stop(self) -> None:
        """Stop Airflow's components (all asked at once, killed after ``STOP_TIMEOUT``),
        then awssim and PostgreSQL (whose files go; its log stays)."""
        airflow = [self.components[name] for name in COMPONENTS if name in self.components]
        for component in airflow:
            if component.running:
                component.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for component in airflow:
            if component.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    component.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        for component in airflow:
            component.stop()  # kills what is left, and its children
        for name in ("awssim", "postgres"):  # the DB last: the components use it to stop
            if name in self.components:
                self.components[name].stop()
        self.database.remove()

    # -- diagnostics -------------------------------------------------------------------

    def tails(self, names: Iterable[str] | None = None, lines: int = 60) -> str:
        """The last lines of each component's log, headed by its path."""
        chosen = (
            list(names) if names is not None else ["awssim", "postgres", "migrate", *COMPONENTS]
        )
        return "\n".join(
            f"----- {self.log_file(name)} (last {lines} lines) -----\n"
            f"{tail(self.log_file(name), lines)}"
            for name in chosen
        )

    def task_log_files(self, dag_id: str, run_id: str) -> list[Path]:
        """The task log files of one run (Airflow's default log layout), oldest first."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        return sorted(folder.rglob("*.log"), key=lambda path: path.stat().st_mtime)

    def grep(self, name: str, pattern: str) -> list[str]:
        """Lines of a component's log matching the regular expression ``pattern``."""
        path = self.log_file(name)
        if not path.is_file():
            return []
        regex = re.compile(pattern, re.IGNORECASE)
        text = path.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if regex.search(line)]
