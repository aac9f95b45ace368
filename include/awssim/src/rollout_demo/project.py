"""Which Distributor Rollout project the developer tools run: its DAGs, plans and packages.

The tools are installed (with the awssim distribution), not run from inside the project, so
they find it instead of assuming where their own files sit: ``$ROLLOUT_PROJECT_DIR`` when
set, else the working directory or the nearest folder above it that holds ``dags/`` and
``include/rollouts/`` (``make demo`` runs from the repository root).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ENV = "ROLLOUT_PROJECT_DIR"


class ProjectNotFound(RuntimeError):
    """No Distributor Rollout project where the tools looked."""


def is_project(path: Path) -> bool:
    """Whether ``path`` holds a project's DAGs folder and plans."""
    return (path / "dags").is_dir() and (path / "include" / "rollouts").is_dir()


def project_dir(start: Path | None = None) -> Path:
    """The project to run: ``$ROLLOUT_PROJECT_DIR``, else ``start`` (cwd) or its nearest parent."""
    named = os.environ.get(PROJECT_ENV)
    if named:
        path = Path(named).resolve()
        if not is_project(path):
            raise ProjectNotFound(f"{PROJECT_ENV}={named} has no dags/ and include/rollouts/")
        return path
    here = (start or Path.cwd()).resolve()
    for path in (here, *here.parents):
        if is_project(path):
            return path
    raise ProjectNotFound(
        f"no Distributor Rollout project (dags/ and include/rollouts/) at or above {here}; "
        f"run from the repository or set {PROJECT_ENV}"
    )
