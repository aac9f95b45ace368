"""The retire DAG's names: its DAG id beside the rollout's, its task ids, the XCom keys its
tasks record under, and the ids of the StackSets operations it starts.

One place, as ``core.steps`` is for the rollout: the tasks of a retire run find each
other's results by these names, and a rollout's validate finds the retire DAG of its plan
by ``retire_dag_id``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from distributor_rollout.core.operation_ids import operation_id

# The retire's own steps outside the waves (RETIRE_RUN_STEPS) are named in core.steps
# beside the rollout's: a wave may take neither's names.
from distributor_rollout.core.steps import RETIRE_DAG_SUFFIX, RETIRE_RUN_STEPS
from distributor_rollout.core.targets import Target

UNINSTALL = "uninstall"
WAIT_UNINSTALL = "wait_uninstall"
WAIT_REMOVED = "wait_removed"
DELETE_INSTANCES = "delete_instances"
WAIT_DELETE = "wait_delete"
RETIRE_WAVE_STEPS = (UNINSTALL, WAIT_UNINSTALL, WAIT_REMOVED, DELETE_INSTANCES, WAIT_DELETE)
"""The task ids inside each wave's TaskGroup, in order."""

REMOVAL_XCOM_KEY = "removal"
"""``<wave>.wait_removed``: what the wait found (``core.retire_waves.RemovalCheck``),
recorded before the task fails on targets it could not confirm."""
RETIRE_REPORT_PREFIX = "retirements"
"""The artifacts bucket's folder of retire reports: ``retirements/<package>/<run_id>.json``
(rollout reports are under ``rollouts/``; a retire run may have a rollout run's id)."""


def retire_dag_id(rollout_dag_id: str) -> str:
    """The retire DAG id of the plan whose rollout DAG is ``rollout_dag_id``."""
    return f"{rollout_dag_id}{RETIRE_DAG_SUFFIX}"


def rollout_dag_id(retire_dag: str) -> str:
    """The rollout DAG id of the plan whose retire DAG is ``retire_dag``."""
    if not retire_dag.endswith(RETIRE_DAG_SUFFIX):
        raise ValueError(f"{retire_dag!r} is not a retire DAG id (no {RETIRE_DAG_SUFFIX!r})")
    return retire_dag[: -len(RETIRE_DAG_SUFFIX)]


def clashing_wave_names(wave_names: Iterable[str]) -> list[str]:
    """The wave names a retire DAG cannot use as TaskGroup ids: its own steps' names."""
    return [name for name in wave_names if name in RETIRE_RUN_STEPS]


def retire_operation_id(run_id: str, wave: str, action: str, part: str = "") -> str:
    """The id of a retire step's StackSets operation: per (run, wave, action[, part]), so a
    retried or resumed task adopts what it started. ``retire`` leads the parts: no rollout
    step's id (``<wave>-update``, ``rollback-…``) has the same parts."""
    return operation_id(run_id, "retire", wave, action, *([part] if part else []))


def scope_digest(targets: Iterable[Target]) -> str:
    """A short digest of a set of targets: the ``part`` of an operation whose targets are
    decided from what is left, so a call on other targets gets another id."""
    text = ",".join(str(target) for target in sorted(set(targets)))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
