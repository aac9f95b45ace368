"""A throwaway PostgreSQL server for the live stack's metadata DB, from Debian's packages.

Deployments run Airflow on PostgreSQL (the compose layout does); the live layer does too.
On SQLite, four components and the task runs share one writer lock: under load a request
of the API server waited the whole lock timeout for it and a healthy task failed on the
execution API's read timeout. A cluster here is ``initdb`` into a folder of the session,
then ``postgres`` in the foreground as a component of the stack, on a free loopback port
(TCP only: no socket in /var/run), trusting local connections. PostgreSQL refuses to run
as root, so as root (CI) its programs run as Debian's ``postgres`` user through
``runuser``, in a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

SERVER_USER = "postgres"
"""The system user that runs PostgreSQL when the tests run as root (Debian's package makes it)."""
DATABASE = "airflow"
ROLE = "airflow"
# What `make live-deps` installs when missing (Debian's package; the major version is whatever
# the distribution ships).
PACKAGE_HINT = "run 'sudo apt-get install postgresql' (or 'make live-deps' as root)"
# Settings for a test server: durability is irrelevant to a folder deleted afterwards; four
# components, their pools and the task runs stay well under the connection limit.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "200",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresError(RuntimeError):
    """PostgreSQL is missing or did not come up (the message says what to do)."""


def server_bin_dir() -> Path:
    """The folder of ``initdb`` and ``postgres``: on PATH, else the newest of Debian's
    /usr/lib/postgresql/<major>/bin (Debian keeps them off PATH)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    majors = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if re.fullmatch(r"\d+", path.parent.name) and (path / "initdb").is_file()
    ]
    if not majors:
        raise PostgresError(f"the live layer needs PostgreSQL's server programs: {PACKAGE_HINT}")
    return max(majors, key=lambda path: int(path.parent.name))


@dataclass
class PostgresCluster:
    """One cluster in ``folder`` (created by ``init``), served on ``port``."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        """The data directory (initdb's)."""
        return self.folder / "data"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the Airflow database."""
        return f"postgresql+psycopg2://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def _as_server_user(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["runuser", "-u", SERVER_USER, "--", *command]

    def init(self) -> None:
        """``initdb`` a fresh cluster (superuser ``airflow``, trust auth on loopback)."""
        bin_dir = server_bin_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(SERVER_USER)
            except KeyError as error:
                raise PostgresError(
                    f"no '{SERVER_USER}' user to run PostgreSQL as (running as root): "
                    f"{PACKAGE_HINT}"
                ) from error
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        done = subprocess.run(
            self._as_server_user(
                [
                    str(bin_dir / "initdb"),
                    "--pgdata",
                    str(self.data),
                    "--username",
                    ROLE,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise PostgresError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def server_command(self) -> tuple[str, ...]:
        """``postgres`` in the foreground (the live stack runs it as a component)."""
        settings = [
            arg for key, value in SERVER_SETTINGS.items() for arg in ("-c", f"{key}={value}")
        ]
        return tuple(
            self._as_server_user(
                [
                    str(server_bin_dir() / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    *settings,
                ]
            )
        )

    def wait_and_create_database(self, timeout: float = 60.0) -> None:
        """Wait until the server accepts connections, then create Airflow's database."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = psycopg2.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user=ROLE,
                    dbname="postgres",
                    connect_timeout=5,
                )
                break
            except psycopg2.OperationalError as error:
                if time.monotonic() > deadline:
                    raise PostgresError(
                        f"PostgreSQL did not accept connections on port {self.port} "
                        f"after {timeout:.0f}s: {error}"
                    ) from error
                time.sleep(0.3)
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            connection.close()

    def remove(self) -> None:
        """Delete the cluster's files (its log stays with the stack's logs)."""
        shutil.rmtree(self.data, ignore_errors=True)
